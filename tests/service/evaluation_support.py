"""Builders for tests of when applications are (re-)evaluated: role profiles, markers, row counts.

Evaluations leave rows behind (verification results, matches, "score" audit events, outbox
messages); counting them per tenant is how a test proves that an evaluation did or did not
happen, without reaching into the code that decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func
from sqlmodel import col, select

from service.catalog import STARTER
from service.db import unit_of_work
from service.models import (
    Application,
    AuditEvent,
    MatchResult,
    OutboxMessage,
    RawCredential,
    VerificationRecord,
)
from service.repositories import applications as app_repo
from service.repositories import profiles as profile_repo
from service.repositories.profiles import RequirementInput
from service.runtime import Runtime

SQL_SKILL = "sp:skill/sql"


@dataclass(frozen=True, kw_only=True)
class Rows:
    """What evaluations of one tenant have written so far."""

    verifications: int
    matches: int
    scores_audited: int
    outbox: int


async def rows(runtime: Runtime, tenant_id: str) -> Rows:
    async def count(model: type, *where: object) -> int:
        async with runtime.sessions() as session:
            query = select(func.count()).select_from(model).where(*where)
            return int((await session.exec(query)).one())

    return Rows(
        verifications=await count(VerificationRecord, VerificationRecord.tenant_id == tenant_id),
        matches=await count(MatchResult, MatchResult.tenant_id == tenant_id),
        scores_audited=await count(
            AuditEvent, AuditEvent.tenant_id == tenant_id, AuditEvent.action == "score"
        ),
        outbox=await count(OutboxMessage, OutboxMessage.tenant_id == tenant_id),
    )


async def add_profile(
    runtime: Runtime,
    *,
    tenant_id: str,
    connection_id: str,
    job_ref: str,
    title: str = "Data Analyst",
    concepts: tuple[str, ...] = (SQL_SKILL,),
) -> str:
    """A role profile (a new version, when there is one) on the ATS job `job_ref`; its job id.

    The job row is created as sync would create it, so a profile can exist before the first
    sync and the very first evaluation already scores.
    """
    loaded = runtime.catalog.get(STARTER)
    assert loaded is not None, "the starter taxonomy ships with the service"
    taxonomy = loaded.taxonomy
    async with unit_of_work(runtime.sessions) as session:
        job = await app_repo.upsert_job(
            session,
            tenant_id=tenant_id,
            connection_id=connection_id,
            external_ref=job_ref,
            title=title,
        )
        profile = await profile_repo.profile_for_job(session, tenant_id=tenant_id, job_id=job.id)
        if profile is None:
            profile = await profile_repo.create_profile(
                session, tenant_id=tenant_id, name=title, job_id=job.id
            )
        await profile_repo.add_version(
            session,
            profile=profile,
            taxonomy=taxonomy.name,
            taxonomy_version=taxonomy.version,
            created_by="test",
            requirements=[
                RequirementInput(
                    concept_id=c, label=taxonomy.concepts[c].preferred_label, importance="essential"
                )
                for c in concepts
            ],
        )
        return job.id


@dataclass(frozen=True, kw_only=True)
class Marker:
    """An application's record of its last finished evaluation."""

    application_id: str
    inputs: str | None
    at: datetime | None


async def markers(runtime: Runtime, tenant_id: str, connection_id: str) -> dict[str, Marker]:
    """ATS application id -> its marker, for one connection of one tenant."""
    async with runtime.sessions() as session:
        applications = (
            await session.exec(
                select(Application).where(
                    Application.tenant_id == tenant_id, Application.connection_id == connection_id
                )
            )
        ).all()
    return {
        a.external_ref or "": Marker(
            application_id=a.id, inputs=a.evaluated_inputs, at=a.evaluated_at
        )
        for a in applications
    }


async def verifications_of(runtime: Runtime, application_id: str) -> list[VerificationRecord]:
    """Every verification result recorded for the credentials of one application."""
    async with runtime.sessions() as session:
        return list(
            (
                await session.exec(
                    select(VerificationRecord)
                    .join(
                        RawCredential,
                        col(RawCredential.id) == col(VerificationRecord.raw_credential_id),
                    )
                    .where(RawCredential.application_id == application_id)
                )
            ).all()
        )


async def matches_of(runtime: Runtime, application_id: str) -> list[MatchResult]:
    """The application's match results, oldest first."""
    async with runtime.sessions() as session:
        return list(
            (
                await session.exec(
                    select(MatchResult)
                    .where(MatchResult.application_id == application_id)
                    .order_by(col(MatchResult.computed_at), col(MatchResult.id))
                )
            ).all()
        )

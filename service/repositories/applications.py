"""Candidates (with their identifiers), jobs and applications."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, exists, func, or_
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from service.models import (
    Application,
    Candidate,
    CandidateIdentifier,
    Connection,
    Job,
    RawCredential,
)


async def upsert_candidate(
    session: AsyncSession,
    *,
    tenant_id: str,
    connection_id: str | None,
    external_ref: str | None,
    display_name: str,
) -> Candidate:
    existing = None
    if external_ref is not None:
        existing = (
            await session.exec(
                select(Candidate).where(
                    Candidate.tenant_id == tenant_id,
                    Candidate.connection_id == connection_id,
                    Candidate.external_ref == external_ref,
                )
            )
        ).first()
    if existing is not None:
        existing.display_name = display_name
        session.add(existing)
        return existing
    candidate = Candidate(
        tenant_id=tenant_id,
        connection_id=connection_id,
        external_ref=external_ref,
        display_name=display_name,
    )
    session.add(candidate)
    await session.flush()
    return candidate


async def set_identifier(
    session: AsyncSession,
    *,
    tenant_id: str,
    candidate_id: str,
    kind: str,
    value: str,
    verified: bool,
    source: str,
) -> CandidateIdentifier:
    normalised = value.strip().lower() if kind == "email" else value.strip()
    row = (
        await session.exec(
            select(CandidateIdentifier).where(
                CandidateIdentifier.tenant_id == tenant_id,
                CandidateIdentifier.candidate_id == candidate_id,
                CandidateIdentifier.kind == kind,
                CandidateIdentifier.value == normalised,
            )
        )
    ).first()
    if row is None:
        row = CandidateIdentifier(
            tenant_id=tenant_id,
            candidate_id=candidate_id,
            kind=kind,
            value=normalised,
            verified=verified,
            source=source,
            verified_at=datetime.now(UTC) if verified else None,
        )
    elif verified and not row.verified:
        # Verification is only ever gained from the ATS, never silently lost.
        row.verified = True
        row.verified_at = datetime.now(UTC)
    session.add(row)
    await session.flush()
    return row


async def identifiers(
    session: AsyncSession, *, tenant_id: str, candidate_id: str, verified_only: bool = True
) -> list[CandidateIdentifier]:
    query = select(CandidateIdentifier).where(
        CandidateIdentifier.tenant_id == tenant_id,
        CandidateIdentifier.candidate_id == candidate_id,
    )
    if verified_only:
        query = query.where(col(CandidateIdentifier.verified).is_(True))
    return list((await session.exec(query.order_by(col(CandidateIdentifier.value)))).all())


async def upsert_job(
    session: AsyncSession,
    *,
    tenant_id: str,
    connection_id: str | None,
    external_ref: str | None,
    title: str,
    status: str = "open",
) -> Job:
    existing = None
    if external_ref is not None:
        existing = (
            await session.exec(
                select(Job).where(
                    Job.tenant_id == tenant_id,
                    Job.connection_id == connection_id,
                    Job.external_ref == external_ref,
                )
            )
        ).first()
    if existing is not None:
        existing.title, existing.status = title, status
        session.add(existing)
        return existing
    job = Job(
        tenant_id=tenant_id,
        connection_id=connection_id,
        external_ref=external_ref,
        title=title,
        status=status,
    )
    session.add(job)
    await session.flush()
    return job


async def upsert_application(
    session: AsyncSession,
    *,
    tenant_id: str,
    connection_id: str | None,
    external_ref: str | None,
    candidate_id: str,
    job_id: str,
    status: str,
    remote_updated_at: datetime | None,
) -> Application:
    existing = None
    if external_ref is not None:
        existing = (
            await session.exec(
                select(Application).where(
                    Application.tenant_id == tenant_id,
                    Application.connection_id == connection_id,
                    Application.external_ref == external_ref,
                )
            )
        ).first()
    if existing is not None:
        # The ATS is the record: an application can move to another requisition.
        existing.job_id = job_id
        existing.status = status
        existing.remote_updated_at = remote_updated_at
        session.add(existing)
        return existing
    application = Application(
        tenant_id=tenant_id,
        connection_id=connection_id,
        external_ref=external_ref,
        candidate_id=candidate_id,
        job_id=job_id,
        status=status,
        remote_updated_at=remote_updated_at,
    )
    session.add(application)
    await session.flush()
    return application


async def mark_evaluated(
    session: AsyncSession, *, tenant_id: str, application_id: str, inputs: str, at: datetime
) -> None:
    """Record a finished evaluation: the fingerprint of what it read, and when it ran.

    A targeted UPDATE, not the ORM row read before the evaluation: sync may have changed the
    application's other columns in the meantime, and those must not be written back.
    """
    await session.exec(
        update(Application)
        .where(col(Application.tenant_id) == tenant_id, col(Application.id) == application_id)
        .values(evaluated_inputs=inputs, evaluated_at=at)
    )


def _due_for_revalidation(
    query: Any, evaluated_before: datetime, closed_statuses: Collection[str]
) -> Any:
    """`query` narrowed to applications still in play whose evaluation is older than the cut-off.

    In play: not in a closed status, and not synced from a connection that is disabled. Due:
    never evaluated (stored, then the evaluation never finished), or evaluated before the
    cut-off and holding at least one credential (without one, nothing can expire or be revoked).
    """
    has_credentials = exists().where(
        col(RawCredential.tenant_id) == col(Application.tenant_id),
        col(RawCredential.application_id) == col(Application.id),
    )
    return query.join(
        Connection, col(Connection.id) == col(Application.connection_id), isouter=True
    ).where(
        func.lower(col(Application.status)).not_in(sorted(closed_statuses)),
        or_(col(Application.connection_id).is_(None), col(Connection.enabled).is_(True)),
        or_(
            col(Application.evaluated_at).is_(None),
            and_(col(Application.evaluated_at) < evaluated_before, has_credentials),
        ),
    )


async def tenants_due_for_revalidation(
    session: AsyncSession, *, evaluated_before: datetime, closed_statuses: Collection[str]
) -> list[str]:
    query = _due_for_revalidation(select(Application.tenant_id), evaluated_before, closed_statuses)
    return list((await session.exec(query.distinct().order_by(col(Application.tenant_id)))).all())


async def due_for_revalidation(
    session: AsyncSession,
    *,
    tenant_id: str,
    evaluated_before: datetime,
    closed_statuses: Collection[str],
    limit: int,
) -> list[str]:
    """Ids of one tenant's applications due for re-validation, the longest unchecked first."""
    query = _due_for_revalidation(select(Application.id), evaluated_before, closed_statuses)
    return list(
        (
            await session.exec(
                query.where(col(Application.tenant_id) == tenant_id)
                .order_by(col(Application.evaluated_at).asc().nulls_first(), col(Application.id))
                .limit(limit)
            )
        ).all()
    )


async def get_application(
    session: AsyncSession, *, tenant_id: str, application_id: str
) -> Application | None:
    """None when missing or owned by another tenant: callers answer 404 either way."""
    return (
        await session.exec(
            select(Application).where(
                Application.tenant_id == tenant_id, Application.id == application_id
            )
        )
    ).first()


async def list_applications(
    session: AsyncSession, *, tenant_id: str, limit: int = 100, offset: int = 0
) -> list[Application]:
    return list(
        (
            await session.exec(
                select(Application)
                .where(Application.tenant_id == tenant_id)
                .order_by(col(Application.created_at), col(Application.id))
                .limit(limit)
                .offset(offset)
            )
        ).all()
    )


async def get_candidate(
    session: AsyncSession, *, tenant_id: str, candidate_id: str
) -> Candidate | None:
    return (
        await session.exec(
            select(Candidate).where(Candidate.tenant_id == tenant_id, Candidate.id == candidate_id)
        )
    ).first()


async def get_job(session: AsyncSession, *, tenant_id: str, job_id: str) -> Job | None:
    return (
        await session.exec(select(Job).where(Job.tenant_id == tenant_id, Job.id == job_id))
    ).first()


async def list_jobs(session: AsyncSession, *, tenant_id: str) -> list[Job]:
    return list(
        (
            await session.exec(
                select(Job).where(Job.tenant_id == tenant_id).order_by(col(Job.title))
            )
        ).all()
    )

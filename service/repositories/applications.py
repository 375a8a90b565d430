"""Candidates (with their identifiers), jobs and applications."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from service.models import Application, Candidate, CandidateIdentifier, Job


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

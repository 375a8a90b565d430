"""Raw credentials (insert-only), their verification results and the skills they prove."""

from __future__ import annotations

import hashlib

from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from service.db import insert_or_existing
from service.models import RawCredential, SkillClaimRecord, VerificationRecord


async def store_raw(
    session: AsyncSession,
    *,
    tenant_id: str,
    candidate_id: str,
    application_id: str | None,
    source: str,
    source_ref: str | None,
    media_type: str,
    content: bytes,
) -> tuple[RawCredential, bool]:
    """Insert the bytes as received; the same bytes for the same application are stored once.

    Returns the row and whether it is new. Two requests with the same bytes can both find
    nothing stored; the unique key then refuses the second insert inside its own savepoint, so
    that request gets the first one's row (not new) and its transaction carries on.
    """
    digest = hashlib.sha256(content).hexdigest()
    existing = await _find_raw(
        session, tenant_id=tenant_id, application_id=application_id, sha256=digest
    )
    if existing is not None:
        return existing, False
    row = RawCredential(
        tenant_id=tenant_id,
        candidate_id=candidate_id,
        application_id=application_id,
        source=source,
        source_ref=source_ref,
        media_type=media_type,
        content=content,
        sha256=digest,
    )
    return await insert_or_existing(
        session,
        row,
        lambda: _find_raw(
            session, tenant_id=tenant_id, application_id=application_id, sha256=digest
        ),
    )


async def _find_raw(
    session: AsyncSession, *, tenant_id: str, application_id: str | None, sha256: str
) -> RawCredential | None:
    return (
        await session.exec(
            select(RawCredential).where(
                RawCredential.tenant_id == tenant_id,
                RawCredential.application_id == application_id,
                RawCredential.sha256 == sha256,
            )
        )
    ).first()


async def raw_for_application(
    session: AsyncSession, *, tenant_id: str, application_id: str
) -> list[RawCredential]:
    return list(
        (
            await session.exec(
                select(RawCredential)
                .where(
                    RawCredential.tenant_id == tenant_id,
                    RawCredential.application_id == application_id,
                )
                .order_by(col(RawCredential.received_at), col(RawCredential.id))
            )
        ).all()
    )


async def get_raw(session: AsyncSession, *, tenant_id: str, raw_id: str) -> RawCredential | None:
    return (
        await session.exec(
            select(RawCredential).where(
                RawCredential.tenant_id == tenant_id, RawCredential.id == raw_id
            )
        )
    ).first()


async def add_verification(session: AsyncSession, record: VerificationRecord) -> None:
    session.add(record)
    await session.flush()


async def latest_verifications(
    session: AsyncSession, *, tenant_id: str, raw_ids: list[str]
) -> dict[str, VerificationRecord]:
    if not raw_ids:
        return {}
    rows = (
        await session.exec(
            select(VerificationRecord)
            .where(
                VerificationRecord.tenant_id == tenant_id,
                col(VerificationRecord.raw_credential_id).in_(raw_ids),
            )
            .order_by(col(VerificationRecord.verified_at), col(VerificationRecord.id))
        )
    ).all()
    return {row.raw_credential_id: row for row in rows}


async def replace_claims(
    session: AsyncSession, *, tenant_id: str, verification_id: str, claims: list[SkillClaimRecord]
) -> None:
    await session.exec(
        delete(SkillClaimRecord).where(
            col(SkillClaimRecord.tenant_id) == tenant_id,
            col(SkillClaimRecord.verification_id) == verification_id,
        )
    )
    session.add_all(claims)
    await session.flush()


async def claims_for_verifications(
    session: AsyncSession, *, tenant_id: str, verification_ids: list[str]
) -> list[SkillClaimRecord]:
    if not verification_ids:
        return []
    return list(
        (
            await session.exec(
                select(SkillClaimRecord)
                .where(
                    SkillClaimRecord.tenant_id == tenant_id,
                    col(SkillClaimRecord.verification_id).in_(verification_ids),
                )
                .order_by(col(SkillClaimRecord.concept_id), col(SkillClaimRecord.id))
            )
        ).all()
    )

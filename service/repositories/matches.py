"""Match results: immutable, one row per computation."""

from __future__ import annotations

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from service.models import MatchResult


async def add_match(session: AsyncSession, match: MatchResult) -> MatchResult:
    session.add(match)
    await session.flush()
    return match


async def latest_for_application(
    session: AsyncSession, *, tenant_id: str, application_id: str
) -> MatchResult | None:
    return (
        await session.exec(
            select(MatchResult)
            .where(MatchResult.tenant_id == tenant_id, MatchResult.application_id == application_id)
            .order_by(col(MatchResult.computed_at).desc(), col(MatchResult.id).desc())
        )
    ).first()


async def get_match(session: AsyncSession, *, tenant_id: str, match_id: str) -> MatchResult | None:
    return (
        await session.exec(
            select(MatchResult).where(
                MatchResult.tenant_id == tenant_id, MatchResult.id == match_id
            )
        )
    ).first()

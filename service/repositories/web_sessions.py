"""Browser sessions: opened at sign-in, looked up with their key, revoked at sign-out, pruned."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import or_
from sqlmodel import col, delete, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from service.models import ApiKey, WebSession

# 256 random bits: the id is what the (signed) cookie carries, so it must not be guessable.
_ID_BYTES = 32


async def open_session(
    session: AsyncSession, *, tenant_id: str, api_key_id: str, now: datetime, lifetime: timedelta
) -> WebSession:
    row = WebSession(
        id=secrets.token_urlsafe(_ID_BYTES),
        tenant_id=tenant_id,
        api_key_id=api_key_id,
        created_at=now,
        expires_at=now + lifetime,
    )
    session.add(row)
    await session.flush()
    return row


async def session_with_key(
    session: AsyncSession, session_id: str
) -> tuple[WebSession, ApiKey] | None:
    """The session and the key it was opened with, in one query; None for an unknown id."""
    row = (
        await session.exec(
            select(WebSession, ApiKey)
            .join(ApiKey, col(ApiKey.id) == col(WebSession.api_key_id))
            .where(WebSession.id == session_id)
        )
    ).first()
    return None if row is None else (row[0], row[1])


async def revoke_session(session: AsyncSession, *, session_id: str, now: datetime) -> bool:
    """Revoke the session unless it already is; True when this call revoked it."""
    result = await session.exec(
        update(WebSession)
        .where(col(WebSession.id) == session_id, col(WebSession.revoked_at).is_(None))
        .values(revoked_at=now)
    )
    return bool(result.rowcount or 0)


async def prune_sessions(session: AsyncSession, *, before: datetime) -> int:
    """Delete sessions that expired or were revoked before `before`; returns how many."""
    result = await session.exec(
        delete(WebSession).where(
            or_(col(WebSession.expires_at) < before, col(WebSession.revoked_at) < before)
        )
    )
    return int(result.rowcount or 0)

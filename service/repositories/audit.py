"""The audit log: append-only, hash-chained per tenant."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from service.models import AuditEvent

GENESIS = "0" * 64


def _digest(
    prev_hash: str,
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    object_type: str,
    object_id: str | None,
    details: dict[str, Any],
) -> str:
    body = json.dumps(
        [prev_hash, seq, at.isoformat(), actor, action, object_type, object_id, details],
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(body.encode()).hexdigest()


async def append(
    session: AsyncSession,
    *,
    tenant_id: str,
    actor: str,
    action: str,
    object_type: str,
    object_id: str | None,
    details: dict[str, Any],
    at: datetime,
) -> AuditEvent:
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        # Two transactions appending for one tenant would both read seq N and write N + 1; a
        # transaction-scoped lock per tenant makes them take turns (SQLite's BEGIN IMMEDIATE
        # already serialises writers).
        await (await session.connection()).execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
            {"key": f"skillproof-audit:{tenant_id}"},
        )
    last = (
        await session.exec(
            select(AuditEvent)
            .where(AuditEvent.tenant_id == tenant_id)
            .order_by(col(AuditEvent.seq).desc())
            .limit(1)
        )
    ).first()
    seq = (last.seq + 1) if last else 1
    prev_hash = last.hash if last else GENESIS
    event = AuditEvent(
        tenant_id=tenant_id,
        seq=seq,
        at=at,
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=object_id,
        details=details,
        prev_hash=prev_hash,
        hash=_digest(prev_hash, seq, at, actor, action, object_type, object_id, details),
    )
    session.add(event)
    await session.flush()
    return event


async def verify_chain(session: AsyncSession, *, tenant_id: str) -> bool:
    """True when no event was altered, removed or reordered."""
    events = (
        await session.exec(
            select(AuditEvent)
            .where(AuditEvent.tenant_id == tenant_id)
            .order_by(col(AuditEvent.seq))
        )
    ).all()
    prev = GENESIS
    for expected_seq, event in enumerate(events, start=1):
        recomputed = _digest(
            prev,
            event.seq,
            event.at,
            event.actor,
            event.action,
            event.object_type,
            event.object_id,
            event.details,
        )
        if event.seq != expected_seq or event.prev_hash != prev or event.hash != recomputed:
            return False
        prev = event.hash
    return True


async def recent(session: AsyncSession, *, tenant_id: str, limit: int = 50) -> list[AuditEvent]:
    return list(
        (
            await session.exec(
                select(AuditEvent)
                .where(AuditEvent.tenant_id == tenant_id)
                .order_by(col(AuditEvent.seq).desc())
                .limit(limit)
            )
        ).all()
    )

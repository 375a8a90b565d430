"""The outbox table: enqueue in the caller's transaction, claim due rows under a lease."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import case, or_
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from service.db import insert_or_existing
from service.models import DeliveryAttempt, OutboxMessage

CLAIMABLE = ("pending", "retry")
SUPERSEDED = "superseded"  # never pushed: a newer update for the same target was queued


async def enqueue(session: AsyncSession, message: OutboxMessage) -> tuple[OutboxMessage, bool]:
    """Queue `message` unless it would repeat the latest one for its target; (row, is_new).

    What counts is the latest message for the same connection, kind and target: the same
    payload again is nothing new, but a payload that returns after another (a score that
    dropped while a status list was unreachable, then came back) is pushed again. Its key
    names the message it follows, so it differs from the first time's. Older messages for the
    target that are still waiting are superseded: they must not land after the newer one.
    Two evaluations racing to queue the same update store one row.
    """
    latest = await _latest_for_target(session, message)
    if latest is not None and latest.payload_hash == message.payload_hash:
        return latest, False
    if latest is not None:
        message.idempotency_key = f"{message.idempotency_key}:{latest.id}"[:200]
    stored, new = await insert_or_existing(
        session, message, lambda: _by_key(session, message.idempotency_key)
    )
    if not new:
        return stored, False
    await session.exec(
        update(OutboxMessage)
        .where(
            col(OutboxMessage.connection_id) == message.connection_id,
            col(OutboxMessage.kind) == message.kind,
            col(OutboxMessage.target_ref) == message.target_ref,
            col(OutboxMessage.id) != message.id,
            col(OutboxMessage.status).in_(CLAIMABLE),
        )
        .values(
            status=SUPERSEDED,
            last_error="a newer update for this application replaced it",
            updated_at=message.created_at,
        )
    )
    return message, True


async def _latest_for_target(session: AsyncSession, message: OutboxMessage) -> OutboxMessage | None:
    return (
        await session.exec(
            select(OutboxMessage)
            .where(
                OutboxMessage.connection_id == message.connection_id,
                OutboxMessage.kind == message.kind,
                OutboxMessage.target_ref == message.target_ref,
            )
            .order_by(col(OutboxMessage.created_at).desc(), col(OutboxMessage.id).desc())
            .limit(1)
        )
    ).first()


async def _by_key(session: AsyncSession, key: str) -> OutboxMessage | None:
    return (
        await session.exec(select(OutboxMessage).where(OutboxMessage.idempotency_key == key))
    ).first()


async def claim_due(
    session: AsyncSession, *, owner: str, now: datetime, lease: timedelta, limit: int
) -> list[OutboxMessage]:
    """Lease up to `limit` due messages to `owner`.

    On PostgreSQL rows locked by another drainer are skipped (FOR UPDATE SKIP LOCKED); on SQLite
    the unit of work holds the write lock (BEGIN IMMEDIATE), so claims are serialised. A message
    whose lease expired (its drainer died mid-push) is due again.
    """
    query = (
        select(OutboxMessage)
        .where(
            or_(
                col(OutboxMessage.status).in_(CLAIMABLE)
                & (col(OutboxMessage.next_attempt_at) <= now),
                (col(OutboxMessage.status) == "inflight") & (col(OutboxMessage.lease_until) < now),
            )
        )
        .order_by(col(OutboxMessage.next_attempt_at), col(OutboxMessage.id))
        .limit(limit)
    )
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = list((await session.exec(query)).all())
    for row in rows:
        row.status = "inflight"
        row.lease_owner = owner
        row.lease_until = now + lease
        row.attempts += 1
        row.updated_at = now
        session.add(row)
    await session.flush()
    return rows


async def get_for_owner(
    session: AsyncSession, *, message_id: str, owner: str
) -> OutboxMessage | None:
    """The message, only while `owner` still holds its lease (a lost lease means hands off)."""
    return (
        await session.exec(
            select(OutboxMessage).where(
                OutboxMessage.id == message_id,
                OutboxMessage.lease_owner == owner,
                OutboxMessage.status == "inflight",
            )
        )
    ).first()


async def renew_lease(
    session: AsyncSession, *, message_id: str, owner: str, now: datetime, lease: timedelta
) -> bool:
    """Extend `owner`'s unexpired lease on a message; False when it was lost (hands off)."""
    message = await get_for_owner(session, message_id=message_id, owner=owner)
    if message is None or message.lease_until is None or message.lease_until < now:
        return False
    message.lease_until = now + lease
    session.add(message)
    await session.flush()
    return True


async def release(
    session: AsyncSession, *, message_ids: list[str], owner: str, now: datetime
) -> int:
    """Hand back messages `owner` claimed but never pushed: claimable at once, attempt uncounted.

    Only rows `owner` still leases; one another drainer took over is its business. Returns how
    many were released.
    """
    result = await session.exec(
        update(OutboxMessage)
        .where(
            col(OutboxMessage.id).in_(message_ids),
            col(OutboxMessage.lease_owner) == owner,
            col(OutboxMessage.status) == "inflight",
        )
        .values(
            status=case((col(OutboxMessage.attempts) > 1, "retry"), else_="pending"),
            attempts=col(OutboxMessage.attempts) - 1,
            lease_owner=None,
            lease_until=None,
            updated_at=now,
        )
    )
    return result.rowcount


async def add_attempt(session: AsyncSession, attempt: DeliveryAttempt) -> None:
    session.add(attempt)
    await session.flush()


async def pending_for_application(
    session: AsyncSession, *, tenant_id: str, target_ref: str
) -> list[OutboxMessage]:
    return list(
        (
            await session.exec(
                select(OutboxMessage)
                .where(OutboxMessage.tenant_id == tenant_id, OutboxMessage.target_ref == target_ref)
                .order_by(col(OutboxMessage.created_at))
            )
        ).all()
    )


async def counts_by_status(
    session: AsyncSession, *, tenant_id: str | None = None
) -> dict[str, int]:
    query = select(OutboxMessage.status)
    if tenant_id is not None:
        query = query.where(OutboxMessage.tenant_id == tenant_id)
    counts: dict[str, int] = {}
    for status in (await session.exec(query)).all():
        counts[status] = counts.get(status, 0) + 1
    return counts


async def list_messages(
    session: AsyncSession, *, tenant_id: str, limit: int = 100
) -> list[OutboxMessage]:
    return list(
        (
            await session.exec(
                select(OutboxMessage)
                .where(OutboxMessage.tenant_id == tenant_id)
                .order_by(col(OutboxMessage.created_at).desc())
                .limit(limit)
            )
        ).all()
    )


async def attempts_for(
    session: AsyncSession, *, tenant_id: str, outbox_id: str
) -> list[DeliveryAttempt]:
    return list(
        (
            await session.exec(
                select(DeliveryAttempt)
                .where(
                    DeliveryAttempt.tenant_id == tenant_id, DeliveryAttempt.outbox_id == outbox_id
                )
                .order_by(col(DeliveryAttempt.attempt))
            )
        ).all()
    )

"""Sync cursors and sync runs; the scheduler's leader lease."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from service.models import SchedulerLease, SyncCursor, SyncRun


async def get_cursor(
    session: AsyncSession, *, tenant_id: str, connection_id: str, resource: str
) -> str | None:
    row = (
        await session.exec(
            select(SyncCursor).where(
                SyncCursor.tenant_id == tenant_id,
                SyncCursor.connection_id == connection_id,
                SyncCursor.resource == resource,
            )
        )
    ).first()
    return row.cursor if row else None


async def set_cursor(
    session: AsyncSession,
    *,
    tenant_id: str,
    connection_id: str,
    resource: str,
    cursor: str,
    now: datetime,
) -> None:
    row = (
        await session.exec(
            select(SyncCursor).where(
                SyncCursor.tenant_id == tenant_id,
                SyncCursor.connection_id == connection_id,
                SyncCursor.resource == resource,
            )
        )
    ).first()
    if row is None:
        row = SyncCursor(tenant_id=tenant_id, connection_id=connection_id, resource=resource)
    row.cursor = cursor
    row.updated_at = now
    session.add(row)
    await session.flush()


async def add_run(session: AsyncSession, run: SyncRun) -> SyncRun:
    session.add(run)
    await session.flush()
    return run


async def close_abandoned_runs(
    session: AsyncSession,
    *,
    tenant_id: str,
    connection_id: str,
    started_before: datetime,
    now: datetime,
) -> int:
    """Mark the connection's runs still `running` since before `started_before` as failed."""
    result = await session.exec(
        update(SyncRun)
        .where(
            col(SyncRun.tenant_id) == tenant_id,
            col(SyncRun.connection_id) == connection_id,
            col(SyncRun.status) == "running",
            col(SyncRun.started_at) < started_before,
        )
        .values(
            status="failed",
            finished_at=now,
            error="interrupted: the process running it ended before it finished",
        )
    )
    return int(result.rowcount or 0)


async def last_run_started(session: AsyncSession, *, connection_id: str) -> datetime | None:
    """When the connection's latest sync run began (None: it never ran)."""
    return (
        await session.exec(
            select(SyncRun.started_at)
            .where(SyncRun.connection_id == connection_id)
            .order_by(col(SyncRun.started_at).desc())
            .limit(1)
        )
    ).first()


async def get_run(session: AsyncSession, run_id: str) -> SyncRun | None:
    return await session.get(SyncRun, run_id)


async def recent_runs(session: AsyncSession, *, tenant_id: str, limit: int = 20) -> list[SyncRun]:
    return list(
        (
            await session.exec(
                select(SyncRun)
                .where(SyncRun.tenant_id == tenant_id)
                .order_by(col(SyncRun.started_at).desc())
                .limit(limit)
            )
        ).all()
    )


async def try_take_lease(
    session: AsyncSession, *, name: str, holder: str, now: datetime, until: datetime
) -> bool:
    """Take or renew the named lease when it is free, expired or already ours."""
    row = await session.get(SchedulerLease, name)
    if row is None:
        session.add(SchedulerLease(name=name, holder=holder, lease_until=until))
        await session.flush()
        return True
    if row.holder == holder or row.lease_until < now:
        row.holder = holder
        row.lease_until = until
        session.add(row)
        await session.flush()
        return True
    return False


async def release_lease(session: AsyncSession, *, name: str, holder: str) -> None:
    row = await session.get(SchedulerLease, name)
    if row is not None and row.holder == holder:
        await session.delete(row)
        await session.flush()

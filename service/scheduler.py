"""The scheduler role: APScheduler 3.x jobs that pull, re-validate and drain the outbox.

APScheduler 3.x cannot share a job store between processes, so exactly one scheduler leads at
a time: on PostgreSQL the holder of a session advisory lock (on a dedicated connection that
never returns to the pool), on SQLite the holder of a lease row it keeps renewing. Every job
re-checks leadership before doing anything, so a brief overlap during a rolling deploy is
harmless, and the outbox itself is safe to drain from any number of processes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from service import outbox, revalidation
from service.db import is_sqlite, unit_of_work
from service.repositories import runs as runs_repo
from service.repositories import tenancy
from service.runtime import Runtime
from service.sync import sync_connection

log = logging.getLogger(__name__)

LEASE_NAME = "scheduler"
# Arbitrary but fixed: the advisory lock key every Skillproof scheduler competes for.
ADVISORY_KEY = 0x5B1_1F00F
AUTH_RETRY_AFTER = timedelta(hours=1)


def holder_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Leadership:
    """Who leads. `check()` is cheap and is called at the start of every job."""

    def __init__(self, runtime: Runtime, *, holder: str, lease: timedelta) -> None:
        self._runtime = runtime
        self.holder = holder
        self._lease = lease
        self._pg_connection: AsyncConnection | None = None
        self._pg_leader = False
        # Both jobs fire together at start-up. Unserialised, each would open a lock connection,
        # one replacing the other mid-check: the lock is refused on the second, and the orphan
        # holds it until the garbage collector closes it, with nobody leading meanwhile.
        self._pg_guard = asyncio.Lock()

    async def check(self) -> bool:
        if is_sqlite(self._runtime.engine):
            now = datetime.now(UTC)
            async with unit_of_work(self._runtime.sessions) as session:
                return await runs_repo.try_take_lease(
                    session, name=LEASE_NAME, holder=self.holder, now=now, until=now + self._lease
                )
        async with self._pg_guard:
            return await self._check_postgres()

    async def _check_postgres(self) -> bool:
        if self._pg_leader and self._pg_connection is not None:
            try:
                await self._pg_connection.execute(text("SELECT 1"))
                return True
            except Exception:  # the connection died, and the lock with it
                log.warning("leader connection lost; competing for leadership again")
                await self._drop_pg_connection()
        try:
            return await self._try_lock()
        except Exception:
            if self._pg_connection is None:
                raise  # no connection could be opened: the database is down, say so
            # A follower's idle connection dies too (a database restart, a network cut); left
            # in place it would fail every check from now on and never take over.
            log.warning("scheduler lock connection lost; competing again on a new one")
            await self._drop_pg_connection()
            return await self._try_lock()

    async def _try_lock(self) -> bool:
        if self._pg_connection is None:
            connection = await self._runtime.engine.connect()
            # Autocommit: the session-level lock outlives transactions, and a leader that
            # re-checks every job must not idle inside one (it would hold back vacuum).
            self._pg_connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
        got = (
            await self._pg_connection.execute(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_KEY}
            )
        ).scalar()
        self._pg_leader = bool(got)
        return self._pg_leader

    async def release(self) -> None:
        if is_sqlite(self._runtime.engine):
            async with unit_of_work(self._runtime.sessions) as session:
                await runs_repo.release_lease(session, name=LEASE_NAME, holder=self.holder)
            return
        async with self._pg_guard:
            await self._release_postgres()

    async def _release_postgres(self) -> None:
        if self._pg_connection is not None:
            try:
                if self._pg_leader:
                    await self._pg_connection.execute(
                        text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_KEY}
                    )
            except Exception:  # a dead connection already took the lock with it
                log.warning("leader connection lost before releasing leadership")
            finally:
                await self._drop_pg_connection()

    async def _drop_pg_connection(self) -> None:
        connection, self._pg_connection, self._pg_leader = self._pg_connection, None, False
        if connection is not None:
            try:
                await connection.close()
            except Exception:  # the server already ended the session
                log.debug("closing the lost leader connection failed", exc_info=True)


async def sync_all(runtime: Runtime, leadership: Leadership) -> int:
    """Pull every enabled ATS connection once. Returns how many were synced."""
    if not await leadership.check():
        return 0
    now = datetime.now(UTC)
    connections: list[tuple[str, str]] = []
    async with runtime.sessions() as session:
        for c in await tenancy.list_connections(session, kind="ats"):
            if not c.enabled:
                continue
            if c.status == "auth_failed":
                # Rejected credentials are not retried every few minutes (an ATS may lock the
                # key), but a key fixed on the ATS side is picked up again within the hour.
                last = await runs_repo.last_run_started(session, connection_id=c.id)
                if last is not None and now - last < AUTH_RETRY_AFTER:
                    continue
            connections.append((c.tenant_id, c.id))
    for tenant_id, connection_id in connections:
        try:
            await sync_connection(runtime, tenant_id=tenant_id, connection_id=connection_id)
        except Exception:
            # One tenant's failure must not starve the others; the run row keeps the reason.
            log.exception("sync of connection %s failed", connection_id)
    return len(connections)


async def drain_outbox(runtime: Runtime, leadership: Leadership) -> int:
    if not await leadership.check():
        return 0
    total = 0
    while True:
        report = await outbox.drain(runtime, owner=leadership.holder)
        total += report.claimed
        if report.claimed == 0:
            return total


async def revalidate_due(runtime: Runtime, leadership: Leadership) -> int:
    """Re-evaluate applications whose last evaluation is old; returns how many were evaluated."""
    if not await leadership.check():
        return 0
    return (await revalidation.revalidate(runtime)).evaluated


def build_scheduler(runtime: Runtime, leadership: Leadership) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(timezone="UTC")
    common = {
        "max_instances": 1,
        "coalesce": True,
        "misfire_grace_time": 60,
        "replace_existing": True,
    }
    scheduler.add_job(
        sync_all,
        "interval",
        seconds=runtime.settings.sync_interval_seconds,
        args=(runtime, leadership),
        id="sync_all",
        next_run_time=datetime.now(UTC),
        **common,
    )
    scheduler.add_job(
        drain_outbox,
        "interval",
        seconds=runtime.settings.outbox_interval_seconds,
        args=(runtime, leadership),
        id="drain_outbox",
        next_run_time=datetime.now(UTC),
        **common,
    )
    # First run one interval after start-up, not together with the first sync.
    scheduler.add_job(
        revalidate_due,
        "interval",
        seconds=runtime.settings.sync_interval_seconds,
        args=(runtime, leadership),
        id="revalidate",
        **common,
    )
    return scheduler


async def run_forever(runtime: Runtime, *, stop: asyncio.Event) -> None:
    """The `skillproof scheduler` role, also started inside `serve --with-scheduler`."""
    lease = timedelta(seconds=3 * max(runtime.settings.outbox_interval_seconds, 10))
    leadership = Leadership(runtime, holder=holder_id(), lease=lease)
    scheduler = build_scheduler(runtime, leadership)
    scheduler.start()
    log.info("scheduler started as %s", leadership.holder)
    try:
        await stop.wait()
    finally:
        scheduler.shutdown(wait=False)
        await leadership.release()
        log.info("scheduler stopped")

"""Outbox drains that stop early on a real database failure: unpushed claims go straight back.

The failure is real, not mocked: on SQLite a second connection holds the write lock (BEGIN
IMMEDIATE) so the drainer's next transaction gets "database is locked"; on PostgreSQL the
drainer's connection is terminated (pg_terminate_backend). A seam on the drainer's session
factory only decides *when*: at the n-th transaction the drainer opens.
"""

from __future__ import annotations

import dataclasses
import logging
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from types import TracebackType
from typing import Any

import pytest
from sqlalchemy import make_url, text
from sqlalchemy.exc import DBAPIError
from sqlmodel.ext.asyncio.session import AsyncSession

import service.db
from service.db import SessionFactory
from service.outbox import drain
from service.runtime import Runtime
from tests.conftest import Database
from tests.fakes.ats import SandboxHarness, ServerFactory
from tests.service.outbox_support import (
    T0,
    Account,
    FakeClock,
    all_messages,
    assert_shows,
    attempts_of,
    enqueue_for,
    load_message,
    open_test_runtime,
    seed_account,
)

# The drainer's transactions, in order, for a batch: 1 claim, then per message: renew the
# lease, read the connection, push (no transaction), settle. After a failure: the hand-back.
RENEW_FIRST = 2
SETTLE_FIRST = 4

Action = Callable[[AsyncSession], Awaitable[None]]


class _Entering:
    """`async with` on a session, running `action` once it is open."""

    def __init__(self, session: AsyncSession, action: Action) -> None:
        self._session = session
        self._action = action

    async def __aenter__(self) -> AsyncSession:
        session = await self._session.__aenter__()
        await self._action(session)
        return session

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._session.__aexit__(kind, exc, tb)


class AtTransaction:
    """A session factory that runs `actions[n]` when the n-th session is opened."""

    def __init__(self, sessions: SessionFactory, actions: dict[int, Action]) -> None:
        self._sessions = sessions
        self._actions = actions
        self.opened = 0

    def __call__(self) -> Any:
        self.opened += 1
        session = self._sessions()
        action = self._actions.get(self.opened)
        return session if action is None else _Entering(session, action)


class SqliteWriteLock:
    """Another process's write transaction on the same SQLite file."""

    def __init__(self, url: str) -> None:
        self._path = str(make_url(url).database)
        self._holder: sqlite3.Connection | None = None

    async def take(self, _: AsyncSession) -> None:
        self._holder = sqlite3.connect(self._path, isolation_level=None)
        self._holder.execute("BEGIN IMMEDIATE")

    async def drop(self, _: AsyncSession | None = None) -> None:
        if self._holder is not None:
            self._holder.execute("ROLLBACK")
            self._holder.close()
            self._holder = None


async def _lose_connection(session: AsyncSession) -> None:
    """The drainer's PostgreSQL backend is terminated, as by a failover or an admin."""
    await session.exec(text("SELECT pg_terminate_backend(pg_backend_pid())"))


async def _nothing(_: AsyncSession) -> None:
    return None


@pytest.fixture
async def sandbox(aiohttp_server: ServerFactory) -> SandboxHarness:
    harness = SandboxHarness()
    await harness.start(aiohttp_server)
    return harness


@pytest.fixture
async def runtime(db: Database, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Runtime]:
    # A short busy timeout (read when a connection opens), so a held lock fails fast.
    monkeypatch.setattr(service.db, "SQLITE_BUSY_TIMEOUT_MS", 100)
    async with open_test_runtime(db.url) as opened:
        yield opened


@pytest.fixture
async def account(runtime: Runtime, sandbox: SandboxHarness) -> Account:
    return await seed_account(runtime, base_url=sandbox.base_url, api_key=sandbox.api_key)


@pytest.mark.parametrize("fails_at", [RENEW_FIRST, SETTLE_FIRST], ids=["renew", "settle"])
async def test_a_drain_stopped_by_the_database_hands_back_what_it_did_not_push(
    db: Database, runtime: Runtime, sandbox: SandboxHarness, account: Account, fails_at: int
) -> None:
    applications = sandbox.seed_applications(3)
    queued = await enqueue_for(runtime, account, sandbox.state, applications)
    lease = timedelta(minutes=2)
    clock = FakeClock()
    if db.backend == "sqlite":
        lock = SqliteWriteLock(db.url)
        # The database recovers by the time the drainer hands its claims back.
        actions = {fails_at: lock.take, fails_at + 1: lock.drop}
    else:
        actions = {fails_at: _lose_connection, fails_at + 1: _nothing}
    failing = dataclasses.replace(runtime, sessions=AtTransaction(runtime.sessions, actions))

    with pytest.raises(DBAPIError):
        await drain(failing, owner="a", clock=clock, lease=lease)

    pushed = [a for a in applications if sandbox.notes(a)]
    held = {queued[a] for a in pushed}
    assert len(pushed) == (0 if fails_at == RENEW_FIRST else 1)
    for message in await all_messages(runtime):
        if message.id in held:
            # Pushed but not recorded: only the lease may bring it back (the ATS has it).
            assert (message.status, message.lease_owner) == ("inflight", "a")
            continue
        assert (message.status, message.lease_owner, message.lease_until) == (
            "pending",
            None,
            None,
        ), f"{message.id} was claimed, never pushed, and not handed back"
        assert message.attempts == 0, "an attempt that never reached the ATS was counted"

    report = await drain(runtime, owner="b", clock=clock, lease=lease)
    assert (report.claimed, report.done) == (3 - len(held), 3 - len(held)), (
        "the unpushed messages are claimable at once, not after the lease"
    )
    clock.set(T0 + lease + timedelta(seconds=1))
    report = await drain(runtime, owner="b", clock=clock, lease=lease)
    assert report.outcomes == ["unchanged"] * len(held), report.outcomes
    for application_id, message_id in queued.items():
        message = await load_message(runtime, message_id)
        assert message.status == "done", f"{application_id}: {message.last_error}"
        assert_shows(sandbox.state, message.payload)  # exactly one note each
        assert message.attempts == (2 if message_id in held else 1)
        assert len(await attempts_of(runtime, message_id)) == 1


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
async def test_a_hand_back_the_database_refuses_leaves_the_leases_to_expire(
    db: Database,
    runtime: Runtime,
    sandbox: SandboxHarness,
    account: Account,
    caplog: pytest.LogCaptureFixture,
) -> None:
    applications = sandbox.seed_applications(2)
    queued = await enqueue_for(runtime, account, sandbox.state, applications)
    lease = timedelta(minutes=2)
    clock = FakeClock()
    lock = SqliteWriteLock(db.url)
    failing = dataclasses.replace(
        runtime, sessions=AtTransaction(runtime.sessions, {RENEW_FIRST: lock.take})
    )

    with caplog.at_level(logging.WARNING, logger="service.outbox"), pytest.raises(DBAPIError):
        await drain(failing, owner="a", clock=clock, lease=lease)
    await lock.drop()

    warnings = [r for r in caplog.records if r.name == "service.outbox"]
    assert len(warnings) == 1, "one line about the failed hand-back"
    assert warnings[0].exc_info is None, "no second traceback: the caller reports the cause"
    assert "could not be handed back" in warnings[0].getMessage()
    assert all(m.status == "inflight" for m in await all_messages(runtime))
    assert (await drain(runtime, owner="b", clock=clock, lease=lease)).claimed == 0

    clock.set(T0 + lease + timedelta(seconds=1))
    report = await drain(runtime, owner="b", clock=clock, lease=lease)
    assert (report.claimed, report.done) == (2, 2), "as after a crash, the lease frees them"
    for message_id in queued.values():
        assert_shows(sandbox.state, (await load_message(runtime, message_id)).payload)

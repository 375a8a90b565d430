"""Exactly one scheduler leads at a time, and a follower's jobs do nothing.

SQLite elects through a renewed lease row, PostgreSQL through a session advisory lock held on
a dedicated connection; both are exercised with two independent runtimes on one database.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import QueuePool, text
from sqlmodel import select

from service.db import unit_of_work
from service.models import SchedulerLease, SyncRun
from service.repositories import applications as app_repo
from service.repositories import runs, tenancy
from service.runtime import Runtime
from service.scheduler import (
    ADVISORY_KEY,
    LEASE_NAME,
    Leadership,
    build_scheduler,
    drain_outbox,
    revalidate_due,
    sync_all,
)
from tests.conftest import Database
from tests.fakes.ats import SandboxHarness, ServerFactory
from tests.service.outbox_support import (
    T0,
    enqueue_match,
    load_message,
    match_payload,
    open_test_runtime,
    seed_account,
)
from tests.service.support import seed_tenant

LONG = timedelta(minutes=5)
SQLITE_ONLY = pytest.mark.parametrize("db", ["sqlite"], indirect=True)
POSTGRES_ONLY = pytest.mark.parametrize("db", ["postgres"], indirect=True)


@pytest.fixture
async def runtime(db: Database) -> AsyncIterator[Runtime]:
    async with open_test_runtime(db.url) as opened:
        yield opened


@pytest.fixture
async def other_runtime(db: Database) -> AsyncIterator[Runtime]:
    """A second replica: its own engine and connection pool on the same database."""
    async with open_test_runtime(db.url) as opened:
        yield opened


@pytest.fixture
async def sandbox(aiohttp_server: ServerFactory) -> SandboxHarness:
    harness = SandboxHarness()
    await harness.start(aiohttp_server)
    return harness


class Contenders:
    """Two schedulers on two runtimes; released whatever the test's outcome."""

    def __init__(self, first: Leadership, second: Leadership) -> None:
        self.first = first
        self.second = second

    async def release(self) -> None:
        for leadership in (self.first, self.second):
            try:
                await leadership.release()
            except Exception:  # noqa: S112 - a test may have killed its connection on purpose
                continue


@pytest.fixture
async def contenders(runtime: Runtime, other_runtime: Runtime) -> AsyncIterator[Contenders]:
    pair = Contenders(
        Leadership(runtime, holder="replica-1", lease=LONG),
        Leadership(other_runtime, holder="replica-2", lease=LONG),
    )
    yield pair
    await pair.release()


async def _advisory_holder_pid(runtime: Runtime) -> int | None:
    async with runtime.engine.connect() as connection:
        return (
            await connection.execute(
                text(
                    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
                    " AND objid = :low AND classid = :high"
                ),
                {"low": ADVISORY_KEY & 0xFFFFFFFF, "high": ADVISORY_KEY >> 32},
            )
        ).scalar()


def _checked_out(runtime: Runtime) -> int:
    """Connections of this runtime's pool in use right now."""
    pool = runtime.engine.pool
    assert isinstance(pool, QueuePool)
    return pool.checkedout()


# The lease row (SQLite's election, and the repository under it) -----------------------------


async def test_the_lease_row_goes_to_one_holder_until_it_expires(runtime: Runtime) -> None:
    async def take(holder: str, at: float, length: float = 30) -> bool:
        now = T0 + timedelta(seconds=at)
        async with unit_of_work(runtime.sessions) as session:
            return await runs.try_take_lease(
                session,
                name=LEASE_NAME,
                holder=holder,
                now=now,
                until=now + timedelta(seconds=length),
            )

    assert await take("a", 0), "a free lease is taken"
    assert not await take("b", 10), "a fresh lease is not"
    assert await take("a", 20), "the holder renews its own lease"
    assert not await take("b", 40), "renewal moved the expiry to t=50"
    assert not await take("b", 50), "a lease is valid up to and including its expiry"
    assert await take("b", 51), "an expired lease passes to whoever asks"
    assert not await take("a", 52), "the old holder lost it"
    async with unit_of_work(runtime.sessions) as session:
        await runs.release_lease(session, name=LEASE_NAME, holder="a")
    assert not await take("a", 53), "only the holder can release a lease"
    async with unit_of_work(runtime.sessions) as session:
        await runs.release_lease(session, name=LEASE_NAME, holder="b")
    assert await take("a", 54), "a released lease is free at once"


@SQLITE_ONLY
async def test_sqlite_leadership_passes_on_when_the_lease_lapses(
    db: Database, runtime: Runtime, other_runtime: Runtime
) -> None:
    first = Leadership(runtime, holder="replica-1", lease=LONG)
    second = Leadership(other_runtime, holder="replica-2", lease=LONG)

    before = datetime.now(UTC)
    assert await first.check(), "the first to ask leads"
    assert not await second.check(), "while its lease is fresh, nobody else does"
    assert await first.check(), "the leader keeps leading"
    async with runtime.sessions() as session:
        row = await session.get(SchedulerLease, LEASE_NAME)
    assert row is not None
    assert row.holder == "replica-1"
    assert before + LONG <= row.lease_until <= datetime.now(UTC) + LONG, "renewed on each check"

    # The leader stops renewing (it died, say) and its lease runs out.
    async with unit_of_work(runtime.sessions) as session:
        row = await session.get(SchedulerLease, LEASE_NAME)
        assert row is not None
        row.lease_until = datetime.now(UTC) - timedelta(seconds=1)
        session.add(row)
    assert await second.check(), "an expired lease passes to the next replica"
    assert not await first.check(), "and the old leader stands down"
    await second.release()
    assert await first.check(), "a released lease is taken at once"
    await first.release()


# PostgreSQL's advisory lock --------------------------------------------------------------------


@POSTGRES_ONLY
async def test_postgres_leadership_follows_the_advisory_lock(
    db: Database, runtime: Runtime, contenders: Contenders
) -> None:
    first, second = contenders.first, contenders.second

    assert await first.check()
    assert not await second.check(), "the advisory lock admits one leader"
    assert await first.check()
    assert not await second.check()
    await first.release()
    assert await second.check(), "the follower takes over once the leader lets go"
    assert not await first.check()


@POSTGRES_ONLY
async def test_postgres_leader_connection_is_not_left_in_a_transaction(
    db: Database, runtime: Runtime, contenders: Contenders
) -> None:
    """The leader re-checks every job; its connection must not idle inside a transaction."""
    assert await contenders.first.check()
    assert await contenders.first.check()
    pid = await _advisory_holder_pid(runtime)
    assert pid is not None
    async with runtime.engine.connect() as connection:
        state = (
            await connection.execute(
                text("SELECT state FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
            )
        ).scalar()
    assert state == "idle", (
        f"the leader's connection is {state!r}: an open transaction holds back vacuum for as"
        " long as the leader lives, and idle_in_transaction_session_timeout would end it"
    )


@POSTGRES_ONLY
async def test_postgres_jobs_checking_leadership_at_once_share_one_lock_connection(
    db: Database, runtime: Runtime, contenders: Contenders
) -> None:
    """Both jobs fire together at start-up; their checks must not each open a lock connection.

    A second connection would replace the first in the middle of a check: the lock taken on
    one is then tried again on the other (and refused), and the orphaned connection keeps the
    lock until the garbage collector happens to close it, with no scheduler leading meanwhile.
    """
    first, second = contenders.first, contenders.second
    assert list(await asyncio.gather(first.check(), first.check(), first.check())) == [True] * 3
    assert _checked_out(runtime) == 1, "one dedicated connection holds the lock"
    assert await first.check()
    assert not await second.check()
    await first.release()
    assert _checked_out(runtime) == 0, "released leadership returns its connection"
    assert await second.check(), "and the lock is free at once"


@POSTGRES_ONLY
async def test_postgres_leadership_survives_a_lost_connection(
    db: Database, runtime: Runtime, contenders: Contenders
) -> None:
    first, second = contenders.first, contenders.second
    assert await first.check()
    pid = await _advisory_holder_pid(runtime)
    async with runtime.engine.connect() as connection:
        await connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    # The server ends the session asynchronously; the lock goes with it.
    for _ in range(50):
        if await _advisory_holder_pid(runtime) is None:
            break
        await asyncio.sleep(0.01)

    assert await second.check(), "the lock died with the leader's connection"
    assert not await first.check(), (
        "the old leader notices its connection is gone and competes again (and loses)"
    )


@POSTGRES_ONLY
async def test_postgres_follower_with_a_lost_connection_still_takes_over(
    db: Database, runtime: Runtime, other_runtime: Runtime, contenders: Contenders
) -> None:
    """A follower's lock connection can die too (a restart of the database, a network cut)."""
    first, second = contenders.first, contenders.second
    assert await first.check()
    assert not await second.check()
    async with other_runtime.engine.connect() as connection:
        pid = (await connection.execute(text("SELECT pg_backend_pid()"))).scalar()
    async with runtime.engine.connect() as connection:
        followers = (
            await connection.execute(
                text(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                    " AND pid <> pg_backend_pid() AND pid <> :mine AND pid <> :leader"
                ),
                {"mine": pid, "leader": await _advisory_holder_pid(runtime)},
            )
        ).scalars()
        for follower in followers:
            await connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": follower})
    await first.release()

    outcomes: list[object] = []
    for _ in range(3):  # a check may report the loss; it must not keep failing on it
        try:
            outcomes.append(await second.check())
        except Exception as error:  # noqa: BLE001 - the outcome is what is being tested
            outcomes.append(type(error).__name__)
    assert outcomes[-1] is True, f"the follower never recovered: {outcomes}"


# Jobs do nothing on a follower --------------------------------------------------------------


async def test_a_followers_jobs_do_nothing(
    runtime: Runtime, sandbox: SandboxHarness, contenders: Contenders
) -> None:
    account = await seed_account(runtime, base_url=sandbox.base_url, api_key=sandbox.api_key)
    [application_id] = sandbox.seed_applications(1)
    # drain_outbox runs on the wall clock, so the message is due now.
    due = datetime.now(UTC) - timedelta(minutes=1)
    message_id = await enqueue_match(
        runtime, account, match_payload(sandbox.state, application_id), now=due
    )
    leader, follower = contenders.first, contenders.second
    assert await leader.check()

    assert await sync_all(runtime, follower) == 0
    assert await drain_outbox(runtime, follower) == 0
    assert (await load_message(runtime, message_id)).status == "pending"
    async with runtime.sessions() as session:
        assert (await session.exec(select(SyncRun))).all() == [], "a follower syncs nothing"
    assert sandbox.notes(application_id) == [], "a follower pushes nothing"

    assert await drain_outbox(runtime, leader) == 1
    assert (await load_message(runtime, message_id)).status == "done"


async def test_only_the_leader_revalidates(runtime: Runtime, contenders: Contenders) -> None:
    seeded = await seed_tenant(runtime, "acme")  # its application was never evaluated: due

    async def evaluated_at() -> datetime | None:
        async with runtime.sessions() as session:
            application = await app_repo.get_application(
                session, tenant_id=seeded.tenant_id, application_id=seeded.application_id
            )
        assert application is not None
        return application.evaluated_at

    leader, follower = contenders.first, contenders.second
    assert await leader.check()
    assert await revalidate_due(runtime, follower) == 0
    assert await evaluated_at() is None, "a follower re-validates nothing"
    assert await revalidate_due(runtime, leader) == 1
    assert await evaluated_at() is not None


async def test_rejected_credentials_are_retried_hourly_not_every_run(
    runtime: Runtime, sandbox: SandboxHarness, contenders: Contenders
) -> None:
    account = await seed_account(
        runtime, base_url=sandbox.base_url, api_key=sandbox.api_key, status="auth_failed"
    )
    assert await contenders.first.check()
    recently = datetime.now(UTC) - timedelta(minutes=10)
    async with unit_of_work(runtime.sessions) as session:
        session.add(
            SyncRun(
                tenant_id=account.tenant_id,
                connection_id=account.connection_id,
                started_at=recently,
                status="failed",
                finished_at=recently,
            )
        )
    assert await sync_all(runtime, contenders.first) == 0, "tried ten minutes ago: wait"

    async with unit_of_work(runtime.sessions) as session:
        run = (await session.exec(select(SyncRun))).one()
        run.started_at = datetime.now(UTC) - timedelta(hours=2)
        session.add(run)
    assert await sync_all(runtime, contenders.first) == 1, "an hour on, the key is tried again"
    async with runtime.sessions() as session:
        connection = await tenancy.get_connection(
            session, tenant_id=account.tenant_id, connection_id=account.connection_id
        )
    assert connection is not None
    assert connection.status == "ok", "the key works again, so the connection is back"


@SQLITE_ONLY
async def test_jobs_never_overlap_or_pile_up(db: Database, runtime: Runtime) -> None:
    scheduler = build_scheduler(runtime, Leadership(runtime, holder="x", lease=LONG))
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == {"sync_all", "drain_outbox", "revalidate"}
    for job in jobs.values():
        assert (job.max_instances, job.coalesce) == (1, True), job.id
    assert jobs["drain_outbox"].trigger.interval == timedelta(
        seconds=runtime.settings.outbox_interval_seconds
    )
    assert jobs["revalidate"].trigger.interval == timedelta(
        seconds=runtime.settings.sync_interval_seconds
    )

"""The outbox delivers every committed match to the ATS exactly once in effect, whatever fails.

Each test drains real outbox rows (SQLite and PostgreSQL) into the sandbox ATS served on
127.0.0.1, with faults scripted per route and a clock that only moves when the test says so.
"""

from __future__ import annotations

import asyncio
import base64
import random
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from connectors.ats.sandbox import HASH_FIELD, note_marker
from service.db import unit_of_work
from service.models import Connection
from service.outbox import BASE_DELAY, MAX_AGE, MAX_ATTEMPTS, MAX_DELAY, backoff, drain
from service.repositories import audit
from service.repositories import outbox as outbox_repo
from service.runtime import Runtime
from tests.conftest import Database
from tests.fakes.ats import SandboxHarness, ServerFactory
from tests.service.outbox_support import (
    T0,
    Account,
    FakeClock,
    Gate,
    HookedRuntime,
    all_attempts,
    all_messages,
    assert_shows,
    attempts_of,
    enqueue_for,
    enqueue_match,
    load_connection,
    load_message,
    markers_on,
    match_payload,
    open_test_runtime,
    seed_account,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
# For settling rules that involve no query the two databases could disagree on.
SQLITE_ONLY = pytest.mark.parametrize("db", ["sqlite"], indirect=True)


@pytest.fixture
async def sandbox(aiohttp_server: ServerFactory) -> SandboxHarness:
    harness = SandboxHarness()
    await harness.start(aiohttp_server)
    return harness


@pytest.fixture
async def runtime(db: Database) -> AsyncIterator[Runtime]:
    async with open_test_runtime(db.url) as opened:
        yield opened


@pytest.fixture
async def account(runtime: Runtime, sandbox: SandboxHarness) -> Account:
    return await seed_account(runtime, base_url=sandbox.base_url, api_key=sandbox.api_key)


@pytest.fixture
def seeded_random() -> Iterator[None]:
    """The outbox jitters with the module-level RNG; pin it, and leave it as it was."""
    saved = random.getstate()
    random.seed(20260302)
    yield
    random.setstate(saved)


# Happy path ------------------------------------------------------------------------------------


async def test_due_messages_are_delivered_once_and_then_left_alone(
    runtime: Runtime, sandbox: SandboxHarness, account: Account
) -> None:
    applications = sandbox.seed_applications(5)
    queued = await enqueue_for(runtime, account, sandbox.state, applications)
    clock = FakeClock()

    report = await drain(runtime, owner="drainer-a", clock=clock)

    assert (report.claimed, report.done, report.retried, report.dead) == (5, 5, 0, 0)
    for application_id, message_id in queued.items():
        message = await load_message(runtime, message_id)
        assert message.status == "done", f"{application_id}: {message.last_error}"
        assert message.remote_ref == f"applications/{application_id}"
        assert (message.lease_owner, message.lease_until, message.last_error) == (None, None, None)
        assert [a.outcome for a in await attempts_of(runtime, message_id)] == ["created"]
        assert_shows(sandbox.state, message.payload)
        assert len(sandbox.notes(application_id)) == 1, "one note per application, no more"
    clock.advance(3600)
    again = await drain(runtime, owner="drainer-b", clock=clock)
    assert again.claimed == 0, "delivered messages are never claimed again"
    async with runtime.sessions() as session:
        assert await audit.verify_chain(session, tenant_id=account.tenant_id)


async def test_a_message_not_yet_due_waits(
    runtime: Runtime, sandbox: SandboxHarness, account: Account
) -> None:
    [application_id] = sandbox.seed_applications(1)
    payload = match_payload(sandbox.state, application_id)
    await enqueue_match(runtime, account, payload, now=T0 + timedelta(minutes=5))
    assert (await drain(runtime, owner="a", clock=FakeClock(T0))).claimed == 0
    report = await drain(runtime, owner="a", clock=FakeClock(T0 + timedelta(minutes=5)))
    assert report.done == 1
    assert_shows(sandbox.state, payload)


# Failures the ATS reports ---------------------------------------------------------------------


async def test_a_server_error_is_retried_later_and_lands_once(
    runtime: Runtime, sandbox: SandboxHarness, account: Account
) -> None:
    [application_id] = sandbox.seed_applications(1)
    payload = match_payload(sandbox.state, application_id)
    message_id = await enqueue_match(runtime, account, payload)
    sandbox.script("post_note", 500)
    clock = FakeClock()

    first = await drain(runtime, owner="a", clock=clock)

    message = await load_message(runtime, message_id)
    assert (first.retried, message.status) == (1, "retry")
    assert message.next_attempt_at > clock.now, "a retry is scheduled in the future"
    assert message.last_error is not None
    assert "500" in message.last_error
    assert message.lease_owner is None, "a settled message releases its lease"
    assert sandbox.notes(application_id) == [], "the 500 was answered before anything landed"
    assert (await drain(runtime, owner="a", clock=clock)).claimed == 0, "not due yet"

    clock.set(message.next_attempt_at + timedelta(seconds=1))
    second = await drain(runtime, owner="a", clock=clock)

    message = await load_message(runtime, message_id)
    assert (second.done, message.status, message.attempts) == (1, "done", 2)
    assert message.last_error is None
    assert [a.outcome for a in await attempts_of(runtime, message_id)] == ["transient", "created"]
    assert_shows(sandbox.state, payload)


async def test_retry_after_decides_the_next_attempt(
    runtime: Runtime, sandbox: SandboxHarness, account: Account
) -> None:
    [application_id] = sandbox.seed_applications(1)
    message_id = await enqueue_match(runtime, account, match_payload(sandbox.state, application_id))
    sandbox.faults.retry_after = 7
    sandbox.script("read_application", 429)
    clock = FakeClock()

    await drain(runtime, owner="a", clock=clock)

    message = await load_message(runtime, message_id)
    assert message.status == "retry"
    assert message.next_attempt_at == clock.now + timedelta(seconds=7), (
        "the ATS asked for 7 s (Retry-After); the next attempt must be exactly then"
    )
    assert [a.outcome for a in await attempts_of(runtime, message_id)] == ["transient"]


async def test_rejected_credentials_keep_the_message_and_flag_the_connection(
    runtime: Runtime, sandbox: SandboxHarness, account: Account
) -> None:
    [application_id] = sandbox.seed_applications(1)
    payload = match_payload(sandbox.state, application_id)
    message_id = await enqueue_match(runtime, account, payload)
    sandbox.script("read_application", 401)
    clock = FakeClock()

    report = await drain(runtime, owner="a", clock=clock)

    message = await load_message(runtime, message_id)
    assert (report.retried, message.status) == (1, "retry"), "a 401 must never dead-letter"
    assert message.next_attempt_at == clock.now + timedelta(seconds=MAX_DELAY), (
        "credentials need a human: look again only after the longest backoff"
    )
    connection = await load_connection(runtime, account)
    assert connection.status == "auth_failed"
    assert connection.last_error is not None
    assert "401" in connection.last_error
    assert [a.outcome for a in await attempts_of(runtime, message_id)] == ["auth"]

    clock.set(message.next_attempt_at)
    await drain(runtime, owner="a", clock=clock)

    assert (await load_message(runtime, message_id)).status == "done", "nothing was lost"
    assert_shows(sandbox.state, payload)


@SQLITE_ONLY
async def test_a_successful_push_clears_the_auth_failed_flag(
    runtime: Runtime, sandbox: SandboxHarness, account: Account
) -> None:
    [application_id] = sandbox.seed_applications(1)
    message_id = await enqueue_match(runtime, account, match_payload(sandbox.state, application_id))
    sandbox.script("read_application", 401)
    clock = FakeClock()
    await drain(runtime, owner="a", clock=clock)
    assert (await load_connection(runtime, account)).status == "auth_failed"

    clock.set((await load_message(runtime, message_id)).next_attempt_at)
    await drain(runtime, owner="a", clock=clock)

    assert (await load_message(runtime, message_id)).status == "done"
    connection = await load_connection(runtime, account)
    assert (connection.status, connection.last_error) == ("ok", None), (
        "an authenticated push just succeeded, so the credentials work again; left"
        " auth_failed, the scheduler would never sync this connection again"
    )


@SQLITE_ONLY
async def test_auth_failures_do_not_dead_letter_before_max_age(
    runtime: Runtime, sandbox: SandboxHarness
) -> None:
    account = await seed_account(runtime, base_url=sandbox.base_url, api_key="revoked-key-0000")
    [application_id] = sandbox.seed_applications(1)
    message_id = await enqueue_match(runtime, account, match_payload(sandbox.state, application_id))
    clock = FakeClock()
    for _ in range(MAX_ATTEMPTS + 2):
        await drain(runtime, owner="a", clock=clock)
        message = await load_message(runtime, message_id)
        assert message.status == "retry", (
            f"after {message.attempts} rejected attempts ({clock.now - T0} in) the message"
            f" is {message.status}: a revoked key is fixed by a human, who has until MAX_AGE"
        )
        clock.set(message.next_attempt_at)

    clock.set(T0 + MAX_AGE + timedelta(seconds=1))
    await drain(runtime, owner="a", clock=clock)
    assert (await load_message(runtime, message_id)).status == "dead", "MAX_AGE still applies"


async def test_a_rejected_payload_is_dead_lettered_without_leaking_the_api_key(
    runtime: Runtime, sandbox: SandboxHarness, account: Account
) -> None:
    [application_id] = sandbox.seed_applications(1)
    message_id = await enqueue_match(runtime, account, match_payload(sandbox.state, application_id))
    # The sandbox echoes the request's Authorization header in its 422 body, as some ATSs do.
    sandbox.script("post_note", 422)
    clock = FakeClock()

    report = await drain(runtime, owner="a", clock=clock)

    message = await load_message(runtime, message_id)
    assert (report.dead, message.status) == (1, "dead")
    assert message.last_error is not None
    assert "422" in message.last_error
    [attempt] = await attempts_of(runtime, message_id)
    assert attempt.outcome == "permanent"
    key = sandbox.api_key
    forms = {key, base64.b64encode(f"{key}:".encode()).decode()}
    for stored in (message.last_error, attempt.detail):
        leaked = [form for form in forms if form in stored]
        assert not leaked, f"the API key leaked into a stored error: {stored!r}"
    assert sandbox.notes(application_id) == []
    clock.advance(MAX_DELAY * 10)
    assert (await drain(runtime, owner="a", clock=clock)).claimed == 0, "dead stays dead"


@pytest.mark.parametrize("operation", ["post_note", "set_fields"])
async def test_a_write_answered_too_late_is_not_repeated(
    runtime: Runtime, sandbox: SandboxHarness, operation: str
) -> None:
    """The ATS applied the write but the answer came after the client gave up."""
    impatient = await seed_account(
        runtime,
        base_url=sandbox.base_url,
        api_key=sandbox.api_key,
        options={"timeout_seconds": 0.3, "max_attempts": 1},
    )
    [application_id] = sandbox.seed_applications(1)
    payload = match_payload(sandbox.state, application_id)
    message_id = await enqueue_match(runtime, impatient, payload)
    sandbox.faults.hang_seconds = 0.6  # answered twice as late as the client waits
    sandbox.script(operation, "timeout")
    clock = FakeClock()

    await drain(runtime, owner="a", clock=clock)

    message = await load_message(runtime, message_id)
    assert message.status == "retry", "the outcome was unknown, so the push is tried again"
    assert markers_on(sandbox.state, application_id) == [note_marker(payload["payload_hash"])], (
        "the timed-out write did land"
    )
    clock.set(message.next_attempt_at)
    await drain(runtime, owner="a", clock=clock)

    assert (await load_message(runtime, message_id)).status == "done"
    assert_shows(sandbox.state, payload)
    expected = "created" if operation == "post_note" else "unchanged"
    assert [a.outcome for a in await attempts_of(runtime, message_id)] == ["transient", expected]


# Giving up ------------------------------------------------------------------------------------


async def test_transient_failures_give_up_after_max_attempts(
    runtime: Runtime, sandbox: SandboxHarness, account: Account
) -> None:
    [application_id] = sandbox.seed_applications(1)
    message_id = await enqueue_match(runtime, account, match_payload(sandbox.state, application_id))
    sandbox.script("read_application", *([500] * MAX_ATTEMPTS))
    clock = FakeClock()
    for attempt in range(1, MAX_ATTEMPTS + 1):
        report = await drain(runtime, owner="a", clock=clock)
        assert report.claimed == 1, f"attempt {attempt} was not claimed"
        message = await load_message(runtime, message_id)
        assert message.attempts == attempt
        if attempt < MAX_ATTEMPTS:
            assert message.status == "retry"
            clock.set(message.next_attempt_at)

    assert message.status == "dead"
    outcomes = [a.outcome for a in await attempts_of(runtime, message_id)]
    assert outcomes == ["transient"] * (MAX_ATTEMPTS - 1) + ["gave_up"]
    assert sandbox.faults_pending() == 0
    clock.advance(86400)
    assert (await drain(runtime, owner="a", clock=clock)).claimed == 0


@SQLITE_ONLY
async def test_backoff_grows_while_the_ats_stays_down(
    runtime: Runtime, sandbox: SandboxHarness, account: Account, seeded_random: None
) -> None:
    """An ATS that answers 500 for a few minutes must not cost us the match."""
    [application_id] = sandbox.seed_applications(1)
    message_id = await enqueue_match(runtime, account, match_payload(sandbox.state, application_id))
    sandbox.script("read_application", *([500] * MAX_ATTEMPTS))
    clock = FakeClock()
    delays = []
    for _ in range(MAX_ATTEMPTS - 1):
        await drain(runtime, owner="a", clock=clock)
        message = await load_message(runtime, message_id)
        delays.append((message.next_attempt_at - clock.now).total_seconds())
        clock.set(message.next_attempt_at)
    waited = timedelta(seconds=sum(delays))
    assert waited > timedelta(minutes=10), (
        f"the outbox would give up after only {waited} of outage (delays {delays}): the"
        " connector's own suggested retry_after must not replace the outbox's exponential"
        " backoff towards MAX_DELAY"
    )


@SQLITE_ONLY
async def test_an_old_message_is_dead_lettered_on_its_next_failure(
    runtime: Runtime, sandbox: SandboxHarness, account: Account
) -> None:
    failing_app, passing_app = sandbox.seed_applications(2)
    clock = FakeClock(T0 + MAX_AGE + timedelta(seconds=1))
    failing = await enqueue_match(runtime, account, match_payload(sandbox.state, failing_app))
    sandbox.script("read_application", 500)
    await drain(runtime, owner="a", clock=clock)
    assert (await load_message(runtime, failing)).status == "dead", "too old to retry again"

    passing = await enqueue_match(runtime, account, match_payload(sandbox.state, passing_app))
    await drain(runtime, owner="a", clock=clock)
    assert (await load_message(runtime, passing)).status == "done", "age alone never kills"


def test_backoff_is_capped_full_jitter() -> None:
    rng = random.Random(7)
    for attempt in range(1, 16):
        ceiling = min(MAX_DELAY, BASE_DELAY * 2 ** (attempt - 1))
        samples = [backoff(attempt, None, rng=rng) for _ in range(200)]
        assert all(0.0 <= s <= ceiling for s in samples), f"attempt {attempt} left [0, {ceiling}]"
        assert max(samples) > 0.8 * ceiling, "full jitter spreads over the whole window"
        assert min(samples) < 0.2 * ceiling, "full jitter reaches down to zero"
    assert [backoff(3, None, rng=random.Random(1)) for _ in range(3)] == [
        backoff(3, None, rng=random.Random(1)) for _ in range(3)
    ], "a seeded RNG makes backoff reproducible"


def test_backoff_honours_retry_after_within_the_cap() -> None:
    rng = random.Random(7)
    assert backoff(1, 7.0, rng=rng) == 7.0
    for attempt in range(1, 16):
        delay = backoff(attempt, 30.0, rng=rng)
        assert 30.0 <= delay <= MAX_DELAY, "never sooner than the server asked"
    assert backoff(1, MAX_DELAY * 100, rng=rng) == MAX_DELAY, "a huge Retry-After is capped"
    assert 0.0 <= backoff(1, -5.0, rng=rng) <= BASE_DELAY, "a negative Retry-After is ignored"


# Crashes, concurrency and leases --------------------------------------------------------------


@pytest.mark.parametrize(
    ("crash_at", "crash_on_push"),
    [("after_claim", 1), ("after_push_before_mark", 2)],
    ids=["after_claim", "after_push_before_mark"],
)
async def test_a_drainer_killed_mid_batch_loses_nothing(
    db: Database,
    runtime: Runtime,
    sandbox: SandboxHarness,
    account: Account,
    crash_at: str,
    crash_on_push: int,
) -> None:
    applications = sandbox.seed_applications(4)
    queued = await enqueue_for(runtime, account, sandbox.state, applications)
    lease = timedelta(seconds=60)

    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.service.crash_drainer",
        db.url,
        crash_at,
        T0.isoformat(),
        "--lease-seconds",
        str(lease.total_seconds()),
        "--crash-on-push",
        str(crash_on_push),
        cwd=REPO_ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    # Awaited, not run blocking: the sandbox the child talks to is served by this event loop.
    _, stderr = await asyncio.wait_for(child.communicate(), timeout=60)
    assert child.returncode == 137, f"the drainer did not die where asked:\n{stderr.decode()}"

    before = {m.id: m for m in await all_messages(runtime)}
    pushed_before = sum(1 for a in applications if sandbox.notes(a))
    assert pushed_before == (0 if crash_at == "after_claim" else crash_on_push)
    done_before = [m for m in before.values() if m.status == "done"]
    expected_done = 0 if crash_at == "after_claim" else crash_on_push - 1
    assert len(done_before) == expected_done, "pushes settled before the crash stay done"
    assert all(m.status == "inflight" for m in before.values() if m.status != "done")

    clock = FakeClock(T0 + lease / 2)
    assert (await drain(runtime, owner="restarted", clock=clock)).claimed == 0, (
        "rows leased to the dead drainer wait for their lease to run out"
    )
    clock.set(T0 + lease + timedelta(seconds=1))
    report = await drain(runtime, owner="restarted", clock=clock)

    assert report.claimed == len(applications) - len(done_before)
    landed_unmarked = 0 if crash_at == "after_claim" else 1
    assert report.outcomes.count("unchanged") == landed_unmarked, (
        f"the push that landed before the crash is recognised, not redone: {report.outcomes}"
    )
    for application_id, message_id in queued.items():
        message = await load_message(runtime, message_id)
        assert message.status == "done", f"{application_id} was lost: {message.status}"
        assert_shows(sandbox.state, message.payload)
        assert len(await attempts_of(runtime, message_id)) == 1, (
            "the dead drainer recorded nothing for rows it never settled"
        )


@pytest.mark.parametrize("runtimes", [1, 2], ids=["one_runtime", "two_runtimes"])
async def test_concurrent_drainers_share_the_work_without_overlap(
    db: Database, runtime: Runtime, sandbox: SandboxHarness, account: Account, runtimes: int
) -> None:
    applications = sandbox.seed_applications(30)
    queued = await enqueue_for(runtime, account, sandbox.state, applications)
    clock = FakeClock()

    async def drainer(rt: Runtime, owner: str) -> int:
        claimed = 0
        while (report := await drain(rt, owner=owner, clock=clock, batch=4)).claimed:
            claimed += report.claimed
        return claimed

    async with open_test_runtime(db.url) as other:
        second = other if runtimes == 2 else runtime
        claimed = await asyncio.gather(drainer(runtime, "a"), drainer(second, "b"))

    assert sum(claimed) == 30, f"claimed {claimed}: each message is claimed exactly once"
    for application_id, message_id in queued.items():
        message = await load_message(runtime, message_id)
        assert (message.status, message.attempts) == ("done", 1), application_id
        assert_shows(sandbox.state, message.payload)
    assert len(await all_attempts(runtime)) == 30
    async with runtime.sessions() as session:
        assert await audit.verify_chain(session, tenant_id=account.tenant_id)


async def test_a_drainer_that_lost_its_lease_records_nothing(
    runtime: Runtime, sandbox: SandboxHarness, account: Account
) -> None:
    [application_id] = sandbox.seed_applications(1)
    payload = match_payload(sandbox.state, application_id)
    message_id = await enqueue_match(runtime, account, payload)
    lease = timedelta(seconds=30)
    gate = Gate()
    slow = HookedRuntime.around(runtime, gate)

    stalled = asyncio.create_task(drain(slow, owner="a", clock=FakeClock(T0), lease=lease))
    await asyncio.wait_for(gate.waiting.wait(), timeout=10)
    taken_over = await drain(runtime, owner="b", clock=FakeClock(T0 + lease * 2), lease=lease)
    gate.released.set()
    stale = await asyncio.wait_for(stalled, timeout=10)

    assert (taken_over.claimed, taken_over.done) == (1, 1), "B re-claims the expired lease"
    assert (stale.lost_lease, stale.done, stale.retried, stale.outcomes) == (1, 0, 0, [])
    message = await load_message(runtime, message_id)
    assert (message.status, message.attempts) == ("done", 2)
    [attempt] = await attempts_of(runtime, message_id)
    assert attempt.attempt == 2, "only B, the lease holder, records its attempt"
    assert_shows(sandbox.state, payload)


async def test_a_drainer_stops_pushing_rows_whose_lease_it_lost(
    runtime: Runtime, sandbox: SandboxHarness, account: Account
) -> None:
    """A slow batch must not run on into rows another drainer has since taken over."""
    applications = sandbox.seed_applications(3)
    await enqueue_for(runtime, account, sandbox.state, applications)
    lease = timedelta(seconds=30)
    gate = Gate()
    slow = HookedRuntime.around(runtime, gate)

    stalled = asyncio.create_task(drain(slow, owner="a", clock=FakeClock(T0), lease=lease))
    await asyncio.wait_for(gate.waiting.wait(), timeout=10)
    await drain(runtime, owner="b", clock=FakeClock(T0 + lease * 2), lease=lease)
    gate.released.set()
    stale = await asyncio.wait_for(stalled, timeout=10)

    assert stale.lost_lease == 3
    assert len(gate.pushes) == 1, (
        f"drainer A pushed {gate.pushes} after B took them over; it must check that it still"
        " holds a row's lease before pushing it"
    )
    assert all(m.status == "done" for m in await all_messages(runtime))


# Messages the drainer cannot even start ------------------------------------------------------


@SQLITE_ONLY
@pytest.mark.parametrize("breakage", ["disabled", "unknown_provider", "undecryptable_secret"])
async def test_a_broken_connection_does_not_stall_the_batch(
    runtime: Runtime, sandbox: SandboxHarness, account: Account, breakage: str
) -> None:
    good_app, broken_app = sandbox.seed_applications(2)
    broken = await seed_account(
        runtime,
        base_url=sandbox.base_url,
        api_key=sandbox.api_key,
        provider="no-such-ats" if breakage == "unknown_provider" else "sandbox",
    )
    async with unit_of_work(runtime.sessions) as session:
        connection = await session.get(Connection, broken.connection_id)
        assert connection is not None
        assert connection.secret_ciphertext is not None
        if breakage == "disabled":
            connection.enabled = False
        if breakage == "undecryptable_secret":
            # As after the secret key was rotated away: the row's ciphertext no longer opens.
            connection.secret_ciphertext = connection.secret_ciphertext[:-1] + b"\0"
        session.add(connection)
    broken_id = await enqueue_match(runtime, broken, match_payload(sandbox.state, broken_app))
    good_id = await enqueue_match(runtime, account, match_payload(sandbox.state, good_app))
    clock = FakeClock()

    report = await drain(runtime, owner="a", clock=clock)

    assert report.claimed == 2
    assert (await load_message(runtime, good_id)).status == "done"
    stuck = await load_message(runtime, broken_id)
    assert stuck.status in {"retry", "dead"}, f"left {stuck.status}, not settled"
    assert stuck.last_error, "the reason is recorded for the admin"
    assert len(await attempts_of(runtime, broken_id)) == 1
    assert sandbox.notes(broken_app) == []


async def test_a_repeated_enqueue_is_one_message(
    runtime: Runtime, sandbox: SandboxHarness, account: Account
) -> None:
    [application_id] = sandbox.seed_applications(1)
    payload = match_payload(sandbox.state, application_id)
    first = await enqueue_match(runtime, account, payload)
    second = await enqueue_match(runtime, account, payload, now=T0 + timedelta(hours=1))
    assert first == second
    async with runtime.sessions() as session:
        counts = await outbox_repo.counts_by_status(session, tenant_id=account.tenant_id)
    assert counts == {"pending": 1}
    await drain(runtime, owner="a", clock=FakeClock())
    assert sandbox.fields(application_id)[HASH_FIELD] == payload["payload_hash"]


async def test_a_score_that_returns_to_an_earlier_value_is_pushed_again(
    runtime: Runtime, sandbox: SandboxHarness, account: Account
) -> None:
    """81, then 0 while a status list was unreachable, then 81 again: the ATS must end on 81."""
    [application_id] = sandbox.seed_applications(1)
    high = match_payload(sandbox.state, application_id, score=81)
    low = match_payload(sandbox.state, application_id, score=0, band="insufficient_evidence")
    clock = FakeClock()
    for step, payload in enumerate((high, low, high)):
        clock.set(T0 + timedelta(minutes=step))
        await enqueue_match(runtime, account, payload, now=clock())
        report = await drain(runtime, owner="a", clock=clock)
        assert report.done == 1, f"step {step}: {report}"
        assert sandbox.fields(application_id)[HASH_FIELD] == payload["payload_hash"]
    assert len(sandbox.notes(application_id)) == 3, "each change is a note for the recruiter"

    clock.set(T0 + timedelta(minutes=5))
    await enqueue_match(runtime, account, high, now=clock())
    assert (await drain(runtime, owner="a", clock=clock)).claimed == 0, "no change, no push"


async def test_a_waiting_update_is_superseded_by_a_newer_one(
    runtime: Runtime, sandbox: SandboxHarness, account: Account
) -> None:
    """An older score still waiting (say, retrying after a 503) must never land after a newer."""
    [application_id] = sandbox.seed_applications(1)
    older = match_payload(sandbox.state, application_id, score=40, band="partial")
    newer = match_payload(sandbox.state, application_id, score=81)
    older_id = await enqueue_match(runtime, account, older, now=T0)
    newer_id = await enqueue_match(runtime, account, newer, now=T0 + timedelta(minutes=1))

    assert (await load_message(runtime, older_id)).status == "superseded"
    report = await drain(runtime, owner="a", clock=FakeClock(T0 + timedelta(minutes=1)))
    assert report.claimed == 1
    assert (await load_message(runtime, newer_id)).status == "done"
    assert sandbox.fields(application_id)[HASH_FIELD] == newer["payload_hash"]
    assert len(sandbox.notes(application_id)) == 1

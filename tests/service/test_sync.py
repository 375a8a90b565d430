"""Pulling applications from an ATS: paging, idempotence, incremental cursors, faults, crashes.

Every test runs a real sandbox ATS on 127.0.0.1 and the real sync against a migrated database,
on SQLite and on PostgreSQL. Credentials attached in the sandbox are plain JSON documents with a
bogus proof: they are stored byte for byte and then verified (and rejected), which is all the
pull side needs.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from connectors.ats.sandbox_server import CredentialSeed, FaultPlan, SandboxState
from service.db import unit_of_work
from service.demo.issuer import IssuerSite, demo_issuers, issue, status_list_credential
from service.demo.people import SQL, DemoCredential
from service.models import SyncRun
from service.repositories import applications as app_repo
from service.repositories import tenancy
from service.runtime import Runtime, open_runtime
from service.sync import CURSOR_OVERLAP, sync_connection
from service.verify.contexts import ContextStore, sync_from_mirror
from tests.conftest import REPO_ROOT, Database
from tests.service.crash_sync import CRASH_EXIT_CODE
from tests.service.support import make_settings, seed_tenant
from tests.service.sync_support import (
    APPLICATIONS_ROUTE,
    BASE_TIME,
    SANDBOX_KEY,
    RequestLog,
    SandboxClock,
    add_connection,
    consistency_problems,
    credential_seed,
    get_connection,
    get_run,
    new_sandbox_state,
    page_of,
    reseal,
    runs_of,
    sandbox_projection,
    seed_sandbox,
    serve,
    serve_sandbox,
    stored,
    unverified_credentials,
    verdicts,
)

PAGE = 5  # the page size of every connection unless a test says otherwise


@pytest.fixture
async def runtime(db: Database, tmp_path: Path) -> AsyncIterator[Runtime]:
    settings = make_settings(db.url, tmp_path, fetch_allow=("127.0.0.1/32",))
    async with open_runtime(settings) as opened:
        yield opened


@pytest.fixture
async def tenant_id(runtime: Runtime) -> str:
    return (await seed_tenant(runtime, "acme")).tenant_id


def secret_forms(key: str) -> list[str]:
    """A key as it may leak: verbatim or inside a Basic Authorization header."""
    return [key, base64.b64encode(f"{key}:".encode()).decode()]


def error_of(run: SyncRun) -> str:
    assert run.error is not None, f"run {run.id} ({run.status}) recorded no error"
    return run.error


def newest(state: SandboxState, application_ids: list[str]) -> datetime:
    return max(state.applications[int(i)].updated_at for i in application_ids)


async def refs(runtime: Runtime, tenant_id: str, application_ids: list[str]) -> set[str]:
    """The ATS ids of the given Skillproof application ids."""
    found = set()
    async with runtime.sessions() as session:
        for application_id in application_ids:
            row = await app_repo.get_application(
                session, tenant_id=tenant_id, application_id=application_id
            )
            assert row is not None
            assert row.external_ref is not None
            found.add(row.external_ref)
    return found


# --- 1. a first sync ---------------------------------------------------------------------------


async def test_first_sync_pulls_every_page_and_records_the_run(
    runtime: Runtime, tenant_id: str
) -> None:
    state, _ = new_sandbox_state()
    seed_sandbox(state, 60, credentials_per_application=1)
    log = RequestLog()
    async with serve_sandbox(state, middlewares=[log.middleware()]) as sandbox:
        connection_id = await add_connection(
            runtime, tenant_id, sandbox.base_url, options={"page_size": 25}
        )
        report = await sync_connection(runtime, tenant_id=tenant_id, connection_id=connection_id)

    assert report.status == "ok", report.error
    listings = log.listing_pages()
    assert len(listings) == 3, f"60 applications at 25 a page are 3 requests, not {listings}"
    assert all("per_page=25" in listing for listing in listings), listings
    expected = sandbox_projection(state)
    result = await stored(runtime, tenant_id, connection_id)
    assert len(result.projection.applications) == 60
    assert result.projection.applications == expected.applications
    assert len(result.projection.candidates) == 59, "a candidate with two applications is one"
    assert result.projection.candidates == expected.candidates
    assert result.projection.jobs == expected.jobs
    assert result.projection.credentials == expected.credentials
    assert result.projection.emails == expected.emails
    assert {v for _, _, v in result.projection.emails} == {True, False}
    assert result.cursor is not None
    assert datetime.fromisoformat(result.cursor) == BASE_TIME + timedelta(minutes=59), (
        "the cursor must be the newest updated_at the ATS served"
    )

    run = await get_run(runtime, report.run_id)
    assert run.status == "ok"
    assert run.error is None
    assert run.finished_at is not None
    assert run.counts == {
        "applications": 60,
        "credentials_stored": 60,
        "credentials_refused": 0,
        "evaluated": 60,
        "unchanged": 0,
        "enqueued": 0,
    }
    assert await unverified_credentials(runtime, tenant_id) == [], "every credential is verified"
    assert await consistency_problems(runtime, tenant_id) == []


# --- 2. idempotence ------------------------------------------------------------------------------


async def test_a_repeated_sync_stores_nothing_twice_and_keeps_the_served_bytes(
    runtime: Runtime, tenant_id: str
) -> None:
    state, _ = new_sandbox_state()
    seed_sandbox(state, 12, credentials_per_application=2)
    async with serve_sandbox(state) as sandbox:
        connection_id = await add_connection(runtime, tenant_id, sandbox.base_url)
        first = await sync_connection(runtime, tenant_id=tenant_id, connection_id=connection_id)
        before = await stored(runtime, tenant_id, connection_id)
        second = await sync_connection(runtime, tenant_id=tenant_id, connection_id=connection_id)
        after = await stored(runtime, tenant_id, connection_id)

    assert (first.status, second.status) == ("ok", "ok"), (first.error, second.error)
    assert first.credentials_stored == 24
    assert second.credentials_stored == 0, "raw credentials are keyed by sha256 per application"
    # The second run re-reads only the overlap window before the cursor.
    overlap = {
        str(a.id)
        for a in state.applications.values()
        if a.updated_at >= BASE_TIME + timedelta(minutes=11) - CURSOR_OVERLAP
    }
    assert await refs(runtime, tenant_id, second.application_ids) == overlap
    assert after.row_ids == before.row_ids, "no row may be added, replaced or deleted"
    assert after.projection == before.projection
    assert after.cursor == before.cursor

    served = {
        (str(a.id), attachment.id): attachment
        for a in state.applications.values()
        for attachment in a.attachments
    }
    assert len(after.raw) == len(served) == 24
    for (application_ref, digest), raw in after.raw.items():
        source_application, _, attachment_id = (raw.source_ref or "").partition("/")
        attachment = served[(source_application, int(attachment_id))]
        assert source_application == application_ref
        assert raw.content == attachment.content, "stored bytes must be exactly the ATS's"
        assert raw.sha256 == digest == hashlib.sha256(attachment.content).hexdigest()
        assert raw.media_type == "application/json"


# --- 3. incremental sync -------------------------------------------------------------------------


async def test_an_incremental_sync_reads_only_changes_and_the_overlap(
    runtime: Runtime, tenant_id: str
) -> None:
    state, clock = new_sandbox_state()
    ids = seed_sandbox(state, 12)
    async with serve_sandbox(state) as sandbox:
        connection_id = await add_connection(runtime, tenant_id, sandbox.base_url)
        first = await sync_connection(runtime, tenant_id=tenant_id, connection_id=connection_id)
        cursor = (await stored(runtime, tenant_id, connection_id)).cursor
        assert cursor is not None
        clock.advance(timedelta(hours=1))
        changed = ids[3]
        attachment = state.attach_credential(changed, credential_seed(3, 99))
        second = await sync_connection(runtime, tenant_id=tenant_id, connection_id=connection_id)

    assert (first.status, second.status) == ("ok", "ok"), (first.error, second.error)
    since = datetime.fromisoformat(cursor) - CURSOR_OVERLAP
    window = {str(a.id) for a in state.applications.values() if a.updated_at >= since}
    assert str(changed) in window
    assert len(window) == 4, "the changed application plus the three inside the overlap"
    assert await refs(runtime, tenant_id, second.application_ids) == window
    assert second.applications == 4
    assert second.credentials_stored == 1

    after = await stored(runtime, tenant_id, connection_id)
    key = (str(changed), hashlib.sha256(attachment.content).hexdigest())
    assert after.projection.credentials[key] == ("application/json", attachment.content)
    assert after.projection == sandbox_projection(state)
    assert after.cursor is not None
    assert datetime.fromisoformat(after.cursor) == clock.now


# --- 4. server errors --------------------------------------------------------------------------


async def test_server_errors_fail_the_run_and_leave_stored_data_alone(
    runtime: Runtime, tenant_id: str
) -> None:
    state, clock = new_sandbox_state()
    ids = seed_sandbox(state, 12)
    faults = FaultPlan()
    async with serve_sandbox(state, faults) as sandbox:
        connection_id = await add_connection(runtime, tenant_id, sandbox.base_url)
        assert (
            await sync_connection(runtime, tenant_id=tenant_id, connection_id=connection_id)
        ).status == "ok"
        before = await stored(runtime, tenant_id, connection_id)
        # Changes the failing run would have applied, had it been able to read them.
        clock.advance(timedelta(hours=1))
        state.attach_credential(ids[0], credential_seed(0, 7))
        # 500 for every attempt the connector makes (it retries a GET three times).
        faults.add(APPLICATIONS_ROUTE, 500, 500, 500)
        failed = await sync_connection(runtime, tenant_id=tenant_id, connection_id=connection_id)
        assert faults.pending() == 0, "the connector should have retried before giving up"
        during = await stored(runtime, tenant_id, connection_id)
        recovered = await sync_connection(runtime, tenant_id=tenant_id, connection_id=connection_id)
        after = await stored(runtime, tenant_id, connection_id)

    assert failed.status == "failed"
    run = await get_run(runtime, failed.run_id)
    assert run.status == "failed"
    assert run.finished_at is not None
    assert run.error is not None
    assert "GET /v1/applications returned 500" in run.error, run.error
    assert during.row_ids == before.row_ids, "a failed run must not add or remove rows"
    assert during.projection == before.projection
    assert during.cursor == before.cursor, "a failed run must not move the cursor"
    connection = await get_connection(runtime, tenant_id, connection_id)
    assert connection.status == "ok", "a server error is not a credentials problem"

    assert recovered.status == "ok", recovered.error
    assert after.projection == sandbox_projection(state)
    assert after.row_ids >= before.row_ids


async def test_applications_stored_before_a_failed_page_are_evaluated_later(
    runtime: Runtime, tenant_id: str
) -> None:
    state, _ = new_sandbox_state()
    seed_sandbox(state, 12)
    faults = FaultPlan()
    # Page 1 is served, page 2 fails on every attempt.
    faults.add(APPLICATIONS_ROUTE, 200, 500, 500, 500)
    async with serve_sandbox(state, faults) as sandbox:
        connection_id = await add_connection(runtime, tenant_id, sandbox.base_url)
        failed = await sync_connection(runtime, tenant_id=tenant_id, connection_id=connection_id)
        assert failed.status == "failed"
        committed = await stored(runtime, tenant_id, connection_id)
        assert set(committed.projection.applications) == set(page_of(state, 1, PAGE))
        recovered = await sync_connection(runtime, tenant_id=tenant_id, connection_id=connection_id)
    assert recovered.status == "ok", recovered.error
    assert (await stored(runtime, tenant_id, connection_id)).projection == sandbox_projection(state)
    assert await unverified_credentials(runtime, tenant_id) == [], (
        "credentials stored by the failed run were never verified: the next run starts after"
        " the cursor and only evaluates what it pulls itself"
    )


# --- 5. rate limits ------------------------------------------------------------------------------


async def test_a_short_retry_after_is_waited_out(runtime: Runtime, tenant_id: str) -> None:
    state, _ = new_sandbox_state()
    seed_sandbox(state, 12)
    faults = FaultPlan(retry_after=1)
    faults.add(APPLICATIONS_ROUTE, 200, 429)  # page 2 is rate limited once
    async with serve_sandbox(state, faults) as sandbox:
        connection_id = await add_connection(runtime, tenant_id, sandbox.base_url)
        started = time.monotonic()
        report = await sync_connection(runtime, tenant_id=tenant_id, connection_id=connection_id)
        elapsed = time.monotonic() - started

    assert (APPLICATIONS_ROUTE, 429) in faults.served
    assert elapsed >= 1.0, f"Retry-After: 1 was not honoured (the run took {elapsed:.2f}s)"
    assert report.status == "ok", report.error
    assert (await stored(runtime, tenant_id, connection_id)).projection == sandbox_projection(state)


async def test_a_long_retry_after_fails_the_run_and_loses_nothing(
    runtime: Runtime, tenant_id: str
) -> None:
    state, _ = new_sandbox_state()
    seed_sandbox(state, 12)
    faults = FaultPlan(retry_after=1)
    faults.add(APPLICATIONS_ROUTE, 429)
    async with serve_sandbox(state, faults) as sandbox:
        # Waiting longer than max_retry_wait inside a call is the scheduler's job, not the run's.
        connection_id = await add_connection(
            runtime, tenant_id, sandbox.base_url, options={"max_retry_wait": 0.5}
        )
        limited = await sync_connection(runtime, tenant_id=tenant_id, connection_id=connection_id)
        during = await stored(runtime, tenant_id, connection_id)
        recovered = await sync_connection(runtime, tenant_id=tenant_id, connection_id=connection_id)

    # Only one 429 was scripted: had the run slept through Retry-After and retried, it would have
    # succeeded. Failing proves the wait surfaced to the caller instead.
    assert limited.status == "failed", "a Retry-After beyond max_retry_wait must surface"
    assert faults.served == [(APPLICATIONS_ROUTE, 429)]
    run = await get_run(runtime, limited.run_id)
    assert "returned 429" in error_of(run), run.error
    assert during.projection.applications == {}
    assert during.cursor is None
    assert recovered.status == "ok", recovered.error
    assert (await stored(runtime, tenant_id, connection_id)).projection == sandbox_projection(state)


# --- 6. credentials rejected -------------------------------------------------------------------


async def test_a_rejected_api_key_marks_the_connection_without_leaking_it(
    runtime: Runtime, tenant_id: str
) -> None:
    state, _ = new_sandbox_state()
    seed_sandbox(state, 3)
    wrong_key = "sbx-revoked-key-0d1e2f3a4b5c6d7e"
    async with serve_sandbox(state) as sandbox:
        connection_id = await add_connection(
            runtime, tenant_id, sandbox.base_url, api_key=wrong_key
        )
        report = await sync_connection(runtime, tenant_id=tenant_id, connection_id=connection_id)

    assert report.status == "failed"
    run = await get_run(runtime, report.run_id)
    connection = await get_connection(runtime, tenant_id, connection_id)
    assert connection.status == "auth_failed"
    assert "401" in error_of(run), run.error
    assert connection.last_error == run.error
    for leak in secret_forms(wrong_key):
        assert leak not in error_of(run)
        assert leak not in (connection.last_error or "")
    assert (await stored(runtime, tenant_id, connection_id)).row_ids == frozenset()


async def test_an_error_that_echoes_the_request_stores_no_secret(
    runtime: Runtime, tenant_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    state, _ = new_sandbox_state()
    seed_sandbox(state, 3)
    faults = FaultPlan()
    # The sandbox's 422 echoes the request's Authorization header, as some real APIs do.
    faults.add("GET /v1/jobs", 422)
    caplog.set_level(logging.DEBUG)
    async with serve_sandbox(state, faults) as sandbox:
        connection_id = await add_connection(runtime, tenant_id, sandbox.base_url)
        report = await sync_connection(runtime, tenant_id=tenant_id, connection_id=connection_id)

    assert report.status == "failed"
    run = await get_run(runtime, report.run_id)
    assert "422" in error_of(run), run.error
    for leak in secret_forms(SANDBOX_KEY):
        assert leak not in error_of(run), "the stored run error holds the API key"
        assert leak not in caplog.text, "a log line holds the API key"
    connection = await get_connection(runtime, tenant_id, connection_id)
    assert connection.status == "ok", "a 422 is not an authentication failure"


async def test_a_connection_recovers_once_its_key_is_fixed(
    runtime: Runtime, tenant_id: str
) -> None:
    state, _ = new_sandbox_state()
    seed_sandbox(state, 3)
    async with serve_sandbox(state) as sandbox:
        connection_id = await add_connection(
            runtime, tenant_id, sandbox.base_url, api_key="sbx-revoked-key-0d1e2f3a4b5c6d7e"
        )
        assert (
            await sync_connection(runtime, tenant_id=tenant_id, connection_id=connection_id)
        ).status == "failed"
        async with unit_of_work(runtime.sessions) as session:
            connection = await tenancy.get_connection(
                session, tenant_id=tenant_id, connection_id=connection_id
            )
            assert connection is not None
            await reseal(runtime, connection, SANDBOX_KEY)
            session.add(connection)
        report = await sync_connection(runtime, tenant_id=tenant_id, connection_id=connection_id)

    assert report.status == "ok", report.error
    connection = await get_connection(runtime, tenant_id, connection_id)
    assert (connection.status, connection.last_error) == ("ok", None)


# --- 7. a process killed half-way -----------------------------------------------------------------


async def _spawn_sync(
    db: Database, scratch: Path, tenant_id: str, connection_id: str, *extra: str
) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.service.crash_sync",
        "--database-url",
        db.url,
        "--scratch",
        str(scratch),
        "--tenant",
        tenant_id,
        "--connection",
        connection_id,
        *extra,
        cwd=REPO_ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def _kill_while_page_2_is_awaited(
    process: asyncio.subprocess.Process, faults: FaultPlan
) -> None:
    """SIGKILL the child once its request for page 2 has reached the (stalling) sandbox."""
    deadline = time.monotonic() + 60
    while faults.pending(APPLICATIONS_ROUTE):
        if process.returncode is not None or time.monotonic() > deadline:
            _, stderr = await process.communicate()
            pytest.fail(f"the child sync never asked for page 2: {stderr.decode()[-2000:]}")
        await asyncio.sleep(0.02)
    process.kill()
    await process.wait()


@pytest.mark.parametrize(
    "kill_point",
    [
        # Page 1 is committed (with its cursor) and the child is waiting for page 2's answer:
        # the sandbox holds that answer back and the test SIGKILLs the process.
        "sigkill-between-pages",
        # Inside page 2's transaction: its candidates, application and first credential are
        # flushed but not committed when the process ends with os._exit.
        "exit-inside-page-2-transaction",
    ],
)
async def test_a_sync_killed_half_way_leaves_consistent_data_and_resumes(
    db: Database, runtime: Runtime, tenant_id: str, tmp_path: Path, kill_point: str
) -> None:
    state, _ = new_sandbox_state()
    seed_sandbox(state, 12, credentials_per_application=2)
    faults = FaultPlan(hang_seconds=60)
    extra: tuple[str, ...] = ()
    if kill_point == "sigkill-between-pages":
        faults.add(APPLICATIONS_ROUTE, 200, "timeout")
    else:
        # Page 1 stores 5 x 2 credentials; the 12th store is page 2's second credential.
        extra = ("--exit-at-store", str(PAGE * 2 + 2))
    async with serve_sandbox(state, faults) as sandbox:
        connection_id = await add_connection(
            runtime, tenant_id, sandbox.base_url, options={"timeout_seconds": 90}
        )
        process = await _spawn_sync(db, tmp_path / "child", tenant_id, connection_id, *extra)
        if kill_point == "sigkill-between-pages":
            await _kill_while_page_2_is_awaited(process, faults)
        else:
            _, stderr = await process.communicate()
            assert process.returncode == CRASH_EXIT_CODE, stderr.decode()[-2000:]

        crashed = await stored(runtime, tenant_id, connection_id)
        problems = await consistency_problems(runtime, tenant_id)
        resumed = await sync_connection(runtime, tenant_id=tenant_id, connection_id=connection_id)
        final = await stored(runtime, tenant_id, connection_id)

    # After the kill: exactly page 1, complete, with the cursor that follows it.
    page_1 = page_of(state, 1, PAGE)
    expected = sandbox_projection(state)
    assert problems == [], problems
    assert set(crashed.projection.applications) == set(page_1), "page 2 was half-written"
    assert set(crashed.projection.candidates) == {expected.applications[a][0] for a in page_1}
    assert crashed.projection.credentials == {
        key: value for key, value in expected.credentials.items() if key[0] in page_1
    }
    assert crashed.cursor is not None
    assert datetime.fromisoformat(crashed.cursor) == newest(state, page_1)
    killed_runs = [r for r in await runs_of(runtime, connection_id) if r.id != resumed.run_id]
    assert len(killed_runs) == 1, "the child should have recorded its run"
    assert killed_runs[0].status == "running", "within the hour it might still be alive"

    # The next run resumes from that cursor and ends where an uninterrupted sync would.
    assert resumed.status == "ok", resumed.error
    assert final.projection == expected
    assert len(final.projection.applications) == 12
    assert set(final.projection.credentials) == set(expected.credentials)
    assert final.row_ids >= crashed.row_ids, "rows written before the kill must be kept"
    assert await consistency_problems(runtime, tenant_id) == []
    resumed_refs = await refs(runtime, tenant_id, resumed.application_ids)
    assert not set(page_1[:2]) & resumed_refs, "the resumed run re-read more than the overlap"


async def test_a_run_whose_process_died_is_closed_by_a_later_run(
    runtime: Runtime, tenant_id: str
) -> None:
    state, _ = new_sandbox_state()
    seed_sandbox(state, 2, credentials_per_application=1)
    async with serve_sandbox(state) as sandbox:
        connection_id = await add_connection(runtime, tenant_id, sandbox.base_url)
        now = datetime.now(UTC)
        async with unit_of_work(runtime.sessions) as session:
            for age in (timedelta(hours=3), timedelta(minutes=5)):
                session.add(
                    SyncRun(tenant_id=tenant_id, connection_id=connection_id, started_at=now - age)
                )
        report = await sync_connection(runtime, tenant_id=tenant_id, connection_id=connection_id)

    assert report.status == "ok", report.error
    runs = sorted(await runs_of(runtime, connection_id), key=lambda r: r.started_at)
    abandoned, recent, latest = runs
    assert (abandoned.status, abandoned.finished_at is not None) == ("failed", True)
    assert "interrupted" in (abandoned.error or "")
    assert recent.status == "running", "a run of the last hour may still be going"
    assert (latest.id, latest.status) == (report.run_id, "ok")


# --- 8. malformed attachments ---------------------------------------------------------------------


async def test_malformed_attachments_are_refused_and_the_rest_is_stored(
    runtime: Runtime, tenant_id: str
) -> None:
    state, _ = new_sandbox_state()
    ids = seed_sandbox(state, 4)
    bad = [
        CredentialSeed(media_type="text/plain", content=b"this is not a credential at all"),
        CredentialSeed(
            media_type="application/json",
            content=json.dumps({"type": ["VerifiableCredential"], "name": "no context"}).encode(),
        ),
        CredentialSeed(
            media_type="application/json",
            content=b'{"@context": [], "padding": "' + b"x" * 10_000_000 + b'"}',
        ),
    ]
    for seed in bad:
        state.attach_credential(ids[1], seed)
    async with serve_sandbox(state) as sandbox:
        connection_id = await add_connection(runtime, tenant_id, sandbox.base_url)
        report = await sync_connection(runtime, tenant_id=tenant_id, connection_id=connection_id)

    assert report.status == "ok", report.error
    assert report.credentials_refused == 3
    assert report.credentials_stored == 8
    refused = {hashlib.sha256(seed.content).hexdigest() for seed in bad}
    expected = sandbox_projection(state)
    result = await stored(runtime, tenant_id, connection_id)
    assert result.projection.credentials == {
        key: value for key, value in expected.credentials.items() if key[1] not in refused
    }, "the good credentials of the same application and page must all be stored"
    assert result.projection.applications == expected.applications
    run = await get_run(runtime, report.run_id)
    assert run.counts["credentials_refused"] == 3


# --- 9. a malformed page --------------------------------------------------------------------------


async def test_a_malformed_page_fails_the_run_and_stores_nothing_from_it(
    runtime: Runtime, tenant_id: str
) -> None:
    state, _ = new_sandbox_state()
    seed_sandbox(state, 12)
    faults = FaultPlan()
    faults.add(APPLICATIONS_ROUTE, 200, "malformed")  # page 2 is a truncated JSON body
    async with serve_sandbox(state, faults) as sandbox:
        connection_id = await add_connection(runtime, tenant_id, sandbox.base_url)
        failed = await sync_connection(runtime, tenant_id=tenant_id, connection_id=connection_id)
        during = await stored(runtime, tenant_id, connection_id)
        recovered = await sync_connection(runtime, tenant_id=tenant_id, connection_id=connection_id)
        after = await stored(runtime, tenant_id, connection_id)

    assert failed.status == "failed"
    run = await get_run(runtime, failed.run_id)
    assert "malformed JSON" in error_of(run), run.error
    page_1 = page_of(state, 1, PAGE)
    assert set(during.projection.applications) == set(page_1), "nothing from page 2 is stored"
    assert during.cursor is not None
    assert datetime.fromisoformat(during.cursor) == newest(state, page_1)
    assert await consistency_problems(runtime, tenant_id) == []
    assert recovered.status == "ok", recovered.error
    assert after.projection == sandbox_projection(state)


# --- remote data that does not fit the schema -----------------------------------------------------


async def test_oversized_remote_values_are_truncated_not_fatal(
    runtime: Runtime, tenant_id: str
) -> None:
    state, _ = new_sandbox_state()
    long_title, long_name, long_status = "T" * 400, "N" * 400, "s" * 40
    job = state.add_job(name=long_title, updated_at=BASE_TIME)
    for i in range(3):
        candidate = state.add_candidate(
            first_name=long_name if i == 1 else f"C{i}", last_name="Example", updated_at=BASE_TIME
        )
        state.add_application(
            candidate_id=candidate.id,
            job_id=job.id,
            status=long_status if i == 1 else "active",
            updated_at=BASE_TIME + timedelta(minutes=i),
        )
    async with serve_sandbox(state) as sandbox:
        connection_id = await add_connection(runtime, tenant_id, sandbox.base_url)
        report = await sync_connection(runtime, tenant_id=tenant_id, connection_id=connection_id)

    assert report.status == "ok", report.error
    result = await stored(runtime, tenant_id, connection_id)
    assert len(result.projection.applications) == 3
    assert result.projection.jobs[str(job.id)] == long_title[:300]
    assert f"{long_name} Example"[:300] in result.projection.candidates.values()
    assert long_status[:32] in {
        status for _, _, status, _ in result.projection.applications.values()
    }


async def test_an_unexpected_error_still_closes_the_run(
    request: pytest.FixtureRequest, db: Database, runtime: Runtime, tenant_id: str
) -> None:
    state, _ = new_sandbox_state()
    job = state.add_job(name="Data Engineer", updated_at=BASE_TIME)
    candidate = state.add_candidate(
        first_name="Ada", last_name="Example", dids=["did:example:" + "a" * 2100]
    )
    state.add_application(candidate_id=candidate.id, job_id=job.id, updated_at=BASE_TIME)
    async with serve_sandbox(state) as sandbox:
        connection_id = await add_connection(runtime, tenant_id, sandbox.base_url)
        report = await sync_connection(runtime, tenant_id=tenant_id, connection_id=connection_id)

    run = await get_run(runtime, report.run_id)
    assert run.status in {"ok", "failed"}, f"the run was left {run.status!r}"
    assert run.finished_at is not None
    if run.status == "failed":
        assert run.error, "a failed run must say why"
        assert "a" * 100 not in run.error, "remote data must not be copied into the run error"


# --- an application changed while the run pages through the list ----------------------------------


def _change_during_paging(
    state: SandboxState, clock: SandboxClock, application_id: int
) -> Middleware:
    """A middleware that, once page 1 has been served, updates an application on page 1."""
    done = False

    @web.middleware
    async def change(request: web.Request, handler: Handler) -> web.StreamResponse:
        nonlocal done
        response = await handler(request)
        if request.path == "/v1/applications" and not done:
            done = True
            clock.advance(timedelta(hours=1))
            state.attach_credential(application_id, credential_seed(application_id, 50))
        return response

    return change


async def test_an_application_changed_during_paging_makes_no_other_one_missed(
    runtime: Runtime, tenant_id: str
) -> None:
    state, clock = new_sandbox_state()
    ids = seed_sandbox(state, 12)
    middleware = _change_during_paging(state, clock, ids[2])
    async with serve_sandbox(state, middlewares=[middleware]) as sandbox:
        connection_id = await add_connection(runtime, tenant_id, sandbox.base_url)
        first = await sync_connection(runtime, tenant_id=tenant_id, connection_id=connection_id)
        second = await sync_connection(runtime, tenant_id=tenant_id, connection_id=connection_id)

    assert (first.status, second.status) == ("ok", "ok"), (first.error, second.error)
    result = await stored(runtime, tenant_id, connection_id)
    missing = set(sandbox_projection(state).applications) - set(result.projection.applications)
    assert missing == set(), f"applications never synced: {sorted(missing)}"


# --- a genuinely signed credential ----------------------------------------------------------------


@pytest.mark.vendor_data
async def test_a_signed_credential_synced_from_the_ats_is_verified(
    db: Database, tmp_path: Path, vendor_data: Path
) -> None:
    settings = make_settings(db.url, tmp_path, fetch_allow=("127.0.0.1/32",))
    sync_from_mirror(settings.contexts_dir, vendor_data / "credentials")
    contexts = ContextStore.from_settings(settings)
    issuer = demo_issuers(settings.secret_key.get_secret_value())["northbridge"]
    issuer_site = IssuerSite()
    now = datetime.now(UTC)
    async with serve(issuer_site.app()) as issuer_url:
        status_url = f"{issuer_url}status/1"
        issuer_site.publish(
            status_list_credential(
                issuer=issuer, status_url=status_url, revoked=set(), now=now, contexts=contexts
            )
        )
        genuine = issue(
            DemoCredential(achievement=SQL),
            issuer=issuer,
            email="ada@example.org",
            now=now,
            status_url=status_url,
            status_index=1,
            labels={},
            contexts=contexts,
        )
        # The same document with its name changed after signing: the proof must catch it.
        tampered = genuine.replace(b'"name": "SQL for Data Analysis"', b'"name": "SQL Expert"', 1)
        assert tampered != genuine
        state, _ = new_sandbox_state()
        job = state.add_job(name="Data Analyst", updated_at=BASE_TIME)
        candidate = state.add_candidate(
            first_name="Ada", last_name="Lovelace", verified_emails=["ada@example.org"]
        )
        state.add_application(
            candidate_id=candidate.id,
            job_id=job.id,
            updated_at=BASE_TIME,
            credentials=[
                CredentialSeed(media_type="application/json", content=genuine),
                CredentialSeed(media_type="application/json", content=tampered),
            ],
        )
        async with open_runtime(settings) as runtime, serve_sandbox(state) as sandbox:
            tenant_id = (await seed_tenant(runtime, "acme")).tenant_id
            connection_id = await add_connection(runtime, tenant_id, sandbox.base_url)
            report = await sync_connection(
                runtime, tenant_id=tenant_id, connection_id=connection_id, now=now
            )
            found = await verdicts(runtime, tenant_id)
            result = await stored(runtime, tenant_id, connection_id)

    assert report.status == "ok", report.error
    assert result.projection == sandbox_projection(state), "the signed bytes must be kept as served"
    assert found == {
        hashlib.sha256(genuine).hexdigest(): {"verified"},
        hashlib.sha256(tampered).hexdigest(): {"rejected"},
    }

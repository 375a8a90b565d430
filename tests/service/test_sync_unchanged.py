"""Sync evaluates an application only when something its score is computed from has changed.

Every run re-reads the overlap before its cursor; the applications in it that have not changed
must cost nothing and write nothing (no verification, match, audit or outbox rows). A change
in the ATS (a new credential, a new status, another job) or outside it (a new role profile
version, the trust registry) is evaluated, and so is anything a crashed run stored but never
evaluated. Real sandbox ATS on 127.0.0.1, real database, SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Awaitable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from connectors.ats.sandbox_server import SandboxState
from service.db import unit_of_work
from service.repositories import applications as app_repo
from service.repositories import tenancy
from service.runtime import Runtime, open_runtime
from service.sync import SyncReport, sync_connection
from tests.conftest import REPO_ROOT, Database
from tests.service.crash_sync import CRASH_EXIT_CODE
from tests.service.evaluation_support import add_profile, markers, rows, verifications_of
from tests.service.support import make_settings, seed_tenant
from tests.service.sync_support import (
    add_connection,
    credential_seed,
    get_run,
    new_sandbox_state,
    seed_sandbox,
    serve_sandbox,
    stored,
    unverified_credentials,
)


@pytest.fixture
async def runtime(db: Database, tmp_path: Path) -> AsyncIterator[Runtime]:
    settings = make_settings(
        db.url, tmp_path, fetch_allow=("127.0.0.1/32",), semantic_mapping=False
    )
    async with open_runtime(settings) as opened:
        yield opened


@pytest.fixture
async def tenant_id(runtime: Runtime) -> str:
    return (await seed_tenant(runtime, "acme")).tenant_id


async def profiles_for_every_job(
    runtime: Runtime, tenant_id: str, connection_id: str, state: SandboxState
) -> dict[int, str]:
    """A role profile on each sandbox job, so every evaluation scores and queues a push."""
    return {
        job: await add_profile(
            runtime, tenant_id=tenant_id, connection_id=connection_id, job_ref=str(job)
        )
        for job in sorted(state.jobs)
    }


def sync(runtime: Runtime, tenant_id: str, connection_id: str) -> Awaitable[SyncReport]:
    return sync_connection(runtime, tenant_id=tenant_id, connection_id=connection_id)


async def test_a_sync_inside_the_overlap_writes_nothing_for_unchanged_applications(
    runtime: Runtime, tenant_id: str
) -> None:
    state, _ = new_sandbox_state()
    seed_sandbox(state, 12)
    async with serve_sandbox(state) as sandbox:
        connection_id = await add_connection(runtime, tenant_id, sandbox.base_url)
        await profiles_for_every_job(runtime, tenant_id, connection_id, state)
        first = await sync(runtime, tenant_id, connection_id)
        before, marked = (
            await rows(runtime, tenant_id),
            await markers(runtime, tenant_id, connection_id),
        )
        second = await sync(runtime, tenant_id, connection_id)
        after = await rows(runtime, tenant_id)

    assert (first.status, second.status) == ("ok", "ok"), (first.error, second.error)
    assert first.evaluated == 12
    assert (before.verifications, before.matches, before.outbox) == (24, 12, 12)
    assert second.applications == 3, "the second run must re-read the 2-minute overlap"
    assert (second.evaluated, second.unchanged, second.enqueued) == (0, 3, 0)
    assert after == before, (
        "unchanged applications in the overlap were evaluated again: new verification, match,"
        " audit or outbox rows"
    )
    assert await markers(runtime, tenant_id, connection_id) == marked
    run = await get_run(runtime, second.run_id)
    assert (run.counts["evaluated"], run.counts["unchanged"]) == (0, 3)


async def test_applications_changed_in_the_ats_are_evaluated_again(
    runtime: Runtime, tenant_id: str
) -> None:
    state, clock = new_sandbox_state()
    ids = seed_sandbox(state, 12)
    async with serve_sandbox(state) as sandbox:
        connection_id = await add_connection(runtime, tenant_id, sandbox.base_url)
        jobs = await profiles_for_every_job(runtime, tenant_id, connection_id, state)
        await sync(runtime, tenant_id, connection_id)
        before = await rows(runtime, tenant_id)
        marked = await markers(runtime, tenant_id, connection_id)

        clock.advance(timedelta(hours=1))
        new_credential, new_status, new_job = ids[3], ids[5], ids[7]
        state.attach_credential(new_credential, credential_seed(3, 99))
        state.applications[new_status].status = "interview"
        state.applications[new_status].updated_at = clock.advance(timedelta(minutes=1))
        other_job = next(j for j in state.jobs if j != state.applications[new_job].job_id)
        state.applications[new_job].job_id = other_job
        state.applications[new_job].updated_at = clock.advance(timedelta(minutes=1))
        second = await sync(runtime, tenant_id, connection_id)
        after = await rows(runtime, tenant_id)
        remarked = await markers(runtime, tenant_id, connection_id)

    assert second.status == "ok", second.error
    changed = {str(new_credential), str(new_status), str(new_job)}
    assert (second.evaluated, second.unchanged) == (3, 3), "3 changed, 3 unchanged in the overlap"
    assert after.matches - before.matches == 3
    assert after.verifications - before.verifications == 3 + 2 + 2, (
        "each changed application has all its credentials verified again"
    )
    assert after.outbox - before.outbox == 2, (
        "the new credential and the new job change what the ATS shows; the status alone does not"
    )
    moved = {ref for ref in marked if remarked[ref] != marked[ref]}
    assert moved == changed, "only the changed applications carry a new marker"
    async with runtime.sessions() as session:
        application = await app_repo.get_application(
            session, tenant_id=tenant_id, application_id=remarked[str(new_job)].application_id
        )
    assert application is not None
    assert application.job_id == jobs[other_job], "the application moved to the other job"


async def test_changes_outside_the_ats_are_evaluated_when_the_application_is_seen(
    runtime: Runtime, tenant_id: str
) -> None:
    """A role profile's new version or a change to the trust registry changes the inputs too."""
    state, _ = new_sandbox_state()
    ids = seed_sandbox(state, 12)
    async with serve_sandbox(state) as sandbox:
        connection_id = await add_connection(runtime, tenant_id, sandbox.base_url)
        await profiles_for_every_job(runtime, tenant_id, connection_id, state)
        await sync(runtime, tenant_id, connection_id)
        # The overlap holds applications 9, 10 and 11; only 10 is on the second job.
        second_job = state.applications[ids[10]].job_id
        await add_profile(
            runtime, tenant_id=tenant_id, connection_id=connection_id, job_ref=str(second_job)
        )
        after_profile = await sync(runtime, tenant_id, connection_id)
        async with unit_of_work(runtime.sessions) as session:
            await tenancy.add_trusted_issuer(
                session,
                tenant_id=tenant_id,
                issuer_id="did:example:issuer",
                name="Example Academy",
                tier="platform",
            )
        after_trust = await sync(runtime, tenant_id, connection_id)
        unchanged = await sync(runtime, tenant_id, connection_id)

    assert (after_profile.evaluated, after_profile.unchanged) == (1, 2), (
        "a new profile version re-scores the applications to that job only"
    )
    assert (after_trust.evaluated, after_trust.unchanged) == (3, 0), (
        "the tenant's trust registry is an input of every verification"
    )
    assert (unchanged.evaluated, unchanged.unchanged) == (0, 3)


# --- a crash between storing and evaluating ---------------------------------------------------


async def _sync_in_a_child_that_dies_at_evaluation(
    db: Database, scratch: Path, tenant_id: str, connection_id: str
) -> None:
    process = await asyncio.create_subprocess_exec(
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
        "--exit-at-evaluation",
        cwd=REPO_ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await process.communicate()
    assert process.returncode == CRASH_EXIT_CODE, stderr.decode()[-2000:]


@pytest.mark.parametrize("crash", ["evaluation-raises", "process-dies"])
async def test_what_a_crashed_run_stored_is_evaluated_by_the_next_one(
    db: Database,
    runtime: Runtime,
    tenant_id: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    crash: str,
) -> None:
    state, clock = new_sandbox_state()
    ids = seed_sandbox(state, 8)
    async with serve_sandbox(state) as sandbox:
        connection_id = await add_connection(runtime, tenant_id, sandbox.base_url)
        await profiles_for_every_job(runtime, tenant_id, connection_id, state)
        first = await sync(runtime, tenant_id, connection_id)
        cursor = (await stored(runtime, tenant_id, connection_id)).cursor

        clock.advance(timedelta(hours=1))
        state.attach_credential(ids[1], credential_seed(1, 77))
        existing = state.applications[ids[0]]
        added = state.add_application(
            candidate_id=existing.candidate_id,
            job_id=next(j for j in state.jobs if j != existing.job_id),
            updated_at=clock.advance(timedelta(minutes=1)),
            credentials=[credential_seed(40, 0)],
        ).id
        if crash == "evaluation-raises":

            async def evaluation_fails(*args: Any, **kwargs: Any) -> Any:
                raise RuntimeError("the process died between storing a page and evaluating it")

            with monkeypatch.context() as patch:
                patch.setattr("service.sync.evaluate_if_changed", evaluation_fails)
                crashed_run = await sync(runtime, tenant_id, connection_id)
            assert crashed_run.status == "failed"
        else:
            await _sync_in_a_child_that_dies_at_evaluation(
                db, tmp_path / "child", tenant_id, connection_id
            )
        crashed = await stored(runtime, tenant_id, connection_id)
        left_unevaluated = await unverified_credentials(runtime, tenant_id)
        crash_markers = await markers(runtime, tenant_id, connection_id)
        resumed = await sync(runtime, tenant_id, connection_id)
        final_markers = await markers(runtime, tenant_id, connection_id)

    assert first.evaluated == 8
    # The crash happened after the page was committed and before any of it was evaluated.
    assert str(added) in crashed.projection.applications, "the new application was stored"
    assert crash_markers[str(added)].inputs is None, "stored, and marked as never evaluated"
    assert crash_markers[str(added)].at is None
    assert sorted(ref.partition("/")[0] for ref in left_unevaluated) == sorted(
        [str(ids[1]), str(added)]
    ), f"the two credentials the crashed run stored are not verified yet: {left_unevaluated}"
    assert crashed.cursor == cursor, "the cursor must not pass a page that was not evaluated"

    assert resumed.status == "ok", resumed.error
    assert (resumed.evaluated, resumed.unchanged) == (2, 3), (
        "the next run evaluates exactly what the crashed one stored, not the unchanged overlap"
    )
    assert await unverified_credentials(runtime, tenant_id) == []
    assert final_markers[str(added)].inputs is not None
    assert final_markers[str(ids[1])].inputs != crash_markers[str(ids[1])].inputs
    added_verifications = await verifications_of(runtime, final_markers[str(added)].application_id)
    assert len(added_verifications) == 1, "evaluated once, by the run after the crash"


# --- tenants -----------------------------------------------------------------------------------


async def test_an_evaluation_in_one_tenant_is_no_reason_to_skip_in_another(
    runtime: Runtime, tenant_id: str
) -> None:
    """Two employers connected to the same ATS data: each one's markers are its own."""
    other = (await seed_tenant(runtime, "globex", email="grace@example.com")).tenant_id
    state, _ = new_sandbox_state()
    seed_sandbox(state, 4)
    async with serve_sandbox(state) as sandbox:
        acme = await add_connection(runtime, tenant_id, sandbox.base_url)
        globex = await add_connection(runtime, other, sandbox.base_url)
        acme_first = await sync(runtime, tenant_id, acme)
        globex_first = await sync(runtime, other, globex)
        globex_again = await sync(runtime, other, globex)
        acme_rows, globex_rows = await rows(runtime, tenant_id), await rows(runtime, other)

    assert (acme_first.evaluated, globex_first.evaluated) == (4, 4)
    assert (globex_again.evaluated, globex_again.unchanged) == (0, 3), "the overlap, unchanged"
    assert acme_rows.verifications == globex_rows.verifications == 8
    acme_markers = await markers(runtime, tenant_id, acme)
    globex_markers = await markers(runtime, other, globex)
    assert set(acme_markers) == set(globex_markers)
    for ref, marker in acme_markers.items():
        assert marker.inputs != globex_markers[ref].inputs, (
            "a fingerprint names the tenant's own rows, so it never matches another tenant's"
        )

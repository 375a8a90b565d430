"""Scheduled re-validation: "is it still valid?" is answered again for applications in play.

A credential revoked on its issuer's status list after the first evaluation must lower the
score in the ATS, with the reason; an application whose result is the same must not be pushed
again; closed applications and disabled connections are left alone; every tenant gets its own
bounded share of each run, whatever another tenant's backlog or failures. Real sandbox ATS and
issuer status list on 127.0.0.1, real database, SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from connectors.ats.sandbox_server import CredentialSeed
from service import outbox
from service.db import unit_of_work
from service.demo.issuer import IssuerSite, demo_issuers, issue, status_list_credential
from service.demo.people import SQL, DemoCredential
from service.models import OutboxMessage
from service.pipeline import evaluate_application
from service.repositories import tenancy
from service.revalidation import revalidate
from service.runtime import Runtime, open_runtime
from service.settings import Settings
from service.sync import sync_connection
from service.verify.contexts import ContextStore, sync_from_mirror
from tests.conftest import Database
from tests.service.evaluation_support import (
    Marker,
    add_profile,
    markers,
    matches_of,
    rows,
    verifications_of,
)
from tests.service.support import make_settings, seed_tenant, store_upload
from tests.service.sync_support import (
    BASE_TIME,
    add_connection,
    credential_bytes,
    credential_seed,
    new_sandbox_state,
    seed_sandbox,
    serve,
    serve_sandbox,
)

DAY = timedelta(hours=24)


def settings_for(db: Database, tmp_path: Path, **overrides: Any) -> Settings:
    return make_settings(
        db.url, tmp_path, fetch_allow=("127.0.0.1/32",), semantic_mapping=False, **overrides
    )


@pytest.fixture
async def runtime(db: Database, tmp_path: Path) -> AsyncIterator[Runtime]:
    async with open_runtime(settings_for(db, tmp_path)) as opened:
        yield opened


async def new_tenant(runtime: Runtime, slug: str) -> str:
    """A tenant with nothing in it (seed_tenant adds an application that was never evaluated)."""
    async with unit_of_work(runtime.sessions) as session:
        return (await tenancy.add_tenant(session, slug=slug, name=slug.title())).id


async def drain_all(runtime: Runtime, *, at: datetime) -> None:
    while (await outbox.drain(runtime, owner="test", clock=lambda: at)).claimed:
        pass


# --- a credential revoked after the first evaluation -------------------------------------------


@pytest.mark.vendor_data
async def test_a_credential_revoked_later_lowers_the_score_in_the_ats_and_only_that_is_pushed(
    db: Database, tmp_path: Path, vendor_data: Path
) -> None:
    settings = settings_for(db, tmp_path)
    sync_from_mirror(settings.contexts_dir, vendor_data / "credentials")
    contexts = ContextStore.from_settings(settings)
    issuer = demo_issuers(settings.secret_key.get_secret_value())["northbridge"]
    site = IssuerSite()
    first_day = datetime.now(UTC)
    next_day = first_day + DAY + timedelta(hours=1)
    state, _ = new_sandbox_state()
    job = state.add_job(name="Data Analyst", updated_at=BASE_TIME)
    async with serve(site.app()) as issuer_url, serve_sandbox(state) as sandbox:
        status_url = f"{issuer_url}status/1"

        def publish(revoked: set[int]) -> None:
            site.publish(
                status_list_credential(
                    issuer=issuer,
                    status_url=status_url,
                    revoked=revoked,
                    now=first_day,
                    contexts=contexts,
                )
            )

        publish(set())
        refs: dict[str, str] = {}
        for index, (name, email) in enumerate(
            [("Ada", "ada@example.org"), ("Grace", "grace@example.org")], start=1
        ):
            signed = issue(
                DemoCredential(achievement=SQL),
                issuer=issuer,
                email=email,
                now=first_day,
                status_url=status_url,
                status_index=index,
                labels={},
                contexts=contexts,
            )
            candidate = state.add_candidate(
                first_name=name, last_name="Example", verified_emails=[email]
            )
            application = state.add_application(
                candidate_id=candidate.id,
                job_id=job.id,
                updated_at=BASE_TIME + timedelta(minutes=index),
                credentials=[CredentialSeed(media_type="application/json", content=signed)],
            )
            refs[name] = str(application.id)
        ada, grace = (state.applications[int(refs[n])] for n in ("Ada", "Grace"))

        async with open_runtime(settings) as runtime:
            tenant_id = await new_tenant(runtime, "acme")
            connection_id = await add_connection(runtime, tenant_id, sandbox.base_url)
            await add_profile(
                runtime, tenant_id=tenant_id, connection_id=connection_id, job_ref=str(job.id)
            )
            synced = await sync_connection(
                runtime, tenant_id=tenant_id, connection_id=connection_id, now=first_day
            )
            await drain_all(runtime, at=first_day + timedelta(minutes=1))
            first_score = ada.custom_fields.get("skillproof_score")
            too_early = await revalidate(runtime, now=first_day + DAY - timedelta(hours=1))

        # Ada's credential is revoked; the scheduler's next run, a day on, is a new process
        # (no status list cached from yesterday).
        publish({1})
        async with open_runtime(settings) as runtime:
            report = await revalidate(runtime, now=next_day)
            await drain_all(runtime, at=next_day + timedelta(minutes=1))
            applied = await markers(runtime, tenant_id, connection_id)
            ada_matches = await matches_of(runtime, applied[refs["Ada"]].application_id)
            grace_matches = await matches_of(runtime, applied[refs["Grace"]].application_id)
            async with runtime.sessions() as session:
                messages = list((await session.exec(select(OutboxMessage))).all())

    assert synced.status == "ok", synced.error
    assert synced.evaluated == 2
    assert isinstance(first_score, int)
    assert first_score > 0, "the verified SQL credential meets the profile's requirement"
    assert grace.custom_fields.get("skillproof_score") == first_score
    assert (too_early.evaluated, too_early.tenants) == (0, 0), "evaluated less than a day ago"

    assert (report.evaluated, report.enqueued, report.failed) == (2, 1, 0), report
    assert [m.score for m in ada_matches] == [first_score, ada_matches[-1].score]
    assert ada_matches[-1].score < first_score, "a revoked credential no longer counts"
    explanation = ada_matches[-1].explanation
    assert explanation["credentials"]["rejected"] == 1
    assert "revoked" in explanation["summary"], explanation["summary"]
    assert ada.custom_fields["skillproof_score"] == ada_matches[-1].score, "pushed to the ATS"
    assert ada.custom_fields["skillproof_credentials_rejected"] == 1
    assert "revoked" in ada.custom_fields["skillproof_summary"]
    assert len(ada.notes) == 2, "the lower score is a new note with its explanation"
    assert "revoked" in ada.notes[-1].body

    assert len(grace_matches) == 2, "Grace's credential was checked again too"
    assert grace_matches[-1].score == first_score
    assert len(grace.notes) == 1, "an unchanged result is not pushed again"
    by_target: dict[str, int] = {}
    for message in messages:
        by_target[message.target_ref] = by_target.get(message.target_ref, 0) + 1
    assert by_target == {
        applied[refs["Ada"]].application_id: 2,
        applied[refs["Grace"]].application_id: 1,
    }


# --- what is not in play, or not due ----------------------------------------------------------


async def test_closed_applications_and_disabled_connections_are_not_revalidated(
    runtime: Runtime,
) -> None:
    tenant_id = await new_tenant(runtime, "acme")
    state, _ = new_sandbox_state()
    job = state.add_job(name="Data Engineer", updated_at=BASE_TIME)
    statuses = ["active", "hired", "Rejected", "archived", "interview"]
    for i, status in enumerate(statuses):
        candidate = state.add_candidate(first_name=f"C{i}", last_name="Example")
        state.add_application(
            candidate_id=candidate.id,
            job_id=job.id,
            status=status,
            updated_at=BASE_TIME + timedelta(minutes=i),
            credentials=[credential_seed(i, 0)],
        )
    other_state, _ = new_sandbox_state()
    seed_sandbox(other_state, 2, credentials_per_application=1)
    synced_at = datetime.now(UTC)
    async with serve_sandbox(state) as sandbox, serve_sandbox(other_state) as other_sandbox:
        connection_id = await add_connection(runtime, tenant_id, sandbox.base_url)
        disabled_id = await add_connection(runtime, tenant_id, other_sandbox.base_url)
        for connection in (connection_id, disabled_id):
            report = await sync_connection(
                runtime, tenant_id=tenant_id, connection_id=connection, now=synced_at
            )
            assert report.status == "ok", report.error
    async with unit_of_work(runtime.sessions) as session:
        disabled = await tenancy.get_connection(
            session, tenant_id=tenant_id, connection_id=disabled_id
        )
        assert disabled is not None
        disabled.enabled = False
        session.add(disabled)
    before = await markers(runtime, tenant_id, connection_id)
    before_rows = await rows(runtime, tenant_id)

    report = await revalidate(runtime, now=synced_at + DAY + timedelta(minutes=1))
    after = await markers(runtime, tenant_id, connection_id)

    in_play = {
        str(a.id) for a in state.applications.values() if a.status in {"active", "interview"}
    }
    assert report.evaluated == 2, f"only the applications in play: {report}"
    assert {ref for ref in after if after[ref] != before[ref]} == in_play
    assert (await rows(runtime, tenant_id)).verifications == before_rows.verifications + 2
    assert all(
        m.at == synced_at for m in (await markers(runtime, tenant_id, disabled_id)).values()
    ), "a disabled connection's applications are not re-validated"


async def test_a_day_later_only_applications_with_credentials_are_due_again(
    runtime: Runtime,
) -> None:
    tenant_id = await new_tenant(runtime, "acme")
    state, _ = new_sandbox_state()
    seed_sandbox(state, 3, credentials_per_application=0)
    state.attach_credential(next(iter(state.applications)), credential_seed(0, 1))
    synced_at = datetime.now(UTC)
    async with serve_sandbox(state) as sandbox:
        connection_id = await add_connection(runtime, tenant_id, sandbox.base_url)
        await sync_connection(
            runtime, tenant_id=tenant_id, connection_id=connection_id, now=synced_at
        )

    just_before = await revalidate(runtime, now=synced_at + DAY - timedelta(seconds=1))
    after_a_day = await revalidate(runtime, now=synced_at + DAY + timedelta(seconds=1))
    right_after = await revalidate(runtime, now=synced_at + DAY + timedelta(minutes=5))

    assert just_before.evaluated == 0
    assert after_a_day.evaluated == 1, "without a credential, nothing can expire or be revoked"
    assert right_after.evaluated == 0, "a re-validated application is not due again at once"


async def test_an_application_stored_but_never_evaluated_is_picked_up(runtime: Runtime) -> None:
    """A credential upload whose evaluation crashed: stored, never evaluated, not left so."""
    seeded = await seed_tenant(runtime, "acme")
    async with unit_of_work(runtime.sessions) as session:
        await store_upload(session, seeded, credential_bytes(0, 0))
    assert await verifications_of(runtime, seeded.application_id) == []

    report = await revalidate(runtime, now=datetime.now(UTC))

    assert report.evaluated == 1
    [verification] = await verifications_of(runtime, seeded.application_id)
    assert verification.tenant_id == seeded.tenant_id
    assert (await revalidate(runtime, now=datetime.now(UTC))).evaluated == 0


async def test_re_validation_can_be_turned_off(db: Database, tmp_path: Path) -> None:
    async with open_runtime(settings_for(db, tmp_path, revalidate_after_hours=0)) as runtime:
        await seed_tenant(runtime, "acme")  # one application never evaluated
        report = await revalidate(runtime, now=datetime.now(UTC) + 30 * DAY)
    assert report.evaluated == 0


# --- tenants ------------------------------------------------------------------------------------


async def test_each_tenant_gets_its_own_bounded_batch_and_its_own_failures(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state, _ = new_sandbox_state()
    seed_sandbox(state, 5, credentials_per_application=1)
    synced_at = datetime.now(UTC)
    due_at = synced_at + DAY + timedelta(minutes=1)
    async with (
        open_runtime(settings_for(db, tmp_path, revalidate_batch_size=2)) as runtime,
        serve_sandbox(state) as sandbox,
    ):
        acme, globex = await new_tenant(runtime, "acme"), await new_tenant(runtime, "globex")
        connections = {
            t: await add_connection(runtime, t, sandbox.base_url) for t in (acme, globex)
        }
        for tenant_id, connection_id in connections.items():
            await sync_connection(
                runtime, tenant_id=tenant_id, connection_id=connection_id, now=synced_at
            )

        def revalidated(found: dict[str, Marker]) -> set[str]:
            return {ref for ref, marker in found.items() if marker.at != synced_at}

        async def evaluation_fails_for_acme(runtime: Runtime, **kwargs: Any) -> Any:
            if kwargs["tenant_id"] == acme:
                raise RuntimeError("acme's data trips a bug")
            return await evaluate_application(runtime, **kwargs)

        with monkeypatch.context() as patch:
            patch.setattr("service.revalidation.evaluate_application", evaluation_fails_for_acme)
            failing = await revalidate(runtime, now=due_at)
        after_failure = {
            t: revalidated(await markers(runtime, t, c)) for t, c in connections.items()
        }
        rows_after_failure = {t: await rows(runtime, t) for t in connections}

        second = await revalidate(runtime, now=due_at)
        after_second = {
            t: revalidated(await markers(runtime, t, c)) for t, c in connections.items()
        }

    assert (failing.tenants, failing.evaluated, failing.failed) == (2, 2, 2), failing
    assert after_failure[acme] == set(), "acme's failures are not marked evaluated"
    assert len(after_failure[globex]) == 2, "globex still gets its batch of two"
    assert rows_after_failure[globex].verifications == 5 + 2
    assert rows_after_failure[acme].verifications == 5, "nothing half-written for acme"

    assert (second.evaluated, second.failed) == (4, 0), second
    assert len(after_second[acme]) == 2, "acme's failed applications are tried again"
    assert len(after_second[globex]) == 4, "globex's backlog moves on by one batch"

"""The standard tests every AtsConnector passes, against its fake server over real HTTP.

A test module subclasses `AtsConnectorContract` and provides a `harness` fixture: a started
(connector, fake server) pair exposing `connector(session, ...)`, `seed_applications`,
`seed_job`, `script(operation, *faults)`, `faults_pending()`, `clear_faults()`, `notes(id)`
and `fields(id)` (see tests/fakes/ats.py). Operations: list_applications, list_jobs,
read_application, post_note, set_fields. Faults: HTTP statuses, "timeout" (applied but
answered too late) and "reset".
"""

from __future__ import annotations

import base64
import hashlib
import socket
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from connectors.base import (
    ApplicationRef,
    AtsConnector,
    JobRef,
    MatchUpdate,
    Page,
)
from connectors.errors import AuthError, PermanentError, TransientError
from tests.fakes.ats import BASE_TIME, SleepRecorder, sample_credential


def make_update(application_id: str, *, score: int = 81, band: str = "strong") -> MatchUpdate:
    summary = f"Meets 4 of 5 required skills with verified evidence (score {score})."
    digest = hashlib.sha256(f"{application_id}|{score}|{band}|{summary}".encode()).hexdigest()
    return MatchUpdate(
        application_external_id=application_id,
        candidate_external_id="c-1",
        job_external_id="j-1",
        score=score,
        band=band,
        summary=summary,
        top_skills=("SQL", "Python", "Data modelling"),
        gaps=("Airflow",),
        credentials_verified=4,
        credentials_rejected=1,
        evidence_url=f"https://skillproof.example/evidence/{application_id}",
        versions={"algorithm": "1", "profile": "3", "taxonomy": "starter-1"},
        computed_at=datetime(2026, 3, 3, 12, 0, tzinfo=UTC),
        payload_hash=digest,
    )


async def collect(pages: Any) -> list[Page[Any]]:
    return [page async for page in pages]


class AtsConnectorContract:
    """Behaviour the sync pipeline relies on from every ATS connector."""

    async def test_connector_satisfies_the_protocol(
        self, harness: Any, session: aiohttp.ClientSession
    ) -> None:
        connector = harness.connector(session)
        assert isinstance(connector, AtsConnector), "connector must implement AtsConnector"
        assert connector.kind, "connector must declare its kind"

    async def test_check_passes_with_a_valid_key(
        self, harness: Any, session: aiohttp.ClientSession
    ) -> None:
        await harness.connector(session).check()

    async def test_check_raises_auth_error_with_a_bad_key(
        self, harness: Any, session: aiohttp.ClientSession
    ) -> None:
        with pytest.raises(AuthError) as caught:
            await harness.connector(session, api_key="wrong-key-123456").check()
        assert caught.value.status == 401
        assert "wrong-key-123456" not in str(caught.value), "the key must not appear in errors"

    async def test_iterates_every_page_and_returns_each_application_once(
        self, harness: Any, session: aiohttp.ClientSession
    ) -> None:
        seeded = harness.seed_applications(120)
        pages = await collect(harness.connector(session).iter_applications(since=None))
        ids = [a.external_id for page in pages for a in page.items]
        sizes = [len(p.items) for p in pages]
        assert len(pages) >= 3, f"120 items at 50 per page, got {sizes}"
        assert max(sizes) <= 50, f"no page larger than asked for, got {sizes}"
        assert sorted(ids) == sorted(seeded), "every application exactly once"
        assert pages[-1].next_cursor is None
        assert all(p.next_cursor for p in pages[:-1])
        assert all(isinstance(a, ApplicationRef) for p in pages for a in p.items)

    async def test_applications_carry_candidate_and_untouched_credentials(
        self, harness: Any, session: aiohttp.ClientSession
    ) -> None:
        credential = sample_credential()
        harness.seed_applications(2, credentials=[credential])
        pages = await collect(harness.connector(session).iter_applications(since=None))
        first = pages[0].items[0]
        assert first.candidate.emails == ("c0@example.org",)
        assert first.candidate.verified_emails == ("c0@example.org",), "verified flag is kept"
        assert pages[0].items[1].candidate.verified_emails == ()
        assert [c.payload for c in first.credentials] == [credential.content], "bytes untouched"
        assert first.credentials[0].media_type == "application/json"
        assert first.updated_at.tzinfo is not None, "timestamps must be aware"

    async def test_since_skips_applications_updated_before_it(
        self, harness: Any, session: aiohttp.ClientSession
    ) -> None:
        seeded = harness.seed_applications(10, step=timedelta(hours=1))
        since = BASE_TIME + timedelta(hours=6)
        pages = await collect(harness.connector(session).iter_applications(since=since))
        ids = [a.external_id for page in pages for a in page.items]
        assert sorted(ids) == sorted(seeded[6:]), "only applications updated at/after since"
        assert all(a.updated_at >= since for page in pages for a in page.items)

    async def test_empty_account_yields_no_applications(
        self, harness: Any, session: aiohttp.ClientSession
    ) -> None:
        pages = await collect(harness.connector(session).iter_applications(since=None))
        assert [a for page in pages for a in page.items] == []

    async def test_jobs_are_listed_and_fetched(
        self, harness: Any, session: aiohttp.ClientSession
    ) -> None:
        job_id = harness.seed_job("Analytics Engineer")
        connector = harness.connector(session)
        jobs = [j for page in await collect(connector.iter_jobs()) for j in page.items]
        assert [j.title for j in jobs] == ["Analytics Engineer"]
        job = await connector.get_job(job_id)
        assert isinstance(job, JobRef)
        assert job.external_id == job_id
        assert job.department == "Engineering"

    async def test_unknown_job_is_a_permanent_error(
        self, harness: Any, session: aiohttp.ClientSession
    ) -> None:
        with pytest.raises(PermanentError) as caught:
            await harness.connector(session).get_job("999999")
        assert caught.value.status == 404

    async def test_a_transient_failure_is_retried(
        self, harness: Any, session: aiohttp.ClientSession
    ) -> None:
        harness.seed_applications(3)
        harness.script("list_applications", 500)
        sleep = SleepRecorder()
        pages = await collect(harness.connector(session, sleep=sleep).iter_applications(since=None))
        assert sum(len(p.items) for p in pages) == 3, "the retry must succeed"
        assert len(sleep.delays) == 1, f"one backoff expected, slept {sleep.delays}"
        assert harness.faults_pending() == 0, "the scripted fault must have been served"

    async def test_retry_after_on_429_is_honoured(
        self, harness: Any, session: aiohttp.ClientSession
    ) -> None:
        harness.seed_applications(1)
        harness.script("list_applications", 429)
        sleep = SleepRecorder()
        pages = await collect(harness.connector(session, sleep=sleep).iter_applications(since=None))
        assert sum(len(p.items) for p in pages) == 1
        assert sleep.delays == [1.0], "must wait exactly the server's Retry-After"
        assert harness.faults_pending() == 0, "the scripted fault must have been served"

    async def test_persistent_5xx_surfaces_as_transient_error_with_retry_after(
        self, harness: Any, session: aiohttp.ClientSession
    ) -> None:
        harness.script("list_applications", *[503] * 10)
        sleep = SleepRecorder()
        connector = harness.connector(session, sleep=sleep, options={"max_attempts": 3})
        with pytest.raises(TransientError) as caught:
            await collect(connector.iter_applications(since=None))
        assert caught.value.status == 503
        assert caught.value.retry_after is not None
        assert caught.value.retry_after > 0
        assert len(sleep.delays) == 2, "bounded: 3 attempts, 2 waits, then the outbox takes over"

    async def test_401_is_an_auth_error(self, harness: Any, session: aiohttp.ClientSession) -> None:
        harness.script("list_jobs", 401)
        with pytest.raises(AuthError):
            await collect(harness.connector(session).iter_jobs())

    async def test_422_is_a_permanent_error_with_a_redacted_message(
        self, harness: Any, session: aiohttp.ClientSession
    ) -> None:
        harness.script("list_jobs", 422)
        sleep = SleepRecorder()
        with pytest.raises(PermanentError) as caught:
            await collect(harness.connector(session, sleep=sleep).iter_jobs())
        error = caught.value
        basic = base64.b64encode(f"{harness.api_key}:".encode()).decode()
        for text in (str(error), error.body_excerpt, repr(error.args)):
            assert harness.api_key not in text, f"API key leaked: {text}"
            assert basic not in text, f"Basic credentials leaked: {text}"
        assert error.status == 422
        assert error.body_excerpt, "keeps a short body excerpt for the dead-letter record"
        assert sleep.delays == [], "a 4xx is never retried"

    async def test_unreachable_server_is_a_transient_error(
        self, harness: Any, session: aiohttp.ClientSession
    ) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        connector = harness.connector(
            session, base_url=f"http://127.0.0.1:{port}/", options={"max_attempts": 2}
        )
        with pytest.raises(TransientError):
            await connector.check()

    async def test_push_match_is_idempotent(
        self, harness: Any, session: aiohttp.ClientSession
    ) -> None:
        [application_id] = harness.seed_applications(1)
        connector = harness.connector(session)
        update = make_update(application_id)
        first = await connector.push_match(update, idempotency_key="outbox-1")
        second = await connector.push_match(update, idempotency_key="outbox-1")
        assert first.outcome == "created"
        assert second.outcome == "unchanged", "the same payload must not be written again"
        assert len(harness.notes(application_id)) == 1, "exactly one note per payload"
        fields = harness.fields(application_id)
        assert fields["skillproof_score"] == 81
        assert fields["skillproof_band"] == "strong"
        assert fields["skillproof_payload_hash"] == update.payload_hash

    async def test_a_changed_match_updates_fields_and_adds_one_note(
        self, harness: Any, session: aiohttp.ClientSession
    ) -> None:
        [application_id] = harness.seed_applications(1)
        connector = harness.connector(session)
        await connector.push_match(make_update(application_id), idempotency_key="k1")
        receipt = await connector.push_match(
            make_update(application_id, score=55, band="partial"), idempotency_key="k2"
        )
        assert receipt.outcome == "updated"
        assert len(harness.notes(application_id)) == 2, "one note per distinct payload"
        assert harness.fields(application_id)["skillproof_score"] == 55, "latest value wins"

    @pytest.mark.parametrize("fault", ["timeout", 502])
    async def test_an_ambiguous_note_failure_still_leaves_exactly_one_note(
        self, harness: Any, session: aiohttp.ClientSession, fault: int | str
    ) -> None:
        [application_id] = harness.seed_applications(1)
        # "timeout" applies the note but answers too late; a 502 is ambiguous in general.
        harness.script("post_note", fault)
        update = make_update(application_id)
        receipt = await harness.connector(session).push_match(update, idempotency_key="k1")
        assert receipt.outcome == "created"
        assert len(harness.notes(application_id)) == 1, harness.notes(application_id)
        assert harness.faults_pending() == 0, "the scripted fault must have been served"
        assert harness.fields(application_id)["skillproof_payload_hash"] == update.payload_hash

    async def test_a_reset_before_the_note_landed_posts_it_once(
        self, harness: Any, session: aiohttp.ClientSession
    ) -> None:
        [application_id] = harness.seed_applications(1)
        harness.script("post_note", "reset")
        await harness.connector(session).push_match(
            make_update(application_id), idempotency_key="k1"
        )
        assert len(harness.notes(application_id)) == 1
        assert harness.faults_pending() == 0, "the scripted fault must have been served"

    async def test_a_push_interrupted_after_the_note_completes_without_a_second_note(
        self, harness: Any, session: aiohttp.ClientSession
    ) -> None:
        [application_id] = harness.seed_applications(1)
        harness.script("set_fields", *[500] * 5)
        connector = harness.connector(session, options={"max_attempts": 2})
        update = make_update(application_id)
        with pytest.raises(TransientError):
            await connector.push_match(update, idempotency_key="k1")
        harness.clear_faults()
        # The outbox retries the whole push later.
        receipt = await connector.push_match(update, idempotency_key="k1")
        assert receipt.outcome == "created"
        assert len(harness.notes(application_id)) == 1, "the note from the first try is reused"

    async def test_a_timed_out_field_update_is_repeated_safely(
        self, harness: Any, session: aiohttp.ClientSession
    ) -> None:
        [application_id] = harness.seed_applications(1)
        harness.script("set_fields", "timeout")
        update = make_update(application_id)
        await harness.connector(session).push_match(update, idempotency_key="k1")
        assert harness.fields(application_id)["skillproof_payload_hash"] == update.payload_hash
        assert len(harness.notes(application_id)) == 1
        assert harness.faults_pending() == 0, "the scripted fault must have been served"

    async def test_pushing_to_an_unknown_application_is_permanent(
        self, harness: Any, session: aiohttp.ClientSession
    ) -> None:
        with pytest.raises(PermanentError) as caught:
            await harness.connector(session).push_match(make_update("424242"), idempotency_key="k1")
        assert caught.value.status == 404

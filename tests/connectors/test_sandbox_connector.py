"""Sandbox connector specifics beyond the contract: what a recruiter sees and odd answers."""

from __future__ import annotations

import dataclasses
from datetime import datetime

import aiohttp
import pytest
from aiohttp import web

from connectors.ats.sandbox import SandboxAtsConnector, note_marker
from connectors.ats.sandbox_api import _application_json
from connectors.ats.sandbox_state import SandboxState
from connectors.base import ConnectorConfig
from connectors.errors import AuthError, PermanentError
from tests.connectors.contract import collect, make_update
from tests.fakes.ats import SandboxHarness, ServerFactory, SleepRecorder


@pytest.fixture
async def harness(aiohttp_server: ServerFactory) -> SandboxHarness:
    pair = SandboxHarness()
    await pair.start(aiohttp_server)
    return pair


async def test_the_note_and_fields_read_well_for_a_recruiter(
    harness: SandboxHarness, session: aiohttp.ClientSession
) -> None:
    [app_id] = harness.seed_applications(1)
    update = make_update(app_id)
    connector = harness.connector(session, options={"note_visibility": "private"})
    await connector.push_match(update, idempotency_key="outbox-42")
    [note] = harness.state.applications[int(app_id)].notes
    assert note.visibility == "private"
    assert note.body.splitlines()[0] == "Skillproof match: 81/100 (strong)"
    assert "Top skills: SQL, Python, Data modelling" in note.body
    assert "Gaps: Airflow" in note.body
    assert note.body.endswith(note_marker(update.payload_hash))
    fields = harness.fields(app_id)
    assert fields["skillproof_versions"] == "algorithm=1; profile=3; taxonomy=starter-1"
    assert fields["skillproof_computed_at"] == "2026-03-03T12:00:00Z"
    writes = [p for p in harness.state.pushes if p.method != "GET"]
    assert {p.headers.get("Idempotency-Key") for p in writes} == {"outbox-42"}


async def test_a_missing_evidence_url_clears_the_field(
    harness: SandboxHarness, session: aiohttp.ClientSession
) -> None:
    [app_id] = harness.seed_applications(1)
    connector = harness.connector(session)
    await connector.push_match(make_update(app_id), idempotency_key="k1")
    assert "skillproof_evidence_url" in harness.fields(app_id)
    without = dataclasses.replace(make_update(app_id, score=40), evidence_url=None)
    await connector.push_match(without, idempotency_key="k2")
    assert "skillproof_evidence_url" not in harness.fields(app_id), "stale links are removed"


async def test_recruiter_notes_are_ignored_and_a_returning_score_is_noted_again(
    harness: SandboxHarness, session: aiohttp.ClientSession
) -> None:
    [app_id] = harness.seed_applications(1)
    harness.state.add_note(int(app_id), body="Great phone screen.", visibility="public")
    connector = harness.connector(session)
    first, second = make_update(app_id), make_update(app_id, score=50, band="partial")
    for n, update in enumerate((first, second, first)):
        await connector.push_match(update, idempotency_key=f"k{n}")
    bodies = harness.notes(app_id)
    assert bodies[0] == "Great phone screen.", "other notes are left alone"
    assert len(bodies) == 4, "A, B, then A again is history worth three notes"


async def test_naive_since_is_refused(
    harness: SandboxHarness, session: aiohttp.ClientSession
) -> None:
    with pytest.raises(PermanentError, match="timezone"):
        await collect(
            harness.connector(session).iter_applications(since=datetime(2026, 1, 1))  # noqa: DTZ001
        )


async def test_a_body_that_is_not_json_is_permanent(
    harness: SandboxHarness, session: aiohttp.ClientSession
) -> None:
    harness.script("list_jobs", "malformed")
    with pytest.raises(PermanentError, match="malformed JSON"):
        await collect(harness.connector(session).iter_jobs())


async def test_a_missing_api_key_is_an_auth_error(
    harness: SandboxHarness, session: aiohttp.ClientSession
) -> None:
    connector = SandboxAtsConnector(ConnectorConfig(base_url=harness.base_url, secrets={}), session)
    with pytest.raises(AuthError, match="api_key"):
        await connector.check()


async def _serve(aiohttp_server: ServerFactory, body: object, link: str | None = None) -> str:
    async def handler(request: web.Request) -> web.Response:
        headers = {"Link": link.format(url=request.url)} if link else {}
        return web.json_response(body, headers=headers)

    app = web.Application()
    app.router.add_get("/v1/applications", handler)
    server = await aiohttp_server(app)
    return str(server.make_url("/"))


@pytest.mark.parametrize(
    "body",
    [
        [{"id": 1, "status": "active"}],
        [{"id": 1, "candidate": {"id": 2}, "jobs": [], "status": "x", "updated_at": "now"}],
        {"not": "a list"},
    ],
    ids=["no-candidate", "bad-fields", "not-a-list"],
)
async def test_malformed_applications_are_permanent(
    aiohttp_server: ServerFactory, session: aiohttp.ClientSession, body: object
) -> None:
    base_url = await _serve(aiohttp_server, body)
    connector = SandboxAtsConnector(
        ConnectorConfig(base_url=base_url, secrets={"api_key": "k-123456"}), session
    )
    with pytest.raises(PermanentError):
        await collect(connector.iter_applications(since=None))


async def test_a_link_loop_is_detected(
    aiohttp_server: ServerFactory, session: aiohttp.ClientSession
) -> None:
    """A server that always claims there is more, with nothing new, must not loop forever."""
    state = SandboxState()
    job = state.add_job(name="Analyst")
    candidate = state.add_candidate(first_name="Ada", last_name="L", emails=["a@example.com"])
    application = state.add_application(candidate_id=candidate.id, job_id=job.id)
    body = [_application_json(state, application)]
    base_url = await _serve(aiohttp_server, body, link='<{url}>; rel="next"')
    connector = SandboxAtsConnector(
        ConnectorConfig(base_url=base_url, secrets={"api_key": "k-123456"}),
        session,
        sleep=SleepRecorder(),
    )
    with pytest.raises(PermanentError, match="already read"):
        await collect(connector.iter_applications(since=None))

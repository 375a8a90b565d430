"""The sandbox ATS itself: auth, paging, pushes, snapshots, rate limits, faults and its page."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from connectors.ats.sandbox_server import (
    CredentialSeed,
    FaultPlan,
    SandboxState,
    create_sandbox_app,
)
from tests.fakes.ats import SANDBOX_API_KEY, sample_credential, seed_applications

ClientFactory = Callable[[Any], Awaitable[TestClient[Any, Any]]]
AUTH = {"Authorization": "Basic " + base64.b64encode(f"{SANDBOX_API_KEY}:".encode()).decode()}
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\xff\xfe"


async def sandbox(
    aiohttp_client: ClientFactory, state: SandboxState | None = None, **kwargs: Any
) -> TestClient[Any, Any]:
    app = create_sandbox_app(api_keys=[SANDBOX_API_KEY], state=state, **kwargs)
    return await aiohttp_client(app)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Basic " + base64.b64encode(b"not-the-key:").decode()},
        {"Authorization": "Bearer " + SANDBOX_API_KEY},
        {"Authorization": "Basic %%%not-base64"},
    ],
    ids=["missing", "wrong-key", "wrong-scheme", "garbled"],
)
async def test_api_requires_basic_auth_with_a_known_key(
    aiohttp_client: ClientFactory, headers: dict[str, str]
) -> None:
    client = await sandbox(aiohttp_client)
    response = await client.get("/v1/jobs", headers=headers)
    assert response.status == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert (await response.json())["message"], "errors are JSON like the real API"
    assert (await client.get("/v1/jobs", headers=AUTH)).status == 200


async def test_unknown_routes_and_ids_answer_json_404(aiohttp_client: ClientFactory) -> None:
    client = await sandbox(aiohttp_client)
    for path in ("/v1/nothing-here", "/v1/jobs/77"):
        response = await client.get(path, headers=AUTH)
        assert response.status == 404, path
        assert "message" in await response.json(), path


async def test_paging_uses_link_headers(aiohttp_client: ClientFactory) -> None:
    state = SandboxState()
    for n in range(5):
        state.add_job(name=f"Job {n}")
    client = await sandbox(aiohttp_client, state, page_size_max=3)
    first = await client.get("/v1/jobs", params={"per_page": 2}, headers=AUTH)
    assert [j["name"] for j in await first.json()] == ["Job 0", "Job 1"]
    assert str(first.links["next"]["url"]).endswith("per_page=2&page=2")
    assert str(first.links["last"]["url"]).endswith("page=3")
    assert "prev" not in first.links
    last = await client.session.get(first.links["last"]["url"], headers=AUTH)
    assert [j["name"] for j in await last.json()] == ["Job 4"]
    assert "next" not in last.links, "the last page has no next link"
    clamped = await client.get("/v1/jobs", params={"per_page": 500}, headers=AUTH)
    assert len(await clamped.json()) == 3, "per_page is capped at page_size_max"
    bad = await client.get("/v1/jobs", params={"per_page": "lots"}, headers=AUTH)
    assert bad.status == 422


async def test_applications_embed_candidate_and_base64_credentials(
    aiohttp_client: ClientFactory,
) -> None:
    state = SandboxState()
    job = state.add_job(name="Data Engineer")
    candidate = state.add_candidate(
        first_name="Ada",
        last_name="Lovelace",
        emails=["ada@home.example"],
        verified_emails=["ada@work.example"],
        dids=["did:example:ada"],
    )
    seed = CredentialSeed(media_type="image/png", content=PNG)
    application = state.add_application(
        candidate_id=candidate.id, job_id=job.id, credentials=[seed]
    )
    client = await sandbox(aiohttp_client, state)
    body = await (await client.get(f"/v1/applications/{application.id}", headers=AUTH)).json()
    assert body["jobs"] == [{"id": job.id, "name": "Data Engineer"}]
    assert body["candidate"]["email_addresses"] == [
        {"value": "ada@home.example", "type": "personal", "verified": False},
        {"value": "ada@work.example", "type": "personal", "verified": True},
    ]
    [attachment] = body["attachments"]
    assert attachment["content_type"] == "image/png"
    assert base64.b64decode(attachment["content"]) == PNG, "binary credentials round-trip"
    candidate_body = await (await client.get(f"/v1/candidates/{candidate.id}", headers=AUTH)).json()
    assert candidate_body["application_ids"] == [application.id]
    assert candidate_body["custom_fields"]["dids"] == ["did:example:ada"]


async def test_updated_after_must_be_a_timestamp(aiohttp_client: ClientFactory) -> None:
    client = await sandbox(aiohttp_client)
    response = await client.get(
        "/v1/applications", params={"updated_after": "yesterday"}, headers=AUTH
    )
    assert response.status == 422


async def test_custom_fields_are_set_cleared_and_blank_values_refused(
    aiohttp_client: ClientFactory,
) -> None:
    state = SandboxState()
    [app_id] = seed_applications(state, 1)
    client = await sandbox(aiohttp_client, state)
    path = f"/v1/applications/{app_id}/custom_fields"
    ok = await client.patch(
        path, json={"custom_fields": [{"name_key": "skillproof_score", "value": 70}]}, headers=AUTH
    )
    assert ok.status == 200
    assert state.applications[int(app_id)].custom_fields == {"skillproof_score": 70}
    blank = await client.patch(
        path, json={"custom_fields": [{"name_key": "skillproof_score", "value": ""}]}, headers=AUTH
    )
    assert blank.status == 422, "blank values are refused as in Harvest"
    cleared = await client.patch(
        path,
        json={"custom_fields": [{"name_key": "skillproof_score", "delete_value": "true"}]},
        headers=AUTH,
    )
    assert cleared.status == 200
    assert state.applications[int(app_id)].custom_fields == {}
    malformed = await client.patch(path, json={"custom_fields": "score=1"}, headers=AUTH)
    assert malformed.status == 422


async def test_every_write_is_recorded_without_credentials(aiohttp_client: ClientFactory) -> None:
    state = SandboxState()
    [app_id] = seed_applications(state, 1)
    client = await sandbox(aiohttp_client, state)
    await client.post(
        f"/v1/applications/{app_id}/notes",
        json={"body": "hello", "visibility": "public"},
        headers={**AUTH, "Idempotency-Key": "outbox-7"},
    )
    await client.post(f"/v1/applications/{app_id}/notes", json={"body": ""}, headers=AUTH)
    pushes = await (await client.get("/v1/_pushes", headers=AUTH)).json()
    assert [(p["method"], p["outcome"]) for p in pushes] == [("POST", "201"), ("POST", "422")]
    assert pushes[0]["body"] == {"body": "hello", "visibility": "public"}
    assert pushes[0]["headers"]["Idempotency-Key"] == "outbox-7"
    assert all("Authorization" not in p["headers"] for p in pushes), "auth is never stored"


async def test_pushes_page_lists_pushes_and_escapes_their_content(
    aiohttp_client: ClientFactory,
) -> None:
    state = SandboxState()
    [app_id] = seed_applications(state, 1)
    client = await sandbox(aiohttp_client, state)
    fields = [
        {"name_key": "skillproof_score", "value": 64},
        {"name_key": "skillproof_band", "value": "partial"},
        {"name_key": "skillproof_summary", "value": "<script>alert(1)</script>"},
        {"name_key": "skillproof_evidence_url", "value": "javascript:alert(1)"},
    ]
    await client.patch(
        f"/v1/applications/{app_id}/custom_fields",
        json={"custom_fields": fields},
        headers={**AUTH, "Idempotency-Key": "outbox-9"},
    )
    for path in ("/", "/pushes"):
        response = await client.get(path)  # a page for people: no API key needed
        assert response.status == 200
        assert response.content_type == "text/html"
        html = await response.text()
        assert f"PATCH /v1/applications/{app_id}/custom_fields" in html
        assert "outbox-9" in html, "the idempotency key is shown"
        assert "<script>alert(1)" not in html, "pushed content must be escaped"
        assert "&lt;script&gt;" in html
        assert 'href="javascript:' not in html, "only http(s) evidence links become links"
        assert "<strong>64</strong>/100 · partial" in html


async def test_empty_pushes_page(aiohttp_client: ClientFactory) -> None:
    client = await sandbox(aiohttp_client)
    assert "No pushes yet." in await (await client.get("/")).text()


async def test_snapshot_round_trip_keeps_everything(
    aiohttp_client: ClientFactory, tmp_path: Path
) -> None:
    state = SandboxState()
    [app_id] = seed_applications(state, 1, credentials=[sample_credential()])
    state.attach_credential(int(app_id), CredentialSeed(media_type="image/png", content=PNG))
    state.add_note(int(app_id), body="first [sp:0123abcd]", visibility="public")
    state.applications[int(app_id)].custom_fields["skillproof_score"] = 12
    state.record_push(method="PATCH", path="/x", headers={}, body={"a": 1}, outcome="200")
    snapshot = tmp_path / "sandbox.json"
    state.save(snapshot)
    loaded = SandboxState.load(snapshot)
    assert loaded.to_json() == state.to_json(), "a snapshot restores the same state"
    assert loaded.applications[int(app_id)].attachments[1].content == PNG
    # Ids keep counting from where they were, so new objects never collide with old ones.
    assert loaded.add_job(name="Next").id == max(state.jobs) + 1
    client = await sandbox(aiohttp_client, loaded)
    body = await (await client.get(f"/v1/applications/{app_id}", headers=AUTH)).json()
    assert body["custom_fields"] == {"skillproof_score": 12}


async def test_a_snapshot_path_makes_the_sandbox_survive_a_restart(
    aiohttp_client: ClientFactory, tmp_path: Path
) -> None:
    snapshot = tmp_path / "demo" / "sandbox.json"
    state = SandboxState()
    [app_id] = seed_applications(state, 1)
    first = await sandbox(aiohttp_client, state, snapshot_path=snapshot)
    await first.post(f"/v1/applications/{app_id}/notes", json={"body": "kept"}, headers=AUTH)
    assert snapshot.is_file(), "writes are saved as they happen"
    restarted = await sandbox(aiohttp_client, snapshot_path=snapshot)
    notes = await (await restarted.get(f"/v1/applications/{app_id}/notes", headers=AUTH)).json()
    assert [n["body"] for n in notes] == ["kept"]
    assert "kept" in await (await restarted.get("/")).text()


def test_a_snapshot_from_another_version_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="version"):
        SandboxState.from_json({"version": 99})


async def test_rate_limit_answers_429_with_retry_after_and_headers(
    aiohttp_client: ClientFactory,
) -> None:
    client = await sandbox(aiohttp_client, rate_limit=(0.5, 2))
    statuses = [(await client.get("/v1/jobs", headers=AUTH)) for _ in range(3)]
    assert [r.status for r in statuses] == [200, 200, 429]
    assert statuses[0].headers["X-RateLimit-Limit"] == "2"
    assert statuses[1].headers["X-RateLimit-Remaining"] == "0"
    limited = statuses[2]
    assert int(limited.headers["Retry-After"]) >= 1
    assert int(limited.headers["X-RateLimit-Reset"]) > 1_000_000_000, "an epoch timestamp"


async def test_fault_plan_serves_faults_in_order_then_recovers(
    aiohttp_client: ClientFactory,
) -> None:
    plan = FaultPlan(retry_after=7).add("GET /v1/jobs", 500, 429, "malformed", 200)
    client = await sandbox(aiohttp_client, faults=plan)
    first, second, third, fourth, fifth = [
        await client.get("/v1/jobs", headers=AUTH) for _ in range(5)
    ]
    assert first.status == 500
    assert second.status == 429
    assert second.headers["Retry-After"] == "7"
    assert third.status == 200
    with pytest.raises(ValueError, match="JSON|Expecting"):
        await third.json()
    assert (fourth.status, fifth.status) == (200, 200)
    assert plan.pending() == 0


async def test_a_reset_fault_drops_the_connection_without_applying_the_write(
    aiohttp_client: ClientFactory,
) -> None:
    state = SandboxState()
    [app_id] = seed_applications(state, 1)
    plan = FaultPlan().add("POST /v1/applications/{id}/notes", "reset")
    client = await sandbox(aiohttp_client, state, faults=plan)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await client.post(f"/v1/applications/{app_id}/notes", json={"body": "x"}, headers=AUTH)
    assert state.applications[int(app_id)].notes == []
    assert [p.outcome for p in state.pushes] == ["reset"]


async def test_a_timeout_fault_applies_the_write_but_answers_too_late(
    aiohttp_client: ClientFactory,
) -> None:
    state = SandboxState()
    [app_id] = seed_applications(state, 1)
    plan = FaultPlan(hang_seconds=0.5).add("POST /v1/applications/{id}/notes", "timeout")
    client = await sandbox(aiohttp_client, state, faults=plan)
    with pytest.raises(asyncio.TimeoutError):
        await client.post(
            f"/v1/applications/{app_id}/notes",
            json={"body": "landed"},
            headers=AUTH,
            timeout=aiohttp.ClientTimeout(total=0.1),
        )
    assert [n.body for n in state.applications[int(app_id)].notes] == ["landed"]
    assert [p.outcome for p in state.pushes] == ["timeout"]


@pytest.mark.parametrize(
    ("route", "faults"),
    [("jobs", (500,)), ("GET /v1/jobs", ("explode",)), ("GET /v1/jobs", (99,))],
)
def test_fault_plan_rejects_nonsense(route: str, faults: tuple[Any, ...]) -> None:
    with pytest.raises(ValueError, match="route|fault"):
        FaultPlan().add(route, *faults)


def test_the_sandbox_needs_an_api_key() -> None:
    with pytest.raises(ValueError, match="API key"):
        create_sandbox_app(api_keys=[])

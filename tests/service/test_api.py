"""The HTTP API: authentication, tenant isolation and clear refusals that store nothing."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import aiohttp
import pytest
from sqlmodel import func, select

from connectors.ats.sandbox_server import create_sandbox_app
from service.app import create_app
from service.cli import migrate
from service.db import unit_of_work
from service.models import ApiKey, AuditEvent, RawCredential
from service.runtime import Runtime, open_runtime
from tests.service.support import Api, SeededTenant, baked_png, make_settings

PROBLEM = "application/problem+json"


async def _stored(runtime: Runtime) -> int:
    async with runtime.sessions() as session:
        return (await session.exec(select(func.count()).select_from(RawCredential))).one()


async def test_healthz_reports_the_database(api: Api) -> None:
    response = await api.client.get("/healthz")
    assert response.status == 200
    assert (await response.json())["status"] == "ok"


async def test_healthz_is_unavailable_until_the_schema_is_migrated(
    tmp_path: Path, aiohttp_client: object
) -> None:
    """A fresh database answers SELECT 1, but every request would fail on missing tables."""
    url = f"sqlite+aiosqlite:///{tmp_path}/unmigrated.db"
    settings = make_settings(url, tmp_path)
    async with open_runtime(settings) as runtime:
        client = await aiohttp_client(create_app(settings, runtime=runtime))  # type: ignore[operator]
        response = await client.get("/healthz")
        assert response.status == 503
        assert "skillproof migrate" in (await response.json())["schema"]
        await asyncio.to_thread(migrate, url)  # Alembic runs its own event loop
        assert (await client.get("/healthz")).status == 200


async def test_metrics_are_exposed(api: Api) -> None:
    await api.client.get("/healthz")
    body = await (await api.client.get("/metrics")).text()
    assert "skillproof_http_requests_total" in body


async def test_api_requires_a_valid_key(api: Api) -> None:
    response = await api.client.get("/api/v1/applications")
    assert response.status == 401
    assert response.content_type == PROBLEM
    response = await api.client.get(
        "/api/v1/applications", headers={"Authorization": "Bearer sp_not-a-real-key-at-all"}
    )
    assert response.status == 401


async def test_another_tenants_application_is_not_found(api: Api) -> None:
    mine = await api.client.get(
        f"/api/v1/applications/{api.acme.application_id}", headers=api.auth(api.acme)
    )
    assert mine.status == 200
    theirs = await api.client.get(
        f"/api/v1/applications/{api.globex.application_id}", headers=api.auth(api.acme)
    )
    assert theirs.status == 404, "another tenant's object must look exactly like a missing one"
    posted = await api.client.post(
        f"/api/v1/applications/{api.globex.application_id}/credentials",
        data=b'{"@context": ["https://www.w3.org/ns/credentials/v2"]}',
        headers={**api.auth(api.acme), "Content-Type": "application/json"},
    )
    assert posted.status == 404
    assert await _stored(api.runtime) == 0
    listing = await (
        await api.client.get("/api/v1/applications", headers=api.auth(api.acme))
    ).json()
    assert [a["id"] for a in listing["applications"]] == [api.acme.application_id]


@pytest.mark.parametrize(
    ("body", "content_type", "status", "phrase"),
    [
        (b"this is not json", "application/json", 400, "not valid JSON"),
        (b'{"hello": "world"}', "application/json", 415, "@context"),
        (b"GIF89a....", "application/octet-stream", 415, "unrecognised"),
        (b'{"url": "http://127.0.0.1:9/badge.json"}', "application/json", 400, "cannot fetch"),
        (
            b'{"url": "https://169.254.169.254/latest/meta-data"}',
            "application/json",
            400,
            "cannot fetch",
        ),
        (b"x" * 10_000_000, "application/json", 413, "limit"),
    ],
    ids=["not-json", "unknown-json", "unknown-format", "loopback-url", "metadata-url", "10MB"],
)
async def test_bad_credentials_are_refused_clearly_and_store_nothing(
    api: Api, body: bytes, content_type: str, status: int, phrase: str
) -> None:
    response = await api.client.post(
        f"/api/v1/applications/{api.acme.application_id}/credentials",
        data=io.BytesIO(body),
        headers={**api.auth(api.acme), "Content-Type": content_type},
    )
    assert response.status == status, await response.text()
    assert response.content_type == PROBLEM
    problem = await response.json()
    assert phrase in problem["detail"], problem
    assert await _stored(api.runtime) == 0, "a refused credential must leave nothing behind"
    async with api.runtime.sessions() as session:
        events = (await session.exec(select(func.count()).select_from(AuditEvent))).one()
    assert events == 0


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_a_large_credential_arriving_in_pieces_is_stored_whole(
    api: Api, chunked: bool
) -> None:
    """The body reaches the server in pieces; all of it is stored, under its own SHA-256."""
    credential = {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "issuer": "did:example:issuer",
        "credentialSubject": {"description": "x" * 180_000},
    }
    body = json.dumps(credential).encode()
    assert 180_000 < len(body) <= 200_000, "just under the fixture's limit"

    async def pieces() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 16_384):
            yield body[start : start + 16_384]
            await asyncio.sleep(0.005)  # the server reads while the rest is still on its way

    headers = {**api.auth(api.acme), "Content-Type": "application/json"}
    if not chunked:
        headers["Content-Length"] = str(len(body))
    response = await api.client.post(
        f"/api/v1/applications/{api.acme.application_id}/credentials",
        data=pieces(),
        headers=headers,
    )
    assert response.status == 201, await response.text()
    async with api.runtime.sessions() as session:
        [stored] = (await session.exec(select(RawCredential))).all()
    assert stored.content == body, f"stored {len(stored.content)} of {len(body)} bytes"
    assert stored.sha256 == hashlib.sha256(body).hexdigest()


async def test_a_credential_with_a_nul_character_is_stored_and_evaluated(api: Api) -> None:
    """JSON may escape U+0000 anywhere; PostgreSQL text cannot hold it. Nothing may fail on it."""
    credential = {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "issuer": {"id": "did:example:issuer\u0000", "name": "Issuer\u0000"},
        "credentialSubject": {"achievement": {"name": "SQL\u0000 basics"}},
    }
    body = json.dumps(credential).encode()
    response = await api.client.post(
        f"/api/v1/applications/{api.acme.application_id}/credentials",
        data=body,
        headers={**api.auth(api.acme), "Content-Type": "application/json"},
    )
    assert response.status == 201, await response.text()
    async with api.runtime.sessions() as session:
        [stored] = (await session.exec(select(RawCredential))).all()
    assert stored.content == body, "the raw credential is kept exactly as received"
    detail = await api.client.get(
        f"/api/v1/applications/{api.acme.application_id}", headers=api.auth(api.acme)
    )
    assert detail.status == 200, await detail.text()
    again = await api.client.post(
        f"/api/v1/applications/{api.acme.application_id}/evaluate", headers=api.auth(api.acme)
    )
    assert again.status == 200, await again.text()


async def test_a_baked_badge_picked_in_a_browser_form_is_stored(api: Api) -> None:
    credential = (
        b'{"@context": ["https://www.w3.org/ns/credentials/v2"], "type": ["VerifiableCredential"]}'
    )
    png = baked_png((b"iTXt", b"openbadges\x00\x00\x00\x00\x00" + credential))
    form = aiohttp.FormData()
    form.add_field("file", png, filename="badge.png", content_type="image/png")
    response = await api.client.post(
        f"/api/v1/applications/{api.acme.application_id}/credentials",
        data=form,
        headers=api.auth(api.acme),
    )
    assert response.status == 201, await response.text()
    async with api.runtime.sessions() as session:
        [stored] = (await session.exec(select(RawCredential))).all()
    assert (stored.content, stored.media_type) == (png, "image/png")


async def test_a_chunked_body_over_the_limit_is_refused(api: Api) -> None:
    async def pieces() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b"x" * 16_384
            await asyncio.sleep(0.005)

    response = await api.client.post(
        f"/api/v1/applications/{api.acme.application_id}/credentials",
        data=pieces(),
        headers={**api.auth(api.acme), "Content-Type": "application/json"},
    )
    assert response.status == 413, await response.text()
    assert await _stored(api.runtime) == 0


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("multipart/form-data; boundary=xyz", b'{"not": "multipart"}'),
        ("multipart/form-data", b"abc"),
    ],
    ids=["no-starting-boundary", "no-boundary-parameter"],
)
async def test_a_malformed_multipart_upload_is_a_bad_request(
    api: Api, content_type: str, body: bytes
) -> None:
    response = await api.client.post(
        "/api/v1/verify", data=body, headers={**api.auth(api.acme), "Content-Type": content_type}
    )
    assert response.status == 400, await response.text()
    assert response.content_type == PROBLEM
    assert "multipart" in (await response.json())["detail"]


async def test_unknown_route_is_a_problem_document(api: Api) -> None:
    response = await api.client.get("/api/v1/nope", headers=api.auth(api.acme))
    assert response.status == 404
    assert response.content_type == PROBLEM


async def test_pages_require_sign_in_and_sign_in_works(api: Api) -> None:
    response = await api.client.get("/", allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"] == "/login"
    bad = await api.client.post("/login", data={"key": "sp_wrong-key-wrong-key"})
    assert bad.status == 401
    good = await api.client.post("/login", data={"key": api.acme.api_key})
    assert good.status == 200
    assert "Applications" in await good.text()


async def test_a_session_ends_when_its_api_key_is_revoked(api: Api) -> None:
    signed_in = await api.client.post("/login", data={"key": api.acme.api_key})
    assert signed_in.status == 200
    assert (await api.client.get("/api/v1/applications")).status == 200, "the cookie works"

    async with unit_of_work(api.runtime.sessions) as session:
        mine = select(ApiKey).where(ApiKey.tenant_id == api.acme.tenant_id)
        [key] = (await session.exec(mine)).all()
        key.revoked_at = datetime.now(UTC)
        session.add(key)

    response = await api.client.get("/api/v1/applications")
    assert response.status == 401, "a revoked key's session must not outlive it"
    created = await api.client.post(
        "/api/v1/trusted-issuers", json={"issuer_id": "did:key:z6MkLate", "tier": "platform"}
    )
    assert created.status == 401
    page = await api.client.get("/", allow_redirects=False)
    assert (page.status, page.headers["Location"]) == (303, "/login")


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/v1/applications/a%00b", None),
        ("GET", "/applications/a%00b", None),
        ("POST", "/api/v1/connections/a%00b/sync", None),
        ("DELETE", "/api/v1/trusted-issuers/a%00b", None),
        ("GET", "/api/v1/taxonomies/skillproof-starter/search?q=sq%00l", None),
        ("POST", "/api/v1/trusted-issuers", {"issuer_id": "did:key:\u0000x", "tier": "platform"}),
        ("POST", "/api/v1/trusted-issuers", {"issuer_id": "did:key:z", "name": "a\u0000"}),
        ("PUT", "/api/v1/taxonomies/skillproof-starter/overrides", {"phrase": "a\u0000b"}),
        (
            "POST",
            "/api/v1/taxonomies/skillproof-starter/occupation-choices",
            {"title": "Nurse\u0000", "occupation_id": "x"},
        ),
    ],
)
async def test_a_nul_character_is_a_bad_request_and_changes_nothing(
    api: Api, method: str, path: str, body: dict[str, str] | None
) -> None:
    """PostgreSQL text cannot hold NUL: refused up front, it is a 400 on either database."""
    response = await api.client.request(method, path, json=body, headers=api.auth(api.acme))
    assert response.status == 400, await response.text()
    if path.startswith("/api/"):
        assert response.content_type == PROBLEM
        assert "NUL" in (await response.json())["detail"]
    else:  # a page: a person reads the refusal
        assert response.content_type == "text/html"
        assert "NUL" in await response.text()
    async with api.runtime.sessions() as session:
        events = (await session.exec(select(func.count()).select_from(AuditEvent))).one()
    assert events == 0


async def test_a_key_with_a_nul_character_is_simply_not_a_key(api: Api) -> None:
    page = await api.client.post("/login", data={"key": "sp_ab\u0000cd_xxxxxxxxxxxxxxxxxxxxx"})
    assert page.status == 401
    assert "not valid" in await page.text()


async def test_every_response_carries_the_security_headers(api: Api) -> None:
    responses = [
        await api.client.get("/healthz"),
        await api.client.get("/api/v1/applications"),  # 401
        await api.client.get("/api/v1/applications", headers=api.auth(api.acme)),  # JSON
        await api.client.get("/api/v1/nope", headers=api.auth(api.acme)),  # 404
        await api.client.get("/", allow_redirects=False),  # 303 to /login
        await api.client.get("/login"),
        await api.client.get("/static/app.css"),
    ]
    for response in responses:
        assert response.headers.get("X-Content-Type-Options") == "nosniff", response.status
        assert response.headers.get("X-Frame-Options") == "DENY", response.status
        assert response.headers.get("Referrer-Policy") == "no-referrer", response.status
        policy = response.headers.get("Content-Security-Policy", "")
        directives = {d.split()[0]: d.split()[1:] for d in policy.split(";") if d.strip()}
        expected = {
            "default-src": ["'none'"],
            "script-src": ["'none'"],
            "style-src": ["'self'"],
            "form-action": ["'self'"],
            "frame-ancestors": ["'none'"],
            "base-uri": ["'none'"],
        }
        assert directives == expected, f"{response.url.path} ({response.status}): {policy!r}"


class _InlineCode(HTMLParser):
    """Collects what the Content-Security-Policy would refuse: <style>, <script>, style=, on*=."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in {"style", "script"}:
            self.found.append(f"<{tag}>")
        self.found += [f"<{tag} {n}=>" for n, _ in attrs if n == "style" or n.startswith("on")]


async def test_pages_use_no_inline_style_or_script(api: Api) -> None:
    """The policy allows neither: a page that used one would render broken."""
    assert (await api.client.post("/login", data={"key": api.acme.api_key})).status == 200
    for path in ("/", "/connections", f"/applications/{api.acme.application_id}", "/login"):
        page = await api.client.get(path)
        assert page.status == 200, path
        parser = _InlineCode()
        parser.feed(await page.text())
        assert parser.found == [], f"{path} has inline code the policy blocks: {parser.found}"


async def test_the_mounted_sandbox_page_keeps_a_policy_of_its_own(
    api: Api, aiohttp_client: object
) -> None:
    """`make run` mounts the sandbox ATS, whose page styles itself inline: the app's policy would
    leave it unstyled, so it sends its own, which still runs no script."""
    sandbox = create_sandbox_app(api_keys=["sandbox-key"])
    app = create_app(api.runtime.settings, runtime=api.runtime, sandbox_ats=sandbox)
    client = await aiohttp_client(app)  # type: ignore[operator]
    page = await client.get("/sandbox-ats/")
    assert page.status == 200
    policy = page.headers["Content-Security-Policy"]
    assert "style-src 'unsafe-inline'" in policy, policy
    assert "default-src 'none'" in policy, policy
    assert "script-src" not in policy, "default-src 'none' is what forbids script there"


async def test_the_stylesheet_is_served_as_css_and_cached_by_version(api: Api) -> None:
    page = await (await api.client.get("/login")).text()
    [href] = re.findall(r'<link rel="stylesheet" href="([^"]+)"', page)
    assert href.startswith("/static/app.css?v="), href
    versioned = await api.client.get(href)
    assert versioned.status == 200
    assert versioned.headers["Content-Type"] == "text/css; charset=utf-8"
    assert versioned.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert ".bar rect" in await versioned.text(), "the score bars' styles are in the stylesheet"
    etag = versioned.headers["ETag"]
    unversioned = await api.client.get("/static/app.css")
    assert unversioned.headers["Cache-Control"] == "no-cache", "an old URL must be re-checked"
    again = await api.client.get("/static/app.css", headers={"If-None-Match": etag})
    assert (again.status, again.headers["ETag"]) == (304, etag)
    missing = await api.client.get("/static/nope.css")
    assert (missing.status, missing.content_type) == (404, PROBLEM)


async def test_trust_registry_is_per_tenant(api: Api) -> None:
    entry = {"issuer_id": "did:key:z6MkExample", "tier": "professional_body", "name": "Guild"}
    created = await api.client.post(
        "/api/v1/trusted-issuers", json=entry, headers=api.auth(api.acme)
    )
    assert created.status == 201, await created.text()
    duplicate = await api.client.post(
        "/api/v1/trusted-issuers", json=entry, headers=api.auth(api.acme)
    )
    assert duplicate.status == 409
    bad = await api.client.post(
        "/api/v1/trusted-issuers", json={**entry, "tier": "best"}, headers=api.auth(api.acme)
    )
    assert bad.status == 400
    assert "tier must be one of" in (await bad.json())["detail"]
    mine = await (
        await api.client.get("/api/v1/trusted-issuers", headers=api.auth(api.acme))
    ).json()
    theirs = await (
        await api.client.get("/api/v1/trusted-issuers", headers=api.auth(api.globex))
    ).json()
    assert [i["issuer_id"] for i in mine["issuers"]] == ["did:key:z6MkExample"]
    assert theirs["issuers"] == [], "one tenant's registry must be invisible to another"
    entry_id = (await created.json())["id"]
    stolen = await api.client.delete(
        f"/api/v1/trusted-issuers/{entry_id}", headers=api.auth(api.globex)
    )
    assert stolen.status == 404
    removed = await api.client.delete(
        f"/api/v1/trusted-issuers/{entry_id}", headers=api.auth(api.acme)
    )
    assert removed.status == 204


async def test_verify_endpoint_reports_every_check_and_stores_nothing(api: Api) -> None:
    forged = {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "type": ["VerifiableCredential"],
        "issuer": "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",
        "validFrom": "2024-01-01T00:00:00Z",
        "credentialSubject": {"id": "did:example:ada"},
        "proof": {
            "type": "DataIntegrityProof",
            "cryptosuite": "eddsa-rdfc-2022",
            "verificationMethod": "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"
            "#z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",
            "proofPurpose": "assertionMethod",
            "proofValue": "z" + "1" * 80,
        },
    }
    response = await api.client.post("/api/v1/verify", json=forged, headers=api.auth(api.acme))
    assert response.status == 200, await response.text()
    result = await response.json()
    assert result["verdict"] == "rejected"
    checks = {c["id"]: c["outcome"] for c in result["checks"]}
    assert checks["proof"] == "fail", checks
    assert await _stored(api.runtime) == 0
    multipart = aiohttp.FormData()
    multipart.add_field("file", b"not a png", filename="badge.png", content_type="image/png")
    image = await api.client.post("/api/v1/verify", data=multipart, headers=api.auth(api.acme))
    assert image.status == 200
    assert (await image.json())["verdict"] == "rejected"
    unauthenticated = await api.client.post("/api/v1/verify", json=forged)
    assert unauthenticated.status == 401


async def test_taxonomy_search_autocompletes_and_tenant_taxonomies_stay_private(api: Api) -> None:
    listing = await (await api.client.get("/api/v1/taxonomies", headers=api.auth(api.acme))).json()
    assert "skillproof-starter" in {t["name"] for t in listing["taxonomies"]}
    found = await api.client.get(
        "/api/v1/taxonomies/skillproof-starter/search",
        params={"q": "sql"},
        headers=api.auth(api.acme),
    )
    assert found.status == 200
    results = (await found.json())["results"]
    assert results[0]["concept_id"] == "sp:skill/sql", results[:3]
    missing = await api.client.get(
        "/api/v1/taxonomies/nope/search", params={"q": "sql"}, headers=api.auth(api.acme)
    )
    assert missing.status == 404
    empty = await api.client.get(
        "/api/v1/taxonomies/skillproof-starter/search", headers=api.auth(api.acme)
    )
    assert empty.status == 400

    from service.taxonomy_store import import_taxonomy
    from taxonomies.model import Concept, ConceptKind, Taxonomy

    own = Taxonomy(
        name="acme-skills",
        version="1",
        source="Acme HR",
        licence="internal",
        attribution="",
        concepts={
            "acme:forklift": Concept(
                id="acme:forklift", kind=ConceptKind.SKILL, preferred_label="Forklift operation"
            )
        },
    )
    await import_taxonomy(api.runtime.sessions, own, tenant_id=api.acme.tenant_id)
    mine = await api.client.get(
        "/api/v1/taxonomies/acme-skills/search",
        params={"q": "forklift"},
        headers=api.auth(api.acme),
    )
    assert (await mine.json())["results"][0]["concept_id"] == "acme:forklift"
    theirs = await api.client.get(
        "/api/v1/taxonomies/acme-skills/search",
        params={"q": "forklift"},
        headers=api.auth(api.globex),
    )
    assert theirs.status == 404, "a tenant's own taxonomy must be invisible to other tenants"


async def test_hr_override_wins_the_next_time(api: Api) -> None:
    from service.taxonomy_store import import_taxonomy, overrides
    from taxonomies import starter

    stored = await import_taxonomy(api.runtime.sessions, starter.load(), tenant_id=None)
    body = {"phrase": "Spreadsheet Wizardry", "concept_id": "sp:skill/spreadsheet-analysis"}
    response = await api.client.put(
        "/api/v1/taxonomies/skillproof-starter/overrides", json=body, headers=api.auth(api.acme)
    )
    assert response.status == 200, await response.text()
    unknown = await api.client.put(
        "/api/v1/taxonomies/skillproof-starter/overrides",
        json={"phrase": "x", "concept_id": "sp:skill/does-not-exist"},
        headers=api.auth(api.acme),
    )
    assert unknown.status == 400
    for wrong, phrase in (
        ({"phrase": "x", "concept_id": "sp:occupation/accountant"}, "skill"),
        ({"phrase": "x"}, "concept_id is required"),
    ):
        refused = await api.client.put(
            "/api/v1/taxonomies/skillproof-starter/overrides",
            json=wrong,
            headers=api.auth(api.acme),
        )
        assert refused.status == 400, await refused.text()
        assert phrase in (await refused.json())["detail"]
    mine = await overrides(
        api.runtime.sessions, tenant_id=api.acme.tenant_id, taxonomy_id=stored.taxonomy_id
    )
    theirs = await overrides(
        api.runtime.sessions, tenant_id=api.globex.tenant_id, taxonomy_id=stored.taxonomy_id
    )
    assert list(mine.values()) == ["sp:skill/spreadsheet-analysis"]
    assert theirs == {}, "one tenant's overrides never change another tenant's mapping"

    from service.mapping import SkillClaim

    loaded = await api.runtime.catalog.resolve(
        api.runtime.sessions, name="skillproof-starter", tenant_id=api.acme.tenant_id
    )
    assert loaded is not None
    mapper = await api.runtime.catalog.mapper(loaded)
    claim = SkillClaim(text="Spreadsheet Wizardry", source="name")
    with_override = mapper.map([claim], overrides=mine)
    assert [(m.concept_id, m.method) for m in with_override] == [
        ("sp:skill/spreadsheet-analysis", "override")
    ]


async def test_occupation_choices_are_learned_for_the_tenant_that_made_them(api: Api) -> None:
    from service.models import OccupationChoiceRecord
    from service.taxonomy_store import import_taxonomy
    from taxonomies import starter

    await import_taxonomy(api.runtime.sessions, starter.load(), tenant_id=None)
    url = "/api/v1/taxonomies/skillproof-starter/occupations"
    title = "Account cum Admin Executive"
    accountant = "sp:occupation/accountant"

    async def ranked(tenant: SeededTenant) -> dict[str, object]:
        response = await api.client.get(url, params={"title": title}, headers=api.auth(tenant))
        assert response.status == 200, await response.text()
        body: dict[str, object] = await response.json()
        return body

    before = await ranked(api.acme)
    results = before["results"]
    assert isinstance(results, list)
    assert results
    assert results[0]["concept_id"] != accountant
    assert before["learned_from"] == 0
    assert "skillproof" in str(before["taxonomy"]).casefold()

    choices = "/api/v1/taxonomies/skillproof-starter/occupation-choices"
    made = await api.client.post(
        choices, json={"title": title, "occupation_id": accountant}, headers=api.auth(api.acme)
    )
    assert made.status == 201, await made.text()

    after = await ranked(api.acme)
    first = after["results"][0]  # type: ignore[index]
    assert (first["concept_id"], first["method"]) == (accountant, "confirmed")
    assert after["learned_from"] == 1
    other = await ranked(api.globex)
    assert other == before, "one tenant's choices never change another tenant's ranking"

    refused = [
        await api.client.post(
            choices,
            json={"title": title, "occupation_id": "sp:skill/sql"},
            headers=api.auth(api.acme),
        ),
        await api.client.post(
            choices,
            json={"title": title, "occupation_id": "sp:occupation/nope"},
            headers=api.auth(api.acme),
        ),
        await api.client.post(choices, data=b"{not json", headers=api.auth(api.acme)),
        await api.client.post(choices, json={"title": "  "}, headers=api.auth(api.acme)),
        await api.client.post(
            choices,
            json={"title": " ", "occupation_id": accountant},
            headers=api.auth(api.acme),
        ),
    ]
    assert [r.status for r in refused] == [400, 400, 400, 400, 400]
    assert all(r.content_type == PROBLEM for r in refused)
    missing = await api.client.post(
        "/api/v1/taxonomies/no-such-taxonomy/occupation-choices",
        json={"title": title, "occupation_id": accountant},
        headers=api.auth(api.acme),
    )
    assert missing.status == 404
    unauthenticated = await api.client.get(url, params={"title": title})
    assert unauthenticated.status == 401
    async with api.runtime.sessions() as session:
        stored = (await session.exec(select(OccupationChoiceRecord))).all()
    assert [(c.tenant_id, c.title, c.occupation_id) for c in stored] == [
        (api.acme.tenant_id, title, accountant)
    ], "refused choices store nothing"


async def test_draft_profile_for_an_occupation(api: Api) -> None:
    url = "/api/v1/taxonomies/skillproof-starter/draft-profile"
    response = await api.client.get(
        url, params={"occupation_id": "sp:occupation/data-analyst"}, headers=api.auth(api.acme)
    )
    assert response.status == 200, await response.text()
    body = await response.json()
    assert body["title"] == "Data analyst"
    essential = {r["concept_id"] for r in body["requirements"] if r["essential"]}
    assert "sp:skill/sql" in essential
    assert body["taxonomy"]["attribution"]
    not_an_occupation = await api.client.get(
        url, params={"occupation_id": "sp:skill/sql"}, headers=api.auth(api.acme)
    )
    assert not_an_occupation.status == 404
    assert (await api.client.get(url, headers=api.auth(api.acme))).status == 400

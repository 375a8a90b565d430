"""The pages over HTTP: errors a person can reach are HTML pages, the API's stay problem+json."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlmodel import delete

from service.app import create_app
from service.db import unit_of_work
from service.models import Application, MatchResult
from service.repositories import matches as match_repo
from service.runtime import Runtime, open_runtime
from service.security import apikeys
from service.security.links import EVIDENCE_MAX_AGE_SECONDS, EVIDENCE_SALT
from tests.browser.site import NOW, SeededPages, seed_pages
from tests.conftest import Database, _pg_exec, _pg_url
from tests.service.support import SECRET, make_settings, seed_tenant

PROBLEM = "application/problem+json"
HTML = "text/html"
SIGN_OUT_FORM = '<form class="inline" method="post" action="/logout">'


@dataclass(frozen=True, kw_only=True)
class Site:
    client: TestClient[web.Request, web.Application]
    runtime: Runtime
    seeded: SeededPages

    async def sign_in(self) -> None:
        response = await self.client.post("/login", data={"key": self.seeded.api_key})
        assert response.status == 200, "signing in with the seeded key failed"


@pytest.fixture
async def site(db: Database, tmp_path: Path, aiohttp_client: object) -> AsyncIterator[Site]:
    """One tenant whose application was scored (tests/browser/site.py), served in-process."""
    settings = make_settings(db.url, tmp_path)
    async with open_runtime(settings) as runtime:
        seeded = await seed_pages(runtime)
        client = await aiohttp_client(create_app(settings, runtime=runtime))  # type: ignore[operator]
        yield Site(client=client, runtime=runtime, seeded=seeded)


def _text(html: str) -> str:
    """What a reader sees: the page without its tags."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


async def _linked_match(site: Site) -> MatchResult:
    async with site.runtime.sessions() as session:
        match = await match_repo.latest_for_application(
            session, tenant_id=_tenant_of(site), application_id=site.seeded.application_id
        )
    assert match is not None
    return match


def _tenant_of(site: Site) -> str:
    token = site.seeded.evidence_path.removeprefix("/evidence/")
    return site.runtime.links.read_evidence_token(token)[0]


async def test_page_errors_are_html_pages_and_api_errors_stay_problems(site: Site) -> None:
    await site.sign_in()
    for path in ("/applications/no-such-application", "/no-such-page"):
        response = await site.client.get(path)
        assert response.status == 404, path
        assert response.content_type == HTML, f"{path}: a browser user got {response.content_type}"
        page = _text(await response.text())
        assert "Not found" in page, f"{path}: the page does not say what happened"
        assert "Back to applications" in page, f"{path}: the page offers no way on"
    api = await site.client.get("/api/v1/applications/no-such-application")
    assert (api.status, api.content_type) == (404, PROBLEM), "the API keeps problem documents"
    assert (await api.json())["status"] == 404
    health = await site.client.get("/healthz")
    assert health.content_type == "application/json"


async def test_another_tenants_application_page_is_an_ordinary_not_found(site: Site) -> None:
    other = await seed_tenant(site.runtime, "globex")
    await site.sign_in()
    theirs = await site.client.get(f"/applications/{other.application_id}")
    missing = await site.client.get("/applications/no-such-application")
    assert theirs.status == missing.status == 404
    assert theirs.content_type == HTML

    def shape(html: str, application_id: str) -> str:
        return re.sub(r"reference \w+", "", html.replace(application_id, "ID"))

    assert shape(await theirs.text(), other.application_id) == shape(
        await missing.text(), "no-such-application"
    ), "another tenant's application must look exactly like a missing one"


async def test_a_bad_evidence_link_is_an_html_page_without_tenant_navigation(site: Site) -> None:
    response = await site.client.get(site.seeded.evidence_path + "tampered")
    assert (response.status, response.content_type) == (404, HTML)
    html = await response.text()
    assert "evidence link is not valid" in _text(html)
    assert "<nav>" not in html, "a public page links to no tenant page"
    assert 'href="/"' not in html, "a public page links to no tenant page"


async def test_an_expired_evidence_link_says_so_and_where_to_get_a_fresh_one(site: Site) -> None:
    match = await _linked_match(site)

    class LongAgo(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - EVIDENCE_MAX_AGE_SECONDS - 60

    signed_long_ago = URLSafeTimedSerializer(SECRET, salt=EVIDENCE_SALT, signer=LongAgo)
    token = signed_long_ago.dumps({"t": match.tenant_id, "m": match.id})
    response = await site.client.get(f"/evidence/{token}")
    assert (response.status, response.content_type) == (410, HTML)
    page = _text(await response.text())
    assert "evidence link has expired" in page
    assert "open a fresh link from the candidate's application in the ATS" in page


async def test_an_evidence_link_to_a_removed_application_is_an_html_not_found(site: Site) -> None:
    async with unit_of_work(site.runtime.sessions) as session:
        await session.exec(delete(Application).where(Application.id == site.seeded.application_id))  # type: ignore[arg-type]
    response = await site.client.get(site.seeded.evidence_path)
    assert (response.status, response.content_type) == (404, HTML)
    assert "evidence is no longer available" in _text(await response.text())


async def test_an_evidence_link_signed_for_another_tenant_finds_nothing(site: Site) -> None:
    other = await seed_tenant(site.runtime, "globex")
    match = await _linked_match(site)
    token = site.runtime.links.evidence_token(tenant_id=other.tenant_id, match_id=match.id)
    response = await site.client.get(f"/evidence/{token}")
    assert (response.status, response.content_type) == (404, HTML)
    assert site.seeded.candidate not in await response.text()


async def test_the_evidence_link_shows_the_latest_recheck(site: Site) -> None:
    """A re-validation with an unchanged score pushes nothing: the ATS keeps the old link."""
    linked = await _linked_match(site)
    async with unit_of_work(site.runtime.sessions) as session:
        await match_repo.add_match(
            session,
            MatchResult(
                tenant_id=linked.tenant_id,
                application_id=linked.application_id,
                profile_version_id=linked.profile_version_id,
                score=linked.score,
                band=linked.band,
                explanation=linked.explanation,
                versions=linked.versions,
                inputs_hash="rechecked",
                computed_at=NOW + timedelta(days=1, hours=4, minutes=32),
            ),
        )
    page = _text(await (await site.client.get(site.seeded.evidence_path)).text())
    assert "Re-checked at 2026-03-03 14:02 UTC" in page, "the newer result is not said to be newer"
    assert "Computed 2026-03-03 14:02 UTC" in page, "the page still shows the linked, older match"
    assert "computed 2026-03-02 09:30 UTC" in page, "the linked result's time is not mentioned"


async def test_an_unchanged_evidence_link_mentions_no_recheck(site: Site) -> None:
    page = _text(await (await site.client.get(site.seeded.evidence_path)).text())
    assert "Computed 2026-03-02 09:30 UTC" in page
    assert "Re-checked" not in page


async def test_times_read_for_people_and_stay_iso_in_the_api(site: Site) -> None:
    await site.sign_in()
    for path in ("/", f"/applications/{site.seeded.application_id}"):
        html = await (await site.client.get(path)).text()
        assert "2026-03-02 09:30 UTC" in _text(html), f"{path}: the time is not for people"
        assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d", _text(html)), f"{path}: raw ISO shown"
    detail = await (
        await site.client.get(f"/api/v1/applications/{site.seeded.application_id}")
    ).json()
    assert detail["match"]["computed_at"].startswith("2026-03-02T09:30:00"), "the API keeps ISO"


async def test_points_are_kept_on_one_line(site: Site) -> None:
    html = await (await site.client.get(site.seeded.evidence_path)).text()
    cells = re.findall(r'<td class="nowrap points">([^<]*)</td>', html)
    assert cells, "the points column is not marked to stay on one line"
    assert all(re.fullmatch(r"[\d.]+ / [\d.]+", c) for c in cells), cells
    css = await (await site.client.get("/static/app.css")).text()
    assert ".nowrap { white-space:nowrap; }" in css


async def test_every_signed_in_page_can_sign_out_and_the_public_one_cannot(site: Site) -> None:
    await site.sign_in()
    for path in ("/", "/connections", f"/applications/{site.seeded.application_id}", "/logout"):
        html = await (await site.client.get(path)).text()
        assert SIGN_OUT_FORM in html, f"{path}: no Sign out button"
    public = await (await site.client.get(site.seeded.evidence_path)).text()
    assert 'action="/logout"' not in public, "the public evidence page has no session to end"


async def test_get_logout_asks_and_only_the_post_signs_out(site: Site) -> None:
    await site.sign_in()
    asked = await site.client.get("/logout", allow_redirects=False)
    assert (asked.status, asked.content_type) == (200, HTML), "GET /logout must not be a 405"
    assert '<form method="post" action="/logout">' in await asked.text()
    still = await site.client.get("/", allow_redirects=False)
    assert still.status == 200, "a GET must not end the session (sign-out is CSRF-protected POST)"

    signed_out = await site.client.post("/logout", allow_redirects=False)
    assert (signed_out.status, signed_out.headers["Location"]) == (303, "/login")
    again = await site.client.get("/logout", allow_redirects=False)
    assert (again.status, again.headers["Location"]) == (303, "/login")


@pytest.fixture(params=["sqlite", "postgres"])
async def unmigrated_url(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_server: str | None
) -> AsyncIterator[str]:
    """A database that exists and answers, with no tables: `serve` run before `migrate`."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/unmigrated.db"
        return
    if postgres_server is None:
        pytest.skip(
            "PostgreSQL is not available: install postgresql or set SKILLPROOF_TEST_POSTGRES_URL"
        )
    name = f"skillproof_empty_{tmp_path.name[-8:].lower()}_{int(time.time() * 1000) % 100000}"
    name = re.sub(r"\W", "_", name)
    await _pg_exec(postgres_server, f'CREATE DATABASE "{name}"')
    try:
        yield _pg_url(postgres_server, name)
    finally:
        await _pg_exec(postgres_server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_an_unmigrated_database_answers_503_with_what_to_do(
    unmigrated_url: str, tmp_path: Path, aiohttp_client: object
) -> None:
    settings = make_settings(unmigrated_url, tmp_path)
    key = apikeys.generate(pepper=SECRET).token
    async with open_runtime(settings) as runtime:
        client = await aiohttp_client(create_app(settings, runtime=runtime))  # type: ignore[operator]
        page = await client.post("/login", data={"key": key})
        assert (page.status, page.content_type) == (503, HTML), await page.text()
        assert "run skillproof migrate" in _text(await page.text())
        api = await client.get("/api/v1/applications", headers={"Authorization": f"Bearer {key}"})
        assert (api.status, api.content_type) == (503, PROBLEM)
        assert "run skillproof migrate" in (await api.json())["detail"]

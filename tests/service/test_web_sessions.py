"""Browser sessions live on the server: signing out ends them for every copy of the cookie."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import aiohttp
from itsdangerous import URLSafeTimedSerializer
from sqlmodel import col, select

from service.db import unit_of_work
from service.models import ApiKey, WebSession
from service.repositories import tenancy, web_sessions
from service.web.auth import SESSION_COOKIE, session_principal
from tests.conftest import Database
from tests.service.support import SECRET, Api, SeededTenant

SIGNED_OUT = (303, "/login")


async def _sign_in(api: Api, tenant: SeededTenant) -> str:
    """Sign in through the form, as a browser does; returns a copy of the session cookie."""
    response = await api.client.post("/login", data={"key": tenant.api_key}, allow_redirects=False)
    assert (response.status, response.headers["Location"]) == (303, "/"), await response.text()
    return response.cookies[SESSION_COOKIE].value


async def _replay(api: Api, cookie: str, path: str, method: str = "GET") -> tuple[int, str | None]:
    """Request `path` from another machine holding only a copy of the cookie: (status, Location)."""
    async with (
        aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as elsewhere,
        elsewhere.request(
            method,
            api.client.make_url(path),
            headers={"Cookie": f"{SESSION_COOKIE}={cookie}"},
            allow_redirects=False,
        ) as response,
    ):
        return response.status, response.headers.get("Location")


async def _sessions_of(api: Api, tenant: SeededTenant) -> list[WebSession]:
    async with api.runtime.sessions() as session:
        query = select(WebSession).where(WebSession.tenant_id == tenant.tenant_id)
        return list((await session.exec(query.order_by(col(WebSession.created_at)))).all())


async def _key_of(api: Api, tenant: SeededTenant) -> ApiKey:
    async with api.runtime.sessions() as session:
        return (
            await session.exec(select(ApiKey).where(ApiKey.tenant_id == tenant.tenant_id))
        ).one()


async def test_signing_out_ends_the_session_for_every_copy_of_the_cookie(api: Api) -> None:
    copied = await _sign_in(api, api.acme)
    assert await _replay(api, copied, "/") == (200, None), "a copy of a live cookie works"
    assert (await _replay(api, copied, "/api/v1/applications"))[0] == 200

    signed_out = await api.client.post("/logout", allow_redirects=False)

    assert (signed_out.status, signed_out.headers["Location"]) == SIGNED_OUT
    jar = api.client.session.cookie_jar.filter_cookies(api.client.make_url("/"))
    assert SESSION_COOKIE not in jar, "the browser that signed out forgets its cookie"
    for page in ("/", "/connections", f"/applications/{api.acme.application_id}"):
        assert await _replay(api, copied, page) == SIGNED_OUT, f"{page}: the copy must be dead"
    assert (await _replay(api, copied, "/api/v1/applications"))[0] == 401
    [row] = await _sessions_of(api, api.acme)
    assert row.revoked_at is not None, "signing out revokes the session on the server"
    again = await api.client.post("/logout", allow_redirects=False)
    assert (again.status, again.headers["Location"]) == SIGNED_OUT, (
        "signing out with no session just goes to sign-in"
    )


async def test_signing_out_ends_only_the_session_signed_out_of(api: Api) -> None:
    laptop = await _sign_in(api, api.acme)
    phone = await _sign_in(api, api.acme)  # the client's jar now holds this one
    assert laptop != phone, "every sign-in is a session of its own"

    await api.client.post("/logout", allow_redirects=False)

    assert await _replay(api, phone, "/") == SIGNED_OUT
    assert await _replay(api, laptop, "/") == (200, None), "other sessions stay signed in"


async def test_an_expired_session_is_signed_out(api: Api) -> None:
    copied = await _sign_in(api, api.acme)
    async with unit_of_work(api.runtime.sessions) as session:
        [row] = (await session.exec(select(WebSession))).all()
        row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
        session.add(row)

    assert await _replay(api, copied, "/") == SIGNED_OUT, "the server's expiry decides"
    assert (await _replay(api, copied, "/api/v1/applications"))[0] == 401


def test_a_session_counts_until_the_moment_it_expires() -> None:
    opened = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
    key = ApiKey(id="k" * 32, tenant_id="t" * 32, name="test", prefix="sp_x", key_hash="h")
    row = WebSession(
        id="s", tenant_id=key.tenant_id, api_key_id=key.id, expires_at=opened + timedelta(hours=8)
    )
    assert session_principal(row, key, now=row.expires_at - timedelta(microseconds=1)) is not None
    assert session_principal(row, key, now=row.expires_at) is None, "expired at its expiry"
    key.expires_at = opened + timedelta(hours=1)
    assert session_principal(row, key, now=opened + timedelta(hours=2)) is None, "key expired"


async def test_a_live_session_ends_when_its_api_key_is_revoked(api: Api) -> None:
    copied = await _sign_in(api, api.acme)
    async with unit_of_work(api.runtime.sessions) as session:
        mine = select(ApiKey).where(ApiKey.tenant_id == api.acme.tenant_id)
        key = (await session.exec(mine)).one()
        key.revoked_at = datetime.now(UTC)
        session.add(key)

    [row] = await _sessions_of(api, api.acme)
    assert row.revoked_at is None, "the session itself was never signed out of"
    assert row.expires_at > datetime.now(UTC), "nor has it expired"
    assert await _replay(api, copied, "/") == SIGNED_OUT, "but its key is not: signed out"
    assert (await _replay(api, copied, "/api/v1/applications"))[0] == 401


async def test_a_session_whose_row_is_gone_is_signed_out(api: Api) -> None:
    copied = await _sign_in(api, api.acme)
    async with unit_of_work(api.runtime.sessions) as session:
        [row] = (await session.exec(select(WebSession))).all()
        await session.delete(row)

    assert await _replay(api, copied, "/") == SIGNED_OUT
    assert (await _replay(api, copied, "/api/v1/applications"))[0] == 401


async def test_old_and_malformed_cookies_read_as_signed_out(api: Api) -> None:
    """Cookies from before sessions were stored, or mangled ones: signed out, never an error."""
    key = await _key_of(api, api.acme)
    live = await _sign_in(api, api.acme)
    # The format this service issued before: tenant and key ids, signed under the v1 salt.
    old_format = URLSafeTimedSerializer(SECRET, salt="skillproof/session/v1").dumps(
        {"t": key.tenant_id, "k": key.id, "r": key.role}
    )
    cookies = {
        "old format": old_format,
        "signed with another secret": URLSafeTimedSerializer(
            "another-secret-" + "x" * 32, salt="skillproof/session/v2"
        ).dumps({"s": "x" * 43}),
        # The first character carries six whole bits of the payload (the last may be padding).
        "tampered": ("f" if live[0] != "f" else "g") + live[1:],
        "not signed at all": "eyJzIjoiYWJjIn0",
        "garbage": "%%%not-a-cookie%%%",
    }
    for kind, cookie in cookies.items():
        assert await _replay(api, cookie, "/") == SIGNED_OUT, kind
        assert (await _replay(api, cookie, "/api/v1/applications"))[0] == 401, kind
        assert await _replay(api, cookie, "/logout", "POST") == SIGNED_OUT, kind
    assert await _replay(api, live, "/") == (200, None), "none of that signed anyone out"


async def test_a_session_never_reaches_another_tenants_objects(api: Api) -> None:
    acme = await _sign_in(api, api.acme)
    theirs = api.globex.application_id

    assert (await _replay(api, acme, f"/api/v1/applications/{theirs}"))[0] == 404
    assert (await _replay(api, acme, f"/applications/{theirs}"))[0] == 404
    mine = f"/api/v1/applications/{api.acme.application_id}"
    assert (await _replay(api, acme, mine))[0] == 200, "the session works for its own tenant"

    # A session row that names another tenant than its key's grants nothing at all.
    globex = await _sign_in(api, api.globex)
    async with unit_of_work(api.runtime.sessions) as session:
        [row] = (
            await session.exec(
                select(WebSession).where(WebSession.tenant_id == api.globex.tenant_id)
            )
        ).all()
        row.tenant_id = api.acme.tenant_id
        session.add(row)
    assert await _replay(api, globex, "/") == SIGNED_OUT
    assert (await _replay(api, globex, mine))[0] == 401


async def test_signing_in_sweeps_sessions_ended_more_than_a_day_ago(api: Api) -> None:
    key = await _key_of(api, api.globex)
    now = datetime.now(UTC)
    async with unit_of_work(api.runtime.sessions) as session:
        stale = await web_sessions.open_session(
            session,
            tenant_id=key.tenant_id,
            api_key_id=key.id,
            now=now - timedelta(days=3),
            lifetime=timedelta(hours=8),
        )
        recent = await web_sessions.open_session(
            session,
            tenant_id=key.tenant_id,
            api_key_id=key.id,
            now=now - timedelta(hours=10),
            lifetime=timedelta(hours=8),
        )
    stale_id, recent_id = stale.id, recent.id

    await _sign_in(api, api.acme)  # any tenant's sign-in sweeps

    remaining = {row.id for row in await _sessions_of(api, api.globex)}
    assert stale_id not in remaining, "a session that ended days ago must not pile up"
    assert recent_id in remaining, "one that ended within the day is kept for now"


async def test_pruning_removes_sessions_expired_or_revoked_before_the_cutoff(db: Database) -> None:
    now = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    async with unit_of_work(db.sessions) as session:
        tenant = await tenancy.add_tenant(session, slug="acme", name="Acme")
        key = await tenancy.add_api_key(
            session, tenant_id=tenant.id, name="k", prefix="sp_abcdefgh", key_hash="h", role="admin"
        )

        async def opened(at: datetime, lifetime: timedelta) -> str:
            row = await web_sessions.open_session(
                session, tenant_id=tenant.id, api_key_id=key.id, now=at, lifetime=lifetime
            )
            return row.id

        expired_long_ago = await opened(now - timedelta(days=3), timedelta(hours=8))
        expired_lately = await opened(now - timedelta(hours=20), timedelta(hours=8))
        revoked_long_ago = await opened(now - timedelta(days=3), timedelta(days=7))
        revoked_lately = await opened(now - timedelta(days=3), timedelta(days=7))
        live = await opened(now - timedelta(hours=1), timedelta(hours=8))
        await web_sessions.revoke_session(
            session, session_id=revoked_long_ago, now=now - timedelta(days=2)
        )
        await web_sessions.revoke_session(
            session, session_id=revoked_lately, now=now - timedelta(hours=1)
        )

    async with unit_of_work(db.sessions) as session:
        pruned = await web_sessions.prune_sessions(session, before=now - timedelta(days=1))
    async with db.sessions() as session:
        remaining = set((await session.exec(select(WebSession.id))).all())

    assert pruned == 2
    assert expired_long_ago not in remaining, "expired more than a day ago"
    assert revoked_long_ago not in remaining, "revoked more than a day ago, though not expired"
    assert remaining == {expired_lately, revoked_lately, live}, (
        "only sessions that expired or were revoked before the cutoff go"
    )

"""Who is calling: an API key (Authorization: Bearer sp_...) or a signed session cookie.

The cookie carries only the signed id of a `web_sessions` row; the row decides. A session counts
while its row is neither revoked (sign-out) nor expired and the key it was opened with is still
in force, so a copied cookie dies with the session it belongs to.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aiohttp import web
from itsdangerous import BadData, URLSafeTimedSerializer

from service.db import unit_of_work
from service.errors import Unauthorized
from service.models import ApiKey, WebSession
from service.repositories import tenancy, web_sessions
from service.security import apikeys
from service.web.keys import RUNTIME

SESSION_COOKIE = "skillproof_session"
SESSION_MAX_AGE = 8 * 60 * 60
# Expired and revoked sessions are kept this long (a trace of recent sign-ins and sign-outs for
# whoever looks into an incident), then a sign-in deletes them.
SESSION_RETENTION = timedelta(days=1)
# v2 cookies carry a session id. A v1 cookie (tenant and key ids, from before sessions were
# stored) fails the signature check under this salt, so it simply reads as signed out.
_SESSION_SALT = "skillproof/session/v2"


@dataclass(frozen=True, kw_only=True, slots=True)
class Principal:
    tenant_id: str
    api_key_id: str
    role: str


def _serializer(request: web.Request) -> URLSafeTimedSerializer:
    secret = request.app[RUNTIME].settings.secret_key.get_secret_value()
    return URLSafeTimedSerializer(secret, salt=_SESSION_SALT)


async def principal_for_token(request: web.Request, token: str) -> Principal | None:
    runtime = request.app[RUNTIME]
    prefix = apikeys.prefix_of(token)
    if prefix is None:
        return None
    async with runtime.sessions() as session:
        key = await tenancy.api_key_by_prefix(session, prefix)
    pepper = runtime.settings.secret_key.get_secret_value()
    if key is None or not apikeys.matches(token, key.key_hash, pepper=pepper):
        return None
    return _principal_of(key, now=datetime.now(UTC))


def _principal_of(key: ApiKey | None, *, now: datetime) -> Principal | None:
    """The key's principal while it is in force; None once revoked or expired."""
    if key is None:
        return None
    if key.revoked_at is not None or (key.expires_at is not None and key.expires_at < now):
        return None
    return Principal(tenant_id=key.tenant_id, api_key_id=key.id, role=key.role)


def session_principal(web_session: WebSession, key: ApiKey, *, now: datetime) -> Principal | None:
    """The principal a stored session stands for; None once it or its key is revoked or expired."""
    if web_session.revoked_at is not None or web_session.expires_at <= now:
        return None
    principal = _principal_of(key, now=now)
    if principal is None or principal.tenant_id != web_session.tenant_id:
        return None
    return principal


def _session_id(request: web.Request, cookie: str) -> str | None:
    """The session id a cookie carries; None for a forged, garbled, old-format or expired one."""
    try:
        data = _serializer(request).loads(cookie, max_age=SESSION_MAX_AGE)
    except BadData:  # bad or expired signature, undecodable payload
        return None
    session_id = data.get("s") if isinstance(data, dict) else None
    return session_id if isinstance(session_id, str) and session_id else None


async def _principal_for_session(request: web.Request, cookie: str) -> Principal | None:
    session_id = _session_id(request, cookie)
    if session_id is None:
        return None
    async with request.app[RUNTIME].sessions() as session:
        found = await web_sessions.session_with_key(session, session_id)
    if found is None:
        return None
    web_session, key = found
    return session_principal(web_session, key, now=datetime.now(UTC))


async def authenticate(request: web.Request) -> Principal:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        principal = await principal_for_token(request, header[7:].strip())
        if principal is None:
            raise Unauthorized("the API key is not valid, expired or revoked")
        return principal
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        principal = await _principal_for_session(request, cookie)
        if principal is not None:
            return principal
    raise Unauthorized("sign in or send an API key as 'Authorization: Bearer <key>'")


async def start_session(request: web.Request, principal: Principal) -> str:
    """Open a session for a signed-in principal; returns the cookie value that carries it.

    Sign-in is where stale sessions are swept: it happens often enough to keep the table small
    and needs no scheduler job.
    """
    now = datetime.now(UTC)
    async with unit_of_work(request.app[RUNTIME].sessions) as session:
        await web_sessions.prune_sessions(session, before=now - SESSION_RETENTION)
        web_session = await web_sessions.open_session(
            session,
            tenant_id=principal.tenant_id,
            api_key_id=principal.api_key_id,
            now=now,
            lifetime=timedelta(seconds=SESSION_MAX_AGE),
        )
    return _serializer(request).dumps({"s": web_session.id})


async def end_session(request: web.Request) -> None:
    """Revoke the session the request's cookie carries, if it carries one."""
    cookie = request.cookies.get(SESSION_COOKIE)
    session_id = _session_id(request, cookie) if cookie else None
    if session_id is None:
        return
    async with unit_of_work(request.app[RUNTIME].sessions) as session:
        await web_sessions.revoke_session(session, session_id=session_id, now=datetime.now(UTC))

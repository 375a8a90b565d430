"""Who is calling: an API key (Authorization: Bearer sp_...) or a signed session cookie."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from aiohttp import web
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from service.errors import Unauthorized
from service.models import ApiKey
from service.repositories import tenancy
from service.security import apikeys
from service.web.keys import RUNTIME

SESSION_COOKIE = "skillproof_session"
SESSION_MAX_AGE = 8 * 60 * 60
_SESSION_SALT = "skillproof/session/v1"


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
    return _principal_of(key)


def _principal_of(key: ApiKey | None) -> Principal | None:
    """The key's principal while it is in force; None once revoked or expired."""
    if key is None:
        return None
    now = datetime.now(UTC)
    if key.revoked_at is not None or (key.expires_at is not None and key.expires_at < now):
        return None
    return Principal(tenant_id=key.tenant_id, api_key_id=key.id, role=key.role)


async def _principal_for_session(request: web.Request, cookie: str) -> Principal | None:
    """A signed session counts only while the key it was opened with is still in force."""
    try:
        data = _serializer(request).loads(cookie, max_age=SESSION_MAX_AGE)
        key_id, tenant_id = str(data["k"]), str(data["t"])
    except (BadSignature, SignatureExpired, KeyError, TypeError):
        return None
    async with request.app[RUNTIME].sessions() as session:
        key = await tenancy.api_key_by_id(session, key_id)
    principal = _principal_of(key)
    return principal if principal is not None and principal.tenant_id == tenant_id else None


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


def session_cookie_value(request: web.Request, principal: Principal) -> str:
    return _serializer(request).dumps(
        {"t": principal.tenant_id, "k": principal.api_key_id, "r": principal.role}
    )

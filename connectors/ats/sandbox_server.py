"""The sandbox ATS: a small Harvest-style API over real HTTP for the demo and the tests.

The API itself (jobs, applications with embedded candidates and credentials, custom fields,
notes) is in `sandbox_api`; every /v1 route needs ``Authorization: Basic
base64(api_key + ":")``. Here are the app factory, the middlewares that make the sandbox behave
like a real, imperfect ATS, and ``GET /`` (also ``/pushes``): an HTML page of every push
received, for people watching a demo.

An optional token bucket per API key answers 429 with Retry-After and X-RateLimit-* headers,
and a `FaultPlan` scripts failures per route.
"""

from __future__ import annotations

import base64
import hmac
import json
import math
import time
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web
from aiohttp.typedefs import Handler

from connectors.ats.sandbox_api import PAGE_SIZE_MAX, STATE, add_api_routes, push_json
from connectors.ats.sandbox_faults import Fault, FaultPlan, apply_fault
from connectors.ats.sandbox_state import CredentialSeed, PushRecord, SandboxState
from connectors.pacing import TokenBucket

__all__ = [
    "FAULTS",
    "STATE",
    "CredentialSeed",
    "Fault",
    "FaultPlan",
    "SandboxState",
    "create_sandbox_app",
    "sandbox_state",
]

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Headers never stored with a push: they authenticate the caller.
_UNRECORDED_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})


@dataclass(frozen=True, kw_only=True, slots=True)
class _Settings:
    api_keys: frozenset[str]
    snapshot_path: Path | None


class _RateLimiter:
    """One token bucket per API key, like a per-credential ATS limit."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._buckets: dict[str, TokenBucket] = {}

    def bucket(self, api_key: str) -> TokenBucket:
        if api_key not in self._buckets:
            self._buckets[api_key] = TokenBucket(self.rate, self.burst)
        return self._buckets[api_key]


FAULTS = web.AppKey("sandbox_faults", FaultPlan)
_SETTINGS = web.AppKey("sandbox_settings", _Settings)
_LIMITER = web.AppKey("sandbox_rate_limiter", _RateLimiter)
_TEMPLATES = web.AppKey("sandbox_templates", jinja2.Environment)
_API_KEY = web.RequestKey("sandbox_api_key", str)
_FAULT: web.RequestKey[Fault] = web.RequestKey("sandbox_fault")
_PUSH = web.RequestKey("sandbox_push", PushRecord)


def sandbox_state(app: web.Application) -> SandboxState:
    """The state behind a sandbox app (to seed it or inspect it in tests)."""
    return app[STATE]


MOUNT_PREFIX = web.AppKey("sandbox_mount_prefix", str)


def mount(parent: web.Application, prefix: str, sandbox: web.Application) -> None:
    """Serve the sandbox under `prefix` of another app (the demo's single port)."""
    sandbox[MOUNT_PREFIX] = prefix.rstrip("/")
    parent.add_subapp(prefix, sandbox)


def _local(request: web.Request, path: str) -> str:
    prefix = request.app.get(MOUNT_PREFIX, "")
    return path[len(prefix) :] if prefix and path.startswith(prefix + "/") else path


def local_path(request: web.Request) -> str:
    """The request path as the sandbox API defines it, wherever the sandbox is mounted."""
    return _local(request, request.path)


def create_sandbox_app(
    *,
    api_keys: Collection[str],
    state: SandboxState | None = None,
    page_size_max: int = 100,
    rate_limit: tuple[float, int] | None = None,
    faults: FaultPlan | None = None,
    snapshot_path: Path | None = None,
) -> web.Application:
    """Build the sandbox ATS.

    `rate_limit` is (requests per second, burst) per API key. With `snapshot_path`, the
    state is loaded from it when `state` is not given and the file exists, and saved to it
    after every write.
    """
    if not api_keys or any(not key for key in api_keys):
        raise ValueError("the sandbox needs at least one non-empty API key")
    if state is None:
        if snapshot_path is not None and snapshot_path.exists():
            state = SandboxState.load(snapshot_path)
        else:
            state = SandboxState()
    app = web.Application(
        middlewares=[_authenticate, _limit_rate, _record_pushes, _inject_faults, _json_errors]
    )
    app[STATE] = state
    app[FAULTS] = faults if faults is not None else FaultPlan()
    app[PAGE_SIZE_MAX] = page_size_max
    app[_SETTINGS] = _Settings(api_keys=frozenset(api_keys), snapshot_path=snapshot_path)
    if rate_limit is not None:
        app[_LIMITER] = _RateLimiter(*rate_limit)
    app[_TEMPLATES] = jinja2.Environment(
        loader=jinja2.PackageLoader("connectors.ats", "templates"),
        autoescape=jinja2.select_autoescape(("html",)),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    app.router.add_get("/", _pushes_page)
    app.router.add_get("/pushes", _pushes_page)
    add_api_routes(app)
    return app


def _error(status: int, message: str, **headers: str) -> web.Response:
    return web.json_response({"message": message}, status=status, headers=headers)


# Middlewares, outermost first -----------------------------------------------------------------


def _api_key(request: web.Request) -> str | None:
    scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded, validate=True).decode()
    except ValueError:
        return None
    return decoded.partition(":")[0]


@web.middleware
async def _authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not local_path(request).startswith("/v1/"):
        return await handler(request)
    key = _api_key(request)
    known = request.app[_SETTINGS].api_keys
    # Compare against every key so the time taken does not reveal which one nearly matched.
    matches = [hmac.compare_digest(key or "", candidate) for candidate in known]
    if key is None or not any(matches):
        return _error(
            401, "Invalid Basic Auth credentials", **{"WWW-Authenticate": 'Basic realm="sandbox"'}
        )
    request[_API_KEY] = key
    return await handler(request)


@web.middleware
async def _limit_rate(request: web.Request, handler: Handler) -> web.StreamResponse:
    limiter = request.app.get(_LIMITER)
    if limiter is None or _API_KEY not in request:
        return await handler(request)
    bucket = limiter.bucket(request[_API_KEY])
    wait = bucket.try_acquire()
    headers = {"X-RateLimit-Limit": str(limiter.burst)}
    if wait > 0:
        retry_after = max(1, math.ceil(wait))
        return _error(
            429,
            "Too many requests",
            **headers,
            **{
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": str(math.ceil(time.time() + wait)),
                "Retry-After": str(retry_after),
            },
        )
    response = await handler(request)
    response.headers.update(headers)
    response.headers["X-RateLimit-Remaining"] = str(math.floor(bucket.available))
    return response


@web.middleware
async def _record_pushes(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.method not in WRITE_METHODS or not local_path(request).startswith("/v1/"):
        return await handler(request)
    state = request.app[STATE]
    raw = await request.read()
    try:
        body: Any = json.loads(raw) if raw else None
    except ValueError:
        body = raw.decode("utf-8", errors="replace")
    headers = {k: v for k, v in request.headers.items() if k.lower() not in _UNRECORDED_HEADERS}
    # Recorded before handling, so a push whose answer never arrives is still listed.
    record = state.record_push(
        method=request.method,
        path=_local(request, request.path_qs),
        headers=headers,
        body=body,
        outcome="pending",
    )
    request[_PUSH] = record
    try:
        response = await handler(request)
        record.outcome = str(response.status)
        return response
    except web.HTTPException as exc:
        record.outcome = str(exc.status)
        raise
    finally:
        fault = request.get(_FAULT)
        if fault in ("timeout", "reset"):
            record.outcome = str(fault)
        snapshot = request.app[_SETTINGS].snapshot_path
        if snapshot is not None:
            # Synchronous on purpose: the sandbox is small, and a consistent file matters
            # more than a few milliseconds of event-loop time.
            state.save(snapshot)


@web.middleware
async def _inject_faults(request: web.Request, handler: Handler) -> web.StreamResponse:
    resource = request.match_info.route.resource
    route = f"{request.method} {_local(request, resource.canonical if resource else request.path)}"
    plan = request.app[FAULTS]
    fault = plan.take(route)
    if fault is None:
        return await handler(request)
    request[_FAULT] = fault
    if fault in ("timeout", "reset") and _PUSH in request:
        # Set now: a timed-out answer is only finished long after the client gave up.
        request[_PUSH].outcome = str(fault)
    return await apply_fault(request, fault, plan, handler)


@web.middleware
async def _json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400 or exc.content_type == "application/json":
            raise
        if not local_path(request).startswith("/v1/"):
            raise
        return _error(exc.status, exc.reason)


# The page for people -------------------------------------------------------------------------


# The page's styles are inline, so it states its own policy; Skillproof's stricter one (which
# forbids inline styles) would otherwise apply where the demo mounts it. Still no script at all.
_PAGE_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'none'; frame-ancestors 'none';"
    " base-uri 'none'"
)


async def _pushes_page(request: web.Request) -> web.Response:
    """Pushes newest first, then each application with the match it currently shows."""
    state = request.app[STATE]
    pushes = [
        {
            **push_json(p),
            "received": p.received_at.strftime("%Y-%m-%d %H:%M:%S UTC"),
            "pretty_body": json.dumps(p.body, indent=2, ensure_ascii=False),
        }
        for p in reversed(state.pushes)
    ]
    applications = [
        {
            "id": a.id,
            "candidate": state.candidates[a.candidate_id],
            "job": state.jobs[a.job_id],
            "credentials": len(a.attachments),
            "fields": a.custom_fields,
            "notes": a.notes,
        }
        for a in sorted(state.applications.values(), key=lambda a: a.id)
    ]
    template = request.app[_TEMPLATES].get_template("sandbox.html")
    html = template.render(pushes=pushes, applications=applications, jobs=len(state.jobs))
    return web.Response(
        text=html, content_type="text/html", headers={"Content-Security-Policy": _PAGE_CSP}
    )

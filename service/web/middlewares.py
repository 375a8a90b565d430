"""Request ids, structured access logs, metrics, and errors as application/problem+json."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from service.errors import BadRequest, ServiceError
from service.logs import bind
from service.web.keys import METRICS

log = logging.getLogger("skillproof.http")

PROBLEM = "application/problem+json"


def problem(status: int, title: str, detail: str, **extra: Any) -> web.Response:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return web.json_response(body, status=status, content_type=PROBLEM)


def _route_name(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    request_id = request.headers.get("X-Request-Id", "")[:64] or uuid.uuid4().hex
    started = time.perf_counter()
    route = _route_name(request)
    with bind(request_id=request_id, method=request.method, route=route):
        passthrough: web.HTTPException | None = None
        try:
            if "\x00" in request.path or any("\x00" in v for v in request.query.values()):
                # Never part of a real name, id or query, and PostgreSQL text cannot hold it.
                raise BadRequest("the request's path or query contains a NUL character")
            response = await handler(request)
        except web.HTTPException as exc:
            if exc.status < 400:  # redirects travel as exceptions and must stay raised
                passthrough = exc
                response = exc
            else:
                response = _http_problem(exc)
        except ServiceError as exc:
            response = problem(exc.status, exc.title, exc.detail, request_id=request_id)
        except Exception:
            log.exception("unhandled error")
            response = problem(
                500,
                "Internal error",
                "something went wrong; nothing was changed",
                request_id=request_id,
            )
        elapsed = time.perf_counter() - started
        metrics = request.app.get(METRICS)
        if metrics is not None:
            metrics.requests.labels(request.method, route, str(response.status)).inc()
            metrics.latency.labels(route).observe(elapsed)
        response.headers["X-Request-Id"] = request_id
        log.info("%s %s -> %d in %.1f ms", request.method, route, response.status, elapsed * 1000)
        if passthrough is not None:
            raise passthrough
        return response


def _http_problem(exc: web.HTTPException) -> web.Response:
    detail = exc.text or exc.reason
    if exc.status == 413:
        detail = "request body is too large"
    elif exc.status == 404:
        detail = "no such resource"
    elif exc.status == 405:
        detail = "method not allowed on this resource"
    return problem(exc.status, exc.reason, detail)


# The pages show text from candidates' credentials and from the ATS. Autoescaping keeps it text;
# this policy is the second wall should a template ever slip: the pages need no JavaScript, so
# none runs at all, not even inline handlers. Styles come only from the app's own stylesheet
# (service/web/static): no inline <style> and no style="" attributes, which is why score bars
# are SVG (templates/bar.html). No images, fonts or fetches; forms post only back to the app;
# no framing, no <base> to re-point relative links. On JSON and problem documents it is inert.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'none'",
        "style-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    )
)

_SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """An `on_response_prepare` hook: every response gets them, errors and redirects included.

    A response that already carries one keeps its own (the sandbox ATS page sets its policy)."""
    for name, value in _SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)

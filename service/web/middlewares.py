"""Request ids, structured access logs, metrics, and errors: problem+json for the API, HTML pages
for a browser."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from service.db import is_missing_table
from service.errors import BadRequest, ServiceError, ServiceUnavailable
from service.logs import bind
from service.web.keys import METRICS, TEMPLATES

log = logging.getLogger("skillproof.http")

PROBLEM = "application/problem+json"

# Everything else is a page a person opens in a browser, and errors there are HTML pages.
MACHINE_PREFIXES = ("/api/", "/healthz", "/metrics", "/static/", "/sandbox-ats/")

# The same advice /healthz gives (service/web/ops.py), for a request that ran into the gap.
SCHEMA_NOT_MIGRATED = "the database schema is missing or out of date: run skillproof migrate"


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
                response = _error(request, exc.status, exc.reason, _http_detail(exc), request_id)
        except ServiceError as exc:
            response = _error(request, exc.status, exc.title, exc.detail, request_id)
        except Exception as exc:
            if is_missing_table(exc):
                # Not a bug to page anyone about: `serve` ran before `migrate`. No traceback.
                log.error("a table is missing: %s", SCHEMA_NOT_MIGRATED)
                unavailable = ServiceUnavailable(SCHEMA_NOT_MIGRATED)
                response = _error(
                    request, unavailable.status, unavailable.title, unavailable.detail, request_id
                )
            else:
                log.exception("unhandled error")
                response = _error(
                    request,
                    500,
                    "Internal error",
                    "something went wrong; nothing was changed",
                    request_id,
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


def _http_detail(exc: web.HTTPException) -> str:
    if exc.status == 413:
        return "request body is too large"
    if exc.status == 404:
        return "no such resource"
    if exc.status == 405:
        return "method not allowed on this resource"
    return exc.text or exc.reason


def _is_page(request: web.Request) -> bool:
    return not request.path.startswith(MACHINE_PREFIXES)


def _error(
    request: web.Request, status: int, title: str, detail: str, request_id: str
) -> web.Response:
    """A problem document for programs, or for a person the error page in the site's layout."""
    templates = request.config_dict.get(TEMPLATES)
    if templates is None or not _is_page(request):
        return problem(status, title, detail, request_id=request_id)
    html = templates.get_template(
        "error.html"
    ).render(
        status=status,
        title=title.capitalize(),  # HTTP reasons are Title Cased
        detail=detail[:1].upper() + detail[1:].rstrip(".") + ".",
        request_id=request_id,
        # The public evidence page is opened from an ATS by people with no account here.
        public=request.path.startswith("/evidence/"),
    )
    return web.Response(text=html, status=status, content_type="text/html")


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

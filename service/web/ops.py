"""Operational endpoints: liveness with a database round trip, and Prometheus metrics."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service.db import schema_head, schema_revision
from service.web.keys import REGISTRY, RUNTIME


async def healthz(request: web.Request) -> web.Response:
    """Healthy: the database answers and its schema is the one this code was written for."""
    runtime = request.app[RUNTIME]
    try:
        revision = await schema_revision(runtime.engine)  # one round trip when all is well
    except Exception as exc:  # any database failure means "not healthy", with the reason
        return web.json_response(
            {"status": "unavailable", "database": type(exc).__name__}, status=503
        )
    expected = schema_head()
    if revision != expected:
        return web.json_response(
            {
                "status": "unavailable",
                "database": runtime.engine.dialect.name,
                "schema": f"at {revision or 'none'}, expected {expected}: run skillproof migrate",
            },
            status=503,
        )
    return web.json_response({"status": "ok", "database": runtime.engine.dialect.name})


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[REGISTRY])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

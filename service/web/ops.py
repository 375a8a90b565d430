"""Operational endpoints: liveness with a database round trip, and Prometheus metrics."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from service.web.keys import REGISTRY, RUNTIME


async def healthz(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    try:
        async with runtime.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception as exc:  # any database failure means "not healthy", with the reason
        return web.json_response(
            {"status": "unavailable", "database": type(exc).__name__}, status=503
        )
    return web.json_response({"status": "ok", "database": runtime.engine.dialect.name})


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[REGISTRY])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

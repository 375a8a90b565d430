"""Operational endpoints: liveness with a database round trip, and Prometheus metrics."""

from __future__ import annotations

import functools

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from service.db import MIGRATIONS
from service.web.keys import REGISTRY, RUNTIME


async def healthz(request: web.Request) -> web.Response:
    """Healthy: the database answers and its schema is the one this code was written for."""
    runtime = request.app[RUNTIME]
    try:
        async with runtime.engine.connect() as connection:
            try:  # one round trip when all is well
                revision = (
                    await connection.execute(text("SELECT version_num FROM alembic_version"))
                ).scalar()
            except DBAPIError:
                # No alembic_version table (never migrated), or no database at all: SELECT 1
                # tells them apart.
                await connection.rollback()
                await connection.execute(text("SELECT 1"))
                revision = None
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


@functools.cache
def schema_head() -> str:
    """The newest migration's revision, read once from the migration scripts."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    assert head is not None, "the migrations folder has no head revision"
    return head


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[REGISTRY])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

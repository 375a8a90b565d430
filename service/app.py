"""The aiohttp application factory; app-wide objects live in cleanup_ctx under typed keys."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import jinja2
from aiohttp import web
from prometheus_client import CollectorRegistry

from service.runtime import Runtime, open_runtime
from service.settings import Settings
from service.web import formatting
from service.web.assets import Assets
from service.web.keys import (
    ASSETS,
    METRICS,
    REGISTRY,
    RUNTIME,
    SCHEDULER_TASK,
    SETTINGS,
    TEMPLATES,
)
from service.web.metrics import Metrics
from service.web.middlewares import request_context, security_headers
from service.web.routes import setup_routes

# aiohttp refuses bodies past client_max_size with a 413 before a handler runs; leave headroom
# over the credential limit so the handler can say precisely what the limit is.
BODY_HEADROOM = 64 * 1024


def create_app(
    settings: Settings,
    *,
    runtime: Runtime | None = None,
    with_scheduler: bool = False,
    sandbox_ats: web.Application | None = None,
) -> web.Application:
    app = web.Application(
        middlewares=[request_context],
        client_max_size=settings.max_credential_bytes + BODY_HEADROOM,
    )
    app.on_response_prepare.append(security_headers)
    app[SETTINGS] = settings
    registry = CollectorRegistry()
    app[REGISTRY] = registry
    app[METRICS] = Metrics.create(registry)
    app[ASSETS] = Assets.load()
    app[TEMPLATES] = jinja2.Environment(
        loader=jinja2.PackageLoader("service.web", "templates"),
        autoescape=jinja2.select_autoescape(default=True),
    )
    app[TEMPLATES].globals["asset_url"] = app[ASSETS].url
    formatting.install(app[TEMPLATES])

    async def runtime_ctx(app: web.Application) -> AsyncIterator[None]:
        if runtime is not None:
            app[RUNTIME] = runtime
            yield
            return
        async with open_runtime(settings) as opened:
            app[RUNTIME] = opened
            yield

    app.cleanup_ctx.append(runtime_ctx)
    if with_scheduler:
        app.cleanup_ctx.append(_scheduler_ctx)
    setup_routes(app)
    if sandbox_ats is not None:
        from connectors.ats.sandbox_server import mount

        mount(app, "/sandbox-ats/", sandbox_ats)
    return app


async def _scheduler_ctx(app: web.Application) -> AsyncIterator[None]:
    from service.scheduler import run_forever

    stop = asyncio.Event()
    app[SCHEDULER_TASK] = asyncio.create_task(run_forever(app[RUNTIME], stop=stop))
    yield
    stop.set()
    with contextlib.suppress(asyncio.CancelledError):
        await app[SCHEDULER_TASK]

"""`skillproof demo`: a demo tenant, issuer and sandbox ATS, run through the real pipeline.

`--once` seeds a fresh database, serves the sandbox ATS and the issuer's status list on a
loopback port, runs one sync and drains the outbox, prints what happened and exits.
Without it, the same demo is served on SKILLPROOF_BASE_URL with the scheduler inside.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import sys
import tempfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from connectors.ats.sandbox_server import create_sandbox_app, mount, sandbox_state
from connectors.ats.sandbox_state import SandboxState
from service.demo.issuer import IssuerSite
from service.demo.seed import ISSUER_PREFIX, DemoSeed, ensure_contexts, seed
from service.outbox import drain
from service.runtime import open_runtime
from service.settings import Settings
from service.sync import sync_connection
from service.views import application_detail, application_list

SANDBOX_PREFIX = "/sandbox-ats/"


def sandbox_api_key(settings: Settings) -> str:
    secret = settings.secret_key.get_secret_value()
    return "sbx_" + hashlib.sha256(f"sandbox-ats/{secret}".encode()).hexdigest()[:32]


def sandbox_app_from_settings(
    settings: Settings, state: SandboxState | None = None
) -> web.Application:
    return create_sandbox_app(
        api_keys=[sandbox_api_key(settings)],
        state=state,
        snapshot_path=settings.data_dir / "sandbox-ats.json" if state is None else None,
    )


def _demo_settings(settings: Settings, *, base_url: str, database_url: str) -> Settings:
    allow = tuple(dict.fromkeys((*settings.fetch_allow, "127.0.0.1/32")))
    return settings.model_copy(
        update={"base_url": base_url, "database_url": database_url, "fetch_allow": allow}
    )


def main(args: argparse.Namespace, settings: Settings) -> int:
    from service.cli import migrate

    try:
        ensure_contexts(settings)
    except RuntimeError as exc:
        print(f"skillproof demo: {exc}", file=sys.stderr)
        return 1
    if args.once:
        with tempfile.TemporaryDirectory(prefix="skillproof-demo-") as scratch:
            database_url = args.database_url or f"sqlite+aiosqlite:///{scratch}/demo.db"
            migrate(database_url)
            report = asyncio.run(run_once(settings, database_url=database_url))
        print(json.dumps(report, indent=2) if args.json else render_table(report))
        return 0
    migrate(settings.database_url)
    serve(settings)
    return 0


async def run_once(settings: Settings, *, database_url: str) -> dict[str, Any]:
    state = SandboxState()
    site = IssuerSite()
    host = web.Application()
    mount(host, SANDBOX_PREFIX, sandbox_app_from_settings(settings, state))
    host.add_subapp(ISSUER_PREFIX, site.app())
    runner = web.AppRunner(host, access_log=None)
    await runner.setup()
    tcp = web.TCPSite(runner, "127.0.0.1", 0)
    await tcp.start()
    try:
        port = runner.addresses[0][1]
        base_url = f"http://127.0.0.1:{port}"
        demo_settings = _demo_settings(settings, base_url=base_url, database_url=database_url)
        async with open_runtime(demo_settings) as runtime:
            now = datetime.now(UTC)
            seeded = await seed(
                runtime, state, site, sandbox_key=sandbox_api_key(settings), now=now
            )
            sync = await sync_connection(
                runtime, tenant_id=seeded.tenant_id, connection_id=seeded.connection_id, now=now
            )
            while (await drain(runtime, owner="demo")).claimed:
                pass
            return await _report(runtime, seeded, state, sync_status=sync.status)
    finally:
        await runner.cleanup()


async def _report(
    runtime: Any, seeded: DemoSeed, state: SandboxState, *, sync_status: str
) -> dict[str, Any]:
    pushed_refs = {
        record.path.split("/")[3]
        for record in state.pushes
        if record.outcome == "applied" or 200 <= _status(record.outcome) < 300
    }
    applications = []
    for item in await application_list(runtime, tenant_id=seeded.tenant_id):
        detail = await application_detail(
            runtime, tenant_id=seeded.tenant_id, application_id=item["id"]
        )
        applications.append(
            {
                "candidate": item["candidate"],
                "role": item["job"],
                "score": item["score"],
                "band": item["band"],
                "credentials": [
                    {
                        "name": c["name"] or c["media_type"],
                        "verdict": c["verdict"],
                        "failed_checks": [k["id"] for k in c["checks"] if k["outcome"] == "fail"],
                    }
                    for c in detail["credentials"]
                ],
                "pushed": str(item["external_ref"]) in pushed_refs,
            }
        )
    return {"sync": sync_status, "applications": applications}


def _status(outcome: str) -> int:
    try:
        return int(outcome)
    except ValueError:
        return 0


def render_table(report: dict[str, Any]) -> str:
    lines = [
        f"{'Candidate':<22} {'Role':<18} {'Score':>5}  {'Band':<22} {'Verified':>8}  "
        f"{'Rejected':<40} Pushed"
    ]
    for app in report["applications"]:
        verified = sum(1 for c in app["credentials"] if c["verdict"] == "verified")
        rejected = [
            f"{c['name']} ({', '.join(c['failed_checks']) or c['verdict']})"
            for c in app["credentials"]
            if c["verdict"] != "verified"
        ]
        lines.append(
            f"{app['candidate']:<22} {app['role']:<18} {app['score']!s:>5}  {app['band']!s:<22} "
            f"{verified:>3}/{len(app['credentials']):<4}  {'; '.join(rejected) or '-':<40} "
            f"{'yes' if app['pushed'] else 'no'}"
        )
    return "\n".join(lines)


def serve(settings: Settings) -> None:
    """The embedded default: SQLite, the sandbox ATS and the scheduler in one process."""
    from service.app import create_app
    from service.web.keys import RUNTIME

    demo_settings = _demo_settings(
        settings, base_url=settings.base_url, database_url=settings.database_url
    )
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    sandbox = sandbox_app_from_settings(demo_settings)
    site = IssuerSite()
    app = create_app(demo_settings, with_scheduler=True, sandbox_ats=sandbox)
    app.add_subapp(ISSUER_PREFIX, site.app())

    async def seed_ctx(app: web.Application) -> AsyncIterator[None]:
        seeded = await seed(
            app[RUNTIME],
            sandbox_state(sandbox),
            site,
            sandbox_key=sandbox_api_key(settings),
            now=datetime.now(UTC),
        )
        print(_banner(demo_settings, seeded), flush=True)
        yield

    # After the runtime is open, before the scheduler starts its first sync.
    app.cleanup_ctx.insert(1, seed_ctx)
    web.run_app(app, host=settings.host, port=settings.port, print=None, access_log=None)


def _banner(settings: Settings, seeded: DemoSeed) -> str:
    base = settings.base_url.rstrip("/")
    return "\n".join(
        [
            "",
            "Skillproof demo is running.",
            f"  Dashboard:        {base}/   (sign in with the API key below)",
            f"  API key:          {seeded.api_key}",
            f"  Sandbox ATS:      {base}{SANDBOX_PREFIX}   (every push Skillproof made)",
            f"  Health:           {base}/healthz",
            f"  Metrics:          {base}/metrics",
            f"  API example:      curl -H 'Authorization: Bearer {seeded.api_key}'"
            f" {base}/api/v1/applications",
            "",
        ]
    )


__all__ = [
    "main",
    "render_table",
    "run_once",
    "sandbox_api_key",
    "sandbox_app_from_settings",
    "serve",
]

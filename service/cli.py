"""The `skillproof` command: serve, scheduler, migrate, demo and the service/commands/ modules."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import signal
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from service import logs
from service.db import (
    MIGRATIONS,
    DatabaseUnavailable,
    SchemaOutdated,
    is_missing_table,
    quiet_alembic,
)
from service.settings import Settings

REPO_ROOT = Path(__file__).resolve().parent.parent

# Sub-command modules in service/commands/ that register themselves when present.
COMMAND_MODULES = ("verify", "contexts", "map", "taxonomy", "tenants", "connections")


def migrate(database_url: str) -> None:
    """alembic upgrade head; the schema only ever changes through migrations."""
    quiet_alembic()  # the upgrades it runs are what an operator reads
    from alembic import command
    from alembic.config import Config

    config = Config(str(REPO_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url)
    command.upgrade(config, "head")


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from aiohttp import web

    from service.app import create_app

    sandbox = None
    if args.sandbox_ats:
        from service.demo import sandbox_app_from_settings

        sandbox = sandbox_app_from_settings(settings)
    app = create_app(settings, with_scheduler=args.with_scheduler, sandbox_ats=sandbox)
    web.run_app(
        app,
        host=args.host or settings.host,
        port=args.port or settings.port,
        print=None,
        access_log=None,
    )
    return 0


def _scheduler(args: argparse.Namespace, settings: Settings) -> int:
    from service.runtime import open_runtime
    from service.scheduler import run_forever

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with open_runtime(settings) as runtime:
            await run_forever(runtime, stop=stop)

    asyncio.run(main())
    return 0


def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    migrate(settings.database_url)
    print(f"database is at the latest schema ({_safe_url(settings.database_url)})")
    return 0


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from service import demo

    return demo.main(args, settings)


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="skillproof",
        description="Verify candidates' credentials, map skills, score and push to the ATS.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the web service")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument(
        "--with-scheduler",
        action="store_true",
        help="also run the scheduler in this process (embedded default)",
    )
    serve.add_argument(
        "--sandbox-ats",
        action="store_true",
        help="mount the built-in sandbox ATS under /sandbox-ats/",
    )
    serve.set_defaults(handler=_serve)

    scheduler = sub.add_parser("scheduler", help="run the scheduler (one leader at a time)")
    scheduler.set_defaults(handler=_scheduler)

    mig = sub.add_parser("migrate", help="apply database migrations")
    mig.set_defaults(handler=_migrate)

    demo = sub.add_parser("demo", help="seed a demo tenant, sync the sandbox ATS and serve")
    demo.add_argument(
        "--once", action="store_true", help="run the pipeline once, print the outcome and exit"
    )
    demo.add_argument("--json", action="store_true", help="with --once: print one JSON object")
    demo.add_argument("--database-url", help="with --once: use this database, not a temporary one")
    demo.set_defaults(handler=_demo)

    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"service.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"service.commands.{name}":
                raise
            continue
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        overrides = {}
        if args.command == "demo":
            overrides["env"] = "development"
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        for error in exc.errors():
            print(f"skillproof: configuration error: {error['msg']}", file=sys.stderr)
        return 2
    logs.configure(settings.log_level)
    try:
        code: int = args.handler(args, settings)
    except SchemaOutdated as exc:
        print(f"skillproof: {exc}", file=sys.stderr)
        return 1
    except (SQLAlchemyError, DatabaseUnavailable, ConnectionError, socket.gaierror) as exc:
        # The database is down, missing, unwritable or not a database: one line says which.
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        if is_missing_table(exc):
            print(f"skillproof: {SchemaOutdated(None, '')}", file=sys.stderr)
            return 1
        print(
            f"skillproof: cannot use the database at {_safe_url(settings.database_url)}:"
            f" {reason[0] if reason else type(exc).__name__}",
            file=sys.stderr,
        )
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())

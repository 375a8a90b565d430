"""What the tenant, keys and connections commands share: the database, the tenant, the output."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from service.db import SessionFactory, create_engine, require_schema_at_head, session_factory
from service.models import Tenant
from service.repositories import tenancy
from service.settings import Settings

USAGE_ERROR = 2
# Who the audit log names for changes made from the command line (an operator on the host).
CLI_ACTOR = "cli"


class CommandError(Exception):
    """Stops the command with a one-line message for the operator and an exit code."""

    def __init__(self, message: str, code: int = USAGE_ERROR) -> None:
        super().__init__(message)
        self.code = code


def report(command: str, exc: CommandError) -> int:
    print(f"skillproof {command}: {exc}", file=sys.stderr)
    return exc.code


@asynccontextmanager
async def open_database(settings: Settings) -> AsyncIterator[SessionFactory]:
    """Sessions on the configured database, once its schema is known to be at the head.

    Checking first turns "no such table" half-way through a command into SchemaOutdated, which
    the CLI reports as "run `skillproof migrate`".
    """
    engine = create_engine(settings.database_url)
    try:
        await require_schema_at_head(engine)
        yield session_factory(engine)
    finally:
        await engine.dispose()


async def find_tenant(sessions: SessionFactory, ref: str) -> Tenant:
    """The tenant with this slug (or id); a CommandError (exit 2) when there is none."""
    async with sessions() as session:
        tenant = await tenancy.tenant_by_slug(session, ref) or await tenancy.get_tenant(
            session, ref
        )
    if tenant is None:
        raise CommandError(f"no tenant {ref!r}: give its slug or id (see `skillproof tenant list`)")
    return tenant


def when(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value is not None else None


def emit_json(value: dict[str, Any]) -> None:
    print(json.dumps(value, ensure_ascii=False))


def print_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    for row in (header, *rows):
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        print("  ".join(cells).rstrip())

"""Run one sync in a child process that a crash test kills part-way (see test_sync.py).

    python -m tests.service.crash_sync --database-url URL --scratch DIR \
        --tenant ID --connection ID [--exit-at-store N | --exit-at-evaluation]

The sandbox ATS's URL and API key are read from the stored connection, as the service does.
`--exit-at-store N` ends the process with `os._exit` when the sync asks to store its N-th raw
credential: the page transaction then holds flushed but uncommitted rows, which is the
worst moment for a crash. Without it the sync runs normally, and the test kills the process
from outside (SIGKILL) while it waits for a page the sandbox is holding back. On success the
report is printed as JSON on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import service.sync
from service.repositories import credentials as cred_repo
from service.runtime import open_runtime
from service.sync import sync_connection
from tests.service.support import make_settings

CRASH_EXIT_CODE = 75


def _exit_at_store(n: int) -> None:
    """Make the n-th call of `store_raw` end the process before it inserts anything."""
    original = cred_repo.store_raw
    calls = 0

    async def store_raw(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == n:
            sys.stdout.flush()
            # No cleanup, no rollback, no connection close: exactly like a killed process.
            os._exit(CRASH_EXIT_CODE)
        return await original(*args, **kwargs)

    # sync.py looks the function up on the module at call time, so this takes effect there.
    cred_repo.store_raw = store_raw


def _exit_at_evaluation() -> None:
    """End the process when sync first asks for an evaluation, after the page was stored."""

    async def evaluate_if_changed(*args: Any, **kwargs: Any) -> Any:
        sys.stdout.flush()
        os._exit(CRASH_EXIT_CODE)

    service.sync.evaluate_if_changed = evaluate_if_changed  # type: ignore[assignment]


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    settings = make_settings(args.database_url, Path(args.scratch), fetch_allow=("127.0.0.1/32",))
    async with open_runtime(settings) as runtime:
        report = await sync_connection(
            runtime, tenant_id=args.tenant, connection_id=args.connection
        )
    return {"status": report.status, "error": report.error, **report.counts()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--scratch", required=True)
    parser.add_argument("--tenant", required=True)
    parser.add_argument("--connection", required=True)
    parser.add_argument("--exit-at-store", type=int, default=0)
    parser.add_argument("--exit-at-evaluation", action="store_true")
    args = parser.parse_args()
    if args.exit_at_store:
        _exit_at_store(args.exit_at_store)
    if args.exit_at_evaluation:
        _exit_at_evaluation()
    print(json.dumps(asyncio.run(_run(args))), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

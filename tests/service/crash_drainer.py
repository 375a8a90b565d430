"""A drainer that dies on purpose: run as a child process by the outbox crash tests.

    python -m tests.service.crash_drainer DATABASE_URL CRASH_AT NOW [--lease-seconds S]
        [--crash-on-push N]

It opens a real runtime on DATABASE_URL (the connections stored there point at the test's
loopback sandbox ATS; nothing else is contacted), runs `service.outbox.drain` with a clock
frozen at NOW, and kills itself with ``os._exit(137)`` (no cleanup, no commits, like SIGKILL)
at CRASH_AT:

* ``after_claim``: the claim is committed, nothing has been pushed;
* ``after_push_before_mark``: the N-th push reached the ATS, its row is not marked done (the
  earlier pushes of the batch were settled normally, the later ones are still claimed).

Exit status 3 means it drained without reaching its crash point, which a test treats as a failure.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from connectors.base import MatchUpdate, PushReceipt
from service.outbox import drain
from tests.service.outbox_support import HookedRuntime, open_test_runtime

CRASH_POINTS = ("after_claim", "after_push_before_mark")
CRASHED = 137
MISSED_CRASH = 3
OWNER = "crashing-drainer"


def _die() -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(CRASHED)


async def run(database_url: str, crash_at: str, now: datetime, lease: float, crash_on: int) -> int:
    pushes = 0

    async def hook(update: MatchUpdate, push: Callable[[], Awaitable[PushReceipt]]) -> PushReceipt:
        nonlocal pushes
        receipt = await push()
        pushes += 1
        if crash_at == "after_push_before_mark" and pushes == crash_on:
            _die()
        return receipt

    def before_connector() -> None:
        if crash_at == "after_claim":
            _die()

    async with open_test_runtime(database_url) as runtime:
        hooked = HookedRuntime.around(runtime, hook, before_connector)
        await drain(hooked, owner=OWNER, clock=lambda: now, lease=timedelta(seconds=lease))
    return MISSED_CRASH


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("database_url")
    parser.add_argument("crash_at", choices=CRASH_POINTS)
    parser.add_argument("now", type=datetime.fromisoformat)
    parser.add_argument("--lease-seconds", type=float, default=60.0)
    parser.add_argument("--crash-on-push", type=int, default=1)
    args = parser.parse_args()
    if args.now.tzinfo is None:
        parser.error("NOW must carry a UTC offset")
    return asyncio.run(
        run(args.database_url, args.crash_at, args.now, args.lease_seconds, args.crash_on_push)
    )


if __name__ == "__main__":
    sys.exit(main())

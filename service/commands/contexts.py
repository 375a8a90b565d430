"""`skillproof contexts sync|list`: provision and inspect the pinned JSON-LD context store."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections import Counter
from pathlib import Path

from service.fetch import FetchPolicy, GuardedFetcher
from service.settings import Settings
from service.verify.contexts import (
    ContextError,
    ContextStore,
    SyncOutcome,
    SyncReport,
    sync_from_mirror,
    sync_from_network,
)

_FAILED = {SyncOutcome.MISMATCH, SyncOutcome.UNAVAILABLE}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "contexts",
        help="pinned JSON-LD contexts and JSON Schemas used during verification",
        description="Verification never fetches contexts or schemas: they come from a local"
        " store checked against sha256 pins. `sync` fills the store, `list` shows it.",
    )
    actions = parser.add_subparsers(dest="contexts_action", required=True, metavar="ACTION")
    sync = actions.add_parser(
        "sync",
        help="fetch (or copy from a mirror) every pinned document and store those whose hash"
        " matches; exits 1 if any could not be provisioned",
    )
    sync.add_argument(
        "--from",
        dest="mirror",
        type=Path,
        default=None,
        metavar="DIR",
        help="copy from a local mirror with a context-map.json instead of the network",
    )
    actions.add_parser("list", help="show every pinned URL, its sha256 and where it comes from")
    parser.set_defaults(handler=handler)


def handler(args: argparse.Namespace, settings: Settings) -> int:
    if args.contexts_action == "list":
        return _list(settings)
    try:
        if args.mirror is not None:
            report = sync_from_mirror(settings.contexts_dir, args.mirror)
        else:
            report = asyncio.run(_sync_network(settings))
    except ContextError as exc:
        print(f"contexts sync failed: {exc}", file=sys.stderr)
        return 2
    _print_report(report, settings.contexts_dir)
    return 0 if report.ok else 1


async def _sync_network(settings: Settings) -> SyncReport:
    async with GuardedFetcher(FetchPolicy.from_settings(settings)) as fetcher:
        return await sync_from_network(settings.contexts_dir, fetcher)


def _print_report(report: SyncReport, store_dir: Path) -> None:
    for entry in report.entries:
        digest = (entry.sha256 or "-")[:12]
        line = f"{entry.outcome:<12} {entry.kind:<8} {digest:<12} {entry.url}  ({entry.detail})"
        print(line, file=sys.stderr if entry.outcome in _FAILED else sys.stdout)
    counts = Counter(str(entry.outcome) for entry in report.entries)
    summary = ", ".join(f"{counts[str(outcome)]} {outcome}" for outcome in SyncOutcome)
    print(f"{store_dir}: {summary}")


def _list(settings: Settings) -> int:
    store = ContextStore.from_settings(settings)
    try:
        entries = store.entries()
    except ContextError as exc:
        print(f"contexts list failed: {exc}", file=sys.stderr)
        return 2
    for entry in entries:
        digest = (entry.sha256 or "-")[:12]
        print(f"{entry.kind:<8} {digest:<12} {entry.source:<10} {entry.url}")
    missing = sum(1 for entry in entries if entry.sha256 is None)
    if missing:
        print(f"{missing} pinned document(s) missing: run `skillproof contexts sync`")
    return 0

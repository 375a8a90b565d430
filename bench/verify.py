"""Warm verification speed of one credential, against plain pyld canonicalisation of it.

    .venv/bin/python bench/verify.py CREDENTIAL.json --n 200 --json [--contexts DIR | --mirror DIR]

Verifies the credential N times in one process after a warm-up (caches filled), and, between
those runs, canonicalises the same document with plain pyld (URDNA2015, the pinned store's
document loader, no Skillproof caches): that is the baseline. Times are this process's CPU
time (time.process_time), so other load on the machine disturbs them less than wall time. Prints
the figures
(and writes them to bench/results/verify.json); it asserts nothing.

Contexts come from --contexts (a synced store) or --mirror (a vendor folder with a
context-map.json, synced into a temporary store). Status lists and DID documents the
credential names are fetched through the guarded fetcher, so use a credential that needs
no network (did:key, no credentialStatus) for a pure CPU figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pyld import jsonld

from service.fetch import FetchPolicy, GuardedFetcher
from service.verify import Verifier
from service.verify.contexts import ContextStore, sync_from_mirror
from service.verify.dataintegrity import without

REPO = Path(__file__).resolve().parent.parent


def _store(args: argparse.Namespace) -> ContextStore:
    if args.mirror is not None:
        directory = Path(tempfile.mkdtemp(prefix="skillproof-contexts-"))
        report = sync_from_mirror(directory, args.mirror)
        if not report.ok:
            print("warning: some contexts could not be synced from the mirror", file=sys.stderr)
        return ContextStore(directory)
    return ContextStore(args.contexts)


async def _timings(
    raw: bytes, document: dict[str, Any], store: ContextStore, n: int, now: datetime
) -> tuple[list[float], list[float], list[float], str]:
    """Interleaved so every figure sees the same machine load; CPU time of this process.

    `first`: a credential seen for the first time (contexts warm, no canonical form cached);
    `again`: the same credential re-verified (its canonical forms cached; keys, dates and
    status are still checked); `baseline`: plain pyld canonicalisation of the document.
    """
    options = {
        "algorithm": "URDNA2015",
        "format": "application/n-quads",
        "documentLoader": store.document_loader(),
    }
    unsecured = without(document, "proof")
    async with GuardedFetcher(FetchPolicy()) as fetcher:
        first_time = Verifier(contexts=store, fetcher=fetcher, canonical_cache_bytes=0)
        again = Verifier(contexts=store, fetcher=fetcher)
        verdict = ""
        for _ in range(3):  # warm-up: contexts processed, keys and lists cached
            verdict = str((await first_time.verify(raw, now=now)).verdict)
            await again.verify(raw, now=now)
            jsonld.normalize(unsecured, options)
        first, repeat, baseline = [], [], []
        for _ in range(n):
            started = time.process_time()
            await first_time.verify(raw, now=now)
            first.append((time.process_time() - started) * 1000)
            started = time.process_time()
            await again.verify(raw, now=now)
            repeat.append((time.process_time() - started) * 1000)
            started = time.process_time()
            jsonld.normalize(unsecured, options)
            baseline.append((time.process_time() - started) * 1000)
        return first, repeat, baseline, verdict


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("credential", type=Path)
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--contexts", type=Path, default=Path("var/contexts"))
    parser.add_argument("--mirror", type=Path, default=None)
    parser.add_argument("--now", default=None, help="ISO 8601 instant (default: now)")
    args = parser.parse_args(argv)

    raw = args.credential.read_bytes()
    document = json.loads(raw)
    now = datetime.fromisoformat(args.now) if args.now else datetime.now(UTC)
    store = _store(args)
    timings, repeat, baseline, verdict = asyncio.run(_timings(raw, document, store, args.n, now))
    figures = {
        "credential": str(args.credential),
        "n": args.n,
        "verdict": verdict,
        "ms_per_credential": round(statistics.median(timings), 3),
        "ms_p95": round(statistics.quantiles(timings, n=20)[18], 3) if args.n >= 20 else None,
        "ms_reverify": round(statistics.median(repeat), 3),
        "baseline_pyld_ms": round(statistics.median(baseline), 3),
        "speedup_vs_pyld_canonicalisation": round(
            statistics.median(baseline) / statistics.median(timings), 2
        ),
    }
    results = REPO / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "verify.json").write_text(json.dumps(figures, indent=2) + "\n")
    if args.json:
        print(json.dumps(figures))
    else:
        for key, value in figures.items():
            print(f"{key:>34}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

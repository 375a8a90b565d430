"""Warm verification speed of new credentials, against plain pyld canonicalisation of them.

    .venv/bin/python bench/verify.py CREDENTIAL.json --n 200 --json [--contexts DIR | --mirror DIR]

The headline figure is a credential Skillproof has not seen before: every iteration verifies
a different document, so no cache keyed by content can help. The documents are variants of
CREDENTIAL: each has its own `id`, its own `credentialSubject.id` (where it has one) and its
own proof `created`, and is signed afresh with eddsa-rdfc-2022 by a did:key the benchmark
generates (made the issuer, so the variants verify and every check runs as for a real
credential). Signing happens before timing.

Per iteration, interleaved so that every figure sees the same machine load:

* `ms_per_credential`: a new document verified by a warm verifier (contexts processed, keys
  cached, earlier credentials of the same shape seen);
* `ms_reverify`: the same document verified again by that verifier (its canonical forms are
  cached; keys, dates and status are still checked);
* `ms_new_shape`: the new document verified by a verifier that keeps no canonical form and
  forgets its shape templates before each credential, so the document and its proof options
  both build their templates from scratch (contexts still warm): the cost of the first
  credential of a kind;
* `baseline_pyld_ms`: plain pyld URDNA2015 canonicalisation of the document (the pinned
  store's document loader, no Skillproof caches).

Times are this process's CPU time (time.process_time), so other load on the machine disturbs
them less than wall time. Prints the figures (and writes them to bench/results/verify.json);
it asserts nothing.

Contexts come from --contexts (a synced store) or --mirror (a vendor folder with a
context-map.json, synced into a temporary store). Status lists the credential names are
fetched through the guarded fetcher, so use a credential that needs no network (no
credentialStatus) for a pure CPU figure.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pyld import jsonld

from service.fetch import FetchPolicy, GuardedFetcher
from service.verify import Verifier
from service.verify.contexts import ContextStore, sync_from_mirror
from service.verify.dataintegrity import without
from service.verify.issuing import did_key_method, generate_did_key_ed25519, sign_eddsa_rdfc_2022
from service.verify.jsonld import LinkedData

REPO = Path(__file__).resolve().parent.parent
WARM_UP = 5
FIRST_CREATED = datetime(2025, 1, 1, tzinfo=UTC)


def _store(args: argparse.Namespace) -> ContextStore:
    if args.mirror is not None:
        directory = Path(tempfile.mkdtemp(prefix="skillproof-contexts-"))
        report = sync_from_mirror(directory, args.mirror)
        if not report.ok:
            print("warning: some contexts could not be synced from the mirror", file=sys.stderr)
        return ContextStore(directory)
    return ContextStore(args.contexts)


def variants(document: dict[str, Any], store: ContextStore, count: int) -> list[bytes]:
    """`count` distinct signed variants of `document`, issued by a fresh did:key."""
    did, private_key = generate_did_key_ed25519()
    signer = LinkedData(store)
    unsecured = without(document, "proof")
    signed: list[bytes] = []
    for index in range(count):
        variant = copy.deepcopy(unsecured)
        variant["id"] = f"urn:uuid:{uuid.uuid4()}"
        subject = variant.get("credentialSubject")
        if isinstance(subject, dict) and "id" in subject:
            subject["id"] = f"did:example:{uuid.uuid4().hex}"
        issuer = variant.get("issuer")
        if isinstance(issuer, dict):
            issuer["id"] = did
        else:
            variant["issuer"] = did
        credential = sign_eddsa_rdfc_2022(
            variant,
            private_key=private_key,
            verification_method=did_key_method(did),
            created=FIRST_CREATED + timedelta(seconds=index),
            loader=signer,
        )
        signed.append(json.dumps(credential).encode())
    return signed


def _cpu_ms(started: float) -> float:
    return (time.process_time() - started) * 1000


async def _timings(
    raw: bytes, document: dict[str, Any], store: ContextStore, n: int, now: datetime
) -> dict[str, Any]:
    options = {
        "algorithm": "URDNA2015",
        "format": "application/n-quads",
        "documentLoader": store.document_loader(),
    }
    documents = variants(document, store, n + WARM_UP)
    unsecured = [without(json.loads(item), "proof") for item in documents]
    async with GuardedFetcher(FetchPolicy()) as fetcher:
        warm = Verifier(contexts=store, fetcher=fetcher)
        cold_shape = Verifier(
            contexts=store,
            fetcher=fetcher,
            linked_data=LinkedData(store, canonical_cache_bytes=0),
        )
        original = str((await warm.verify(raw, now=now)).verdict)
        verdicts: set[str] = set()
        for index in range(WARM_UP):  # contexts processed, keys cached, the shape seen
            verdicts.add(str((await warm.verify(documents[index], now=now)).verdict))
            await cold_shape.verify(documents[index], now=now)
            jsonld.normalize(unsecured[index], options)
        first, again, new_shape, baseline = [], [], [], []
        for index in range(WARM_UP, WARM_UP + n):
            started = time.process_time()
            result = await warm.verify(documents[index], now=now)
            first.append(_cpu_ms(started))
            verdicts.add(str(result.verdict))
            started = time.process_time()
            await warm.verify(documents[index], now=now)
            again.append(_cpu_ms(started))
            if cold_shape.linked_data.shapes is not None:
                cold_shape.linked_data.shapes.clear()
            started = time.process_time()
            await cold_shape.verify(documents[index], now=now)
            new_shape.append(_cpu_ms(started))
            started = time.process_time()
            jsonld.normalize(unsecured[index], options)
            baseline.append(_cpu_ms(started))
    return {
        "verdict": "/".join(sorted(verdicts)),
        "original_verdict": original,
        "first": first,
        "again": again,
        "new_shape": new_shape,
        "baseline": baseline,
    }


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
    runs = asyncio.run(_timings(raw, document, store, args.n, now))
    median = {key: statistics.median(runs[key]) for key in ("first", "again", "new_shape")}
    baseline = statistics.median(runs["baseline"])
    figures = {
        "credential": str(args.credential),
        "n": args.n,
        "verdict": runs["verdict"],
        "original_verdict": runs["original_verdict"],
        "ms_per_credential": round(median["first"], 3),
        "ms_p95": round(statistics.quantiles(runs["first"], n=20)[18], 3) if args.n >= 20 else None,
        "ms_reverify": round(median["again"], 3),
        "ms_new_shape": round(median["new_shape"], 3),
        "baseline_pyld_ms": round(baseline, 3),
        "speedup_vs_pyld_canonicalisation": round(baseline / median["first"], 2),
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

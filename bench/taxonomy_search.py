"""Benchmark: taxonomy autocomplete over HTTP with the full ESCO release loaded.

Imports ESCO v1.1.1 into a scratch SQLite database, serves the real app on a loopback port,
warms the index with one request, then sends every span of the TECH and HOUSE validation sets
as `GET /api/v1/taxonomies/esco/search?q=...` one after another. In the same run it times
`GET /healthz` (a database round trip through the same middleware stack) as the baseline.
Prints latency percentiles and writes JSON to bench/results/. The target is p99 < 30 ms.

    .venv/bin/python -m bench.taxonomy_search [--vendor-data DIR] [--limit N]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from service.app import create_app
from service.cli import migrate
from service.db import unit_of_work
from service.repositories import tenancy
from service.runtime import open_runtime
from service.security import apikeys
from service.settings import Settings
from service.taxonomy_store import import_taxonomy
from taxonomies import esco

REPO_ROOT = Path(__file__).resolve().parent.parent


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50_ms": round(percentile(values, 0.50), 2),
        "p95_ms": round(percentile(values, 0.95), 2),
        "p99_ms": round(percentile(values, 0.99), 2),
        "mean_ms": round(statistics.fmean(values), 2),
    }


def queries(vendor_data: Path, limit: int) -> list[str]:
    folder = vendor_data / "eval" / "decorte-skill-extraction-benchmark"
    phrases: list[str] = []
    for name in ("tech_validation_annotations.csv", "house_validation_annotations.csv"):
        with (folder / name).open(newline="", encoding="utf-8") as handle:
            phrases.extend(row["span"] for row in csv.DictReader(handle) if row["span"].strip())
    return phrases[:limit]


async def timed(session: aiohttp.ClientSession, url: str, **kwargs: Any) -> float:
    started = time.perf_counter()
    async with session.get(url, **kwargs) as response:
        await response.read()
        if response.status != 200:
            raise RuntimeError(f"{url} answered {response.status}")
    return (time.perf_counter() - started) * 1000


async def run(vendor_data: Path, limit: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="skillproof-bench-") as scratch:
        database_url = f"sqlite+aiosqlite:///{scratch}/bench.db"
        await asyncio.to_thread(migrate, database_url)
        settings = Settings(
            env="development",
            database_url=database_url,  # type: ignore[arg-type]
            contexts_dir=Path(scratch) / "contexts",
            data_dir=Path(scratch) / "var",
            log_level="WARNING",
        )
        taxonomy = await asyncio.to_thread(
            esco.load, vendor_data / "taxonomies" / "esco" / "v1.1.1"
        )
        async with open_runtime(settings) as runtime:
            await import_taxonomy(runtime.sessions, taxonomy, tenant_id=None)
            async with unit_of_work(runtime.sessions) as session:
                tenant = await tenancy.add_tenant(session, slug="bench", name="Bench")
                key = apikeys.generate(pepper=settings.secret_key.get_secret_value())
                await tenancy.add_api_key(
                    session,
                    tenant_id=tenant.id,
                    name="bench",
                    prefix=key.prefix,
                    key_hash=key.key_hash,
                    role="admin",
                )
            runner = web.AppRunner(create_app(settings, runtime=runtime), access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            port = runner.addresses[0][1]
            base = f"http://127.0.0.1:{port}"
            headers = {"Authorization": f"Bearer {key.token}"}
            search = f"{base}/api/v1/taxonomies/{taxonomy.name}/search"
            try:
                async with aiohttp.ClientSession(headers=headers) as session:
                    started = time.perf_counter()
                    await timed(session, search, params={"q": "python"})
                    first_ms = (time.perf_counter() - started) * 1000
                    phrases = queries(vendor_data, limit)
                    search_ms = [
                        await timed(session, search, params={"q": q[:200]}) for q in phrases
                    ]
                    health_ms = [await timed(session, f"{base}/healthz") for _ in phrases]
            finally:
                await runner.cleanup()
    return {
        "taxonomy": f"{taxonomy.name}@{taxonomy.version}",
        "concepts": len(taxonomy),
        "first_request_ms_including_index_load": round(first_ms, 1),
        "search": summary(search_ms),
        "baseline_healthz": summary(health_ms),
        "target_p99_ms": 30,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--vendor-data", type=Path, default=REPO_ROOT.parent / "shared" / "vendor-data"
    )
    parser.add_argument("--limit", type=int, default=1000)
    args = parser.parse_args()
    result = asyncio.run(run(args.vendor_data, args.limit))
    print(json.dumps(result, indent=2))
    out = REPO_ROOT / "bench" / "results" / "taxonomy_search.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

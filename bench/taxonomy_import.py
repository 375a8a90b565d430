"""Benchmark: the full ESCO v1.1.1 release into SQLite and PostgreSQL, against a naive baseline.

For each database it times a fresh import, a re-import of the same version (the upsert path) and
a load back into the model, then inserts the first 2,000 concepts the naive way (one ORM object
and one INSERT per row) and extrapolates that rate to every row of the release. PostgreSQL is
used when SKILLPROOF_TEST_POSTGRES_URL names a server (admin URL) or a throwaway cluster can be
started from the machine's binaries. Figures are printed and written to bench/results/.

    .venv/bin/python -m bench.taxonomy_import [--vendor-data DIR] [--no-postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from service.cli import migrate
from service.db import create_engine, session_factory, unit_of_work
from service.models import ConceptRecord, TaxonomyRecord
from service.taxonomy_store import import_taxonomy, load_taxonomy
from taxonomies import esco
from taxonomies.model import Taxonomy

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS = REPO_ROOT / "bench" / "results"
RELEASE = Path("taxonomies/esco/v1.1.1")
BASELINE_ROWS = 2000
BUDGET_SECONDS = 60.0


def _vendor_data(explicit: Path | None) -> Path:
    if explicit is not None:
        return explicit
    configured = os.environ.get("SKILLPROOF_VENDOR_DATA")
    return Path(configured) if configured else REPO_ROOT.parent / "shared" / "vendor-data"


async def _measure(url: str, release: Taxonomy) -> dict[str, Any]:
    engine = create_engine(url)
    sessions = session_factory(engine)
    rows = len(release) + len(release.relations) + len(release.role_templates)
    try:
        started = time.perf_counter()
        first = await import_taxonomy(sessions, release, tenant_id=None)
        imported = time.perf_counter() - started
        started = time.perf_counter()
        await import_taxonomy(sessions, release, tenant_id=None)
        reimported = time.perf_counter() - started
        started = time.perf_counter()
        loaded = await load_taxonomy(sessions, name=release.name, version=release.version)
        load_seconds = time.perf_counter() - started
        if loaded != release:
            raise SystemExit(f"{url}: the loaded taxonomy differs from the imported one")
        baseline = await _naive_insert(sessions, release)
    finally:
        await engine.dispose()
    per_row = baseline / BASELINE_ROWS
    return {
        "rows": rows,
        "concepts": first.concepts,
        "relations": first.relations,
        "role_templates": first.role_templates,
        "import_seconds": round(imported, 2),
        "reimport_seconds": round(reimported, 2),
        "load_seconds": round(load_seconds, 2),
        "rows_per_second": round(rows / imported),
        "baseline_seconds_for_2000_concepts": round(baseline, 2),
        "baseline_extrapolated_seconds": round(per_row * rows, 1),
        "speedup": round(per_row * rows / imported, 1),
        "within_budget": imported <= BUDGET_SECONDS,
    }


async def _naive_insert(sessions: Any, release: Taxonomy) -> float:
    """One ORM object and one flushed INSERT per concept: what a straightforward loop does."""
    async with unit_of_work(sessions) as session:
        record = TaxonomyRecord(name=f"{release.name}-naive", version=release.version)
        session.add(record)
        await session.flush()
        started = time.perf_counter()
        for concept in list(release.concepts.values())[:BASELINE_ROWS]:
            session.add(
                ConceptRecord(
                    taxonomy_id=record.id,
                    concept_id=concept.id,
                    kind=concept.kind.value,
                    preferred_label=concept.preferred_label,
                    alt_labels=list(concept.alt_labels),
                    hidden_labels=list(concept.hidden_labels),
                    description=concept.description,
                    reuse_level=concept.reuse_level,
                    broader=list(concept.broader),
                    status=concept.status,
                )
            )
            await session.flush()
        return time.perf_counter() - started


async def _admin(admin_url: str, statement: str) -> str:
    engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            result = await connection.execute(text(statement))
            return str(result.scalar() or "") if result.returns_rows else ""
    finally:
        await engine.dispose()


def _postgres_admin_url(stack: ExitStack) -> str | None:
    configured = os.environ.get("SKILLPROOF_TEST_POSTGRES_URL")
    if configured:
        return configured
    sys.path.insert(0, str(REPO_ROOT))
    from tests.pg import PostgresUnavailable, start_cluster

    try:
        cluster = start_cluster()
    except PostgresUnavailable as exc:
        print(f"PostgreSQL skipped: {exc}")
        return None
    stack.callback(cluster.stop)
    return cluster.admin_url


def _run_postgres(release: Taxonomy, stack: ExitStack) -> dict[str, Any] | None:
    admin_url = _postgres_admin_url(stack)
    if admin_url is None:
        return None
    name = f"skillproof_bench_{uuid.uuid4().hex[:8]}"
    asyncio.run(_admin(admin_url, f'CREATE DATABASE "{name}"'))
    stack.callback(
        lambda: asyncio.run(_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    )
    url = f"{admin_url.rpartition('/')[0]}/{name}"
    migrate(url)
    figures = asyncio.run(_measure(url, release))
    figures["server_version"] = asyncio.run(_admin(url, "SHOW server_version"))
    return figures


def _run_sqlite(release: Taxonomy, stack: ExitStack) -> dict[str, Any]:
    folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="skillproof-bench-")))
    url = f"sqlite+aiosqlite:///{folder / 'bench.db'}"
    migrate(url)
    figures = asyncio.run(_measure(url, release))
    figures["sqlite_version"] = sqlite3.sqlite_version
    return figures


def _report(backend: str, figures: dict[str, Any]) -> None:
    verdict = "within" if figures["within_budget"] else "OVER"
    print(
        f"{backend:<10} import {figures['import_seconds']:>6.1f} s"
        f" ({figures['rows']:,} rows, {figures['rows_per_second']:,}/s, {verdict} the"
        f" {BUDGET_SECONDS:.0f} s budget)  re-import {figures['reimport_seconds']:.1f} s"
        f"  load {figures['load_seconds']:.1f} s"
    )
    print(
        f"{'':<10} naive baseline: {BASELINE_ROWS:,} concepts in"
        f" {figures['baseline_seconds_for_2000_concepts']:.1f} s, extrapolated"
        f" {figures['baseline_extrapolated_seconds']:,.0f} s for the release"
        f" ({figures['speedup']}x slower)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--vendor-data", type=Path, default=None)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args(argv)
    source = _vendor_data(args.vendor_data) / RELEASE
    if not source.is_dir():
        print(f"ESCO release not found at {source}: set SKILLPROOF_VENDOR_DATA", file=sys.stderr)
        return 2
    started = time.perf_counter()
    release = esco.load(source)
    parse_seconds = time.perf_counter() - started
    print(
        f"parsed {release.key}: {len(release):,} concepts, {len(release.relations):,} relations,"
        f" {len(release.role_templates):,} role templates in {parse_seconds:.1f} s"
    )
    results: dict[str, Any] = {
        "benchmark": "taxonomy_import",
        "release": release.key,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "parse_seconds": round(parse_seconds, 2),
        "budget_seconds": BUDGET_SECONDS,
    }
    runners: list[tuple[str, Callable[[Taxonomy, ExitStack], dict[str, Any] | None]]] = [
        ("sqlite", _run_sqlite)
    ]
    if not args.no_postgres:
        runners.append(("postgresql", _run_postgres))
    for backend, run in runners:
        with ExitStack() as stack:
            figures = run(release, stack)
        if figures is not None:
            results[backend] = figures
            _report(backend, figures)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"taxonomy_import-{stamp}.json"
    path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {path.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Shared test fixtures: settings, vendor data location, databases."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


def vendor_data_dir() -> Path:
    """Where ../shared/vendor-data lives (SKILLPROOF_VENDOR_DATA overrides)."""
    configured = os.environ.get("SKILLPROOF_VENDOR_DATA")
    if configured:
        return Path(configured).resolve()
    return (REPO_ROOT.parent / "shared" / "vendor-data").resolve()


@pytest.fixture(scope="session")
def vendor_data() -> Path:
    """The vendor data folder; tests that need it skip with a clear reason when it is absent."""
    path = vendor_data_dir()
    if not (path / "credentials" / "context-map.json").is_file():
        pytest.skip(
            f"vendor data not found at {path}: set SKILLPROOF_VENDOR_DATA to the shared"
            " vendor-data folder to run this test"
        )
    return path


# --- databases ---------------------------------------------------------------------------------
# Every test that takes `db` runs twice: on SQLite and on PostgreSQL. The schema comes from the
# Alembic migrations (so they are tested too), migrated once per session into a template that
# each test copies.

import asyncio  # noqa: E402
import shutil  # noqa: E402
import uuid  # noqa: E402
from collections.abc import AsyncIterator, Callable, Iterator  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402
from dataclasses import dataclass  # noqa: E402

from sqlalchemy import text  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine  # noqa: E402

from service.db import SessionFactory, create_engine, session_factory  # noqa: E402
from tests.pg import Cluster, PostgresUnavailable, start_cluster  # noqa: E402


def migrate(url: str) -> None:
    """alembic upgrade head against `url`."""
    from alembic import command
    from alembic.config import Config

    config = Config(str(REPO_ROOT / "alembic.ini"))
    config.set_main_option("sqlalchemy.url", url)
    command.upgrade(config, "head")


@dataclass
class Database:
    backend: str
    url: str
    engine: AsyncEngine
    sessions: SessionFactory


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str | None]:
    """Admin URL of a PostgreSQL server, or None when none can run here (tests then skip)."""
    configured = os.environ.get("SKILLPROOF_TEST_POSTGRES_URL")
    if configured:
        yield configured
        return
    try:
        cluster: Cluster = start_cluster()
    except PostgresUnavailable:
        yield None
        return
    try:
        yield cluster.admin_url
    finally:
        cluster.stop()


def _pg_url(admin_url: str, database: str) -> str:
    base, _, _ = admin_url.rpartition("/")
    return f"{base}/{database}"


async def _pg_exec(admin_url: str, statement: str) -> None:
    engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


def _in_thread(work: Callable[[], object]) -> None:
    """Run blocking set-up (which may start its own event loop) off the test's running loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(work).result()


@pytest.fixture(scope="session")
def pg_template(postgres_server: str | None) -> str | None:
    if postgres_server is None:
        return None
    name = f"skillproof_tmpl_{uuid.uuid4().hex[:8]}"
    _in_thread(lambda: asyncio.run(_pg_exec(postgres_server, f'CREATE DATABASE "{name}"')))
    _in_thread(lambda: migrate(_pg_url(postgres_server, name)))
    return name


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    _in_thread(lambda: migrate(f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture(params=["sqlite", "postgres"])
async def db(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    sqlite_template: Path,
    postgres_server: str | None,
    pg_template: str | None,
) -> AsyncIterator[Database]:
    """A freshly migrated database, on SQLite and on PostgreSQL."""
    backend = request.param
    if backend == "sqlite":
        path = tmp_path / "skillproof.db"
        shutil.copyfile(sqlite_template, path)
        url = f"sqlite+aiosqlite:///{path}"
    else:
        server, template = postgres_server, pg_template
        if server is None or template is None:
            pytest.skip(
                "PostgreSQL is not available: install postgresql or set"
                " SKILLPROOF_TEST_POSTGRES_URL"
            )
        name = f"skillproof_{uuid.uuid4().hex[:12]}"
        await _pg_exec(server, f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        url = _pg_url(server, name)
    engine = create_engine(url)
    try:
        yield Database(backend=backend, url=url, engine=engine, sessions=session_factory(engine))
    finally:
        await engine.dispose()
        if backend == "postgres" and postgres_server is not None:
            await _pg_exec(postgres_server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- reporting -----------------------------------------------------------------------------------


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("SKILLPROOF_REQUIRE_POSTGRES"):
        config.stash[_REQUIRE_PG] = True


_REQUIRE_PG = pytest.StashKey[bool]()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when not in {"setup", "call"} or "[postgres" not in report.nodeid:
        return
    if report.skipped and "PostgreSQL is not available" in str(report.longrepr):
        _SKIPPED_PG.append(report.nodeid)


_SKIPPED_PG: list[str] = []


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
    passed = terminalreporter.stats.get("passed", [])
    sqlite = sum(1 for r in passed if "[sqlite" in r.nodeid)
    postgres = sum(1 for r in passed if "[postgres" in r.nodeid)
    terminalreporter.write_line(
        f"database tests passed: {sqlite} on SQLite, {postgres} on PostgreSQL"
    )
    if _SKIPPED_PG and config.stash.get(_REQUIRE_PG, False):
        terminalreporter.write_line(
            f"FAILED: {len(_SKIPPED_PG)} PostgreSQL tests were skipped but"
            " SKILLPROOF_REQUIRE_POSTGRES is set",
            red=True,
        )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _SKIPPED_PG and session.config.stash.get(_REQUIRE_PG, False) and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED

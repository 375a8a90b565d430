"""Async database engine, sessions and the unit of work that owns each transaction."""

from __future__ import annotations

import functools
import logging
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import MetaData, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

# One naming convention so Alembic migrations get stable, portable constraint names.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SQLModel.metadata.naming_convention = NAMING_CONVENTION
metadata: MetaData = SQLModel.metadata

SQLITE_BUSY_TIMEOUT_MS = 5000
# Execution option marking a transaction that will write (BEGIN IMMEDIATE on SQLite).
WRITE_OPTION = "skillproof_write"

SessionFactory = async_sessionmaker[AsyncSession]
RowT = TypeVar("RowT", bound=SQLModel)

# The Alembic scripts: the only way the schema changes (`skillproof migrate`).
MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


class DatabaseUnavailable(Exception):
    """The database cannot be reached or created where the URL says."""


class SchemaOutdated(Exception):
    """The database answers, but its schema is not the one this code was written for."""

    def __init__(self, revision: str | None, expected: str) -> None:
        super().__init__("the database schema is not up to date: run `skillproof migrate`")
        self.revision = revision
        self.expected = expected


def quiet_alembic() -> None:
    """Alembic announces each plugin it loads: noise on a command's stderr and in the logs."""
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)


# PostgreSQL's SQLSTATE for undefined_table (asyncpg's UndefinedTableError, psycopg's alike).
_UNDEFINED_TABLE = "42P01"


def is_missing_table(exc: BaseException) -> bool:
    """The driver said a table does not exist: SQLite's "no such table", PostgreSQL's 42P01.

    Recognised from the error itself, so a healthy request pays for no schema check. SQLAlchemy
    keeps the driver's error as `orig`; asyncpg's own error is the cause of the adapted one.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, sqlite3.OperationalError) and str(current).startswith(
            "no such table"
        ):
            return True
        codes = (getattr(current, "sqlstate", None), getattr(current, "pgcode", None))
        if _UNDEFINED_TABLE in codes:
            return True
        orig = getattr(current, "orig", None)
        current = orig if isinstance(orig, BaseException) else current.__cause__
    return False


@functools.cache
def schema_head() -> str:
    """The newest migration's revision, read once from the migration scripts."""
    quiet_alembic()
    from alembic.script import ScriptDirectory

    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    if head is None:
        raise RuntimeError(f"the migrations folder {MIGRATIONS} has no head revision")
    return head


async def schema_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at; None when it was never migrated.

    A database that cannot be reached raises as usual: SELECT 1 tells "no alembic_version
    table" apart from "no database".
    """
    async with engine.connect() as connection:
        try:
            return (
                await connection.execute(text("SELECT version_num FROM alembic_version"))
            ).scalar()
        except DBAPIError:
            await connection.rollback()
            await connection.execute(text("SELECT 1"))
            return None


async def require_schema_at_head(engine: AsyncEngine) -> None:
    """Raise SchemaOutdated unless `skillproof migrate` brought the database to the head."""
    revision, expected = await schema_revision(engine), schema_head()
    if revision != expected:
        raise SchemaOutdated(revision, expected)


def create_engine(database_url: str, *, echo: bool = False) -> AsyncEngine:
    """Build the engine; on SQLite every connection gets WAL, foreign keys and a busy timeout.

    Statement parameters are kept out of error messages (`hide_parameters`): a failed insert
    would otherwise log a raw credential or an encrypted ATS secret with its exception.
    """
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            try:
                Path(url.database).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise DatabaseUnavailable(
                    f"cannot create the folder of {url.database}: {exc.strerror}"
                ) from exc
        engine = create_async_engine(
            url,
            echo=echo,
            hide_parameters=True,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        )
        _configure_sqlite(engine)
    else:
        engine = create_async_engine(url, echo=echo, hide_parameters=True, pool_pre_ping=True)
    _scrub_nul_characters(engine)
    return engine


# What a NUL character in text becomes on the way to the database: U+FFFD, the replacement
# character, visible as such on a page.
NUL_REPLACEMENT = "\ufffd"


def _scrub_nul_characters(engine: AsyncEngine) -> None:
    """Text parameters lose NUL characters, on both databases alike.

    PostgreSQL cannot store U+0000 in text and fails the whole statement. Outside text can carry
    one anywhere (a credential's achievement name, an ATS's candidate field): one such string
    must not make an upload or a sync fail on every retry. Raw credentials are bytes and are
    stored untouched; what is derived from them for display and search carries the replacement.
    """

    def clean(params: Any) -> Any:
        if isinstance(params, dict):
            return {k: _without_nul(v) for k, v in params.items()}
        if isinstance(params, list | tuple):
            return type(params)(_without_nul(v) for v in params)
        return params

    @event.listens_for(engine.sync_engine, "before_cursor_execute", retval=True)
    def _before(
        _conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, many: bool
    ) -> tuple[str, Any]:
        if many and isinstance(parameters, list | tuple):
            return statement, type(parameters)(clean(p) for p in parameters)
        return statement, clean(parameters)


def _without_nul(value: Any) -> Any:
    if isinstance(value, str) and "\x00" in value:
        return value.replace("\x00", NUL_REPLACEMENT)
    return value


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the driver so BEGIN IMMEDIATE below is ours to emit.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        # busy_timeout does not help a reader that later upgrades to a writer (it fails at once
        # with SQLITE_BUSY); a unit of work takes the write lock up front so concurrent writers
        # queue instead. Plain reads stay deferred: under WAL they never wait for a writer.
        if connection.get_execution_options().get(WRITE_OPTION):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.exec_driver_sql("BEGIN")


def session_factory(engine: AsyncEngine) -> SessionFactory:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


@asynccontextmanager
async def unit_of_work(sessions: SessionFactory) -> AsyncIterator[AsyncSession]:
    """One transaction: commits when the block ends normally, rolls back on any exception.

    Repositories and pipeline steps never commit; the request or job boundary that opened the
    unit of work does.
    """
    async with sessions() as session:
        try:
            await session.connection(execution_options={WRITE_OPTION: True})
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


def is_sqlite(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite"


def sqlite_version() -> str:
    return sqlite3.sqlite_version


async def insert_or_existing(
    session: AsyncSession, row: RowT, existing: Callable[[], Awaitable[RowT | None]]
) -> tuple[RowT, bool]:
    """Insert `row`, or when a unique key refuses it return the row holding that key; (row, new).

    Two requests storing the same thing at once both find nothing and both insert. The loser's
    insert is undone in its own savepoint, so its transaction stays usable, and it answers with
    the winner's row. An integrity error that no existing row explains (a foreign key) is raised.
    """
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError:
        found = await existing()
        if found is None:
            raise
        return found, False
    return row, True

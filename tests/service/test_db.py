"""The database layer behaves the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from service.db import unit_of_work
from service.models import Application, Candidate, Job, Tenant
from tests.conftest import Database


async def test_unit_of_work_commits_and_rolls_back(db: Database) -> None:
    async with unit_of_work(db.sessions) as session:
        session.add(Tenant(slug="acme", name="Acme"))

    async def failing_unit() -> None:
        async with unit_of_work(db.sessions) as session:
            session.add(Tenant(slug="globex", name="Globex"))
            await session.flush()
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await failing_unit()
    async with db.sessions() as session:
        slugs = (await session.exec(select(Tenant.slug))).all()
    assert slugs == ["acme"], "a failed unit of work must leave nothing behind"


async def test_datetimes_come_back_aware_utc(db: Database) -> None:
    async with unit_of_work(db.sessions) as session:
        tenant = Tenant(slug="acme", name="Acme")
        session.add(tenant)
    async with db.sessions() as session:
        loaded = (await session.exec(select(Tenant))).one()
    assert loaded.created_at.tzinfo is not None
    assert loaded.created_at.utcoffset() == UTC.utcoffset(None)
    assert abs((datetime.now(UTC) - loaded.created_at).total_seconds()) < 60


async def test_foreign_keys_are_enforced(db: Database) -> None:
    with pytest.raises(IntegrityError):
        async with unit_of_work(db.sessions) as session:
            session.add(Candidate(tenant_id="0" * 32, display_name="Nobody"))


async def test_database_errors_never_carry_the_values_written(db: Database) -> None:
    """An error is logged with its message; the values (a raw credential, say) stay out of it."""
    secret = "raw-credential-proofValue-z2QqZBSqcJjydA9q"
    with pytest.raises(IntegrityError) as failure:
        async with unit_of_work(db.sessions) as session:
            session.add(Candidate(tenant_id="0" * 32, display_name=secret))
    assert "INSERT INTO candidate" in str(failure.value), "the statement is still named"
    assert secret not in str(failure.value), str(failure.value)


async def test_text_with_a_nul_character_is_stored_with_a_replacement(db: Database) -> None:
    async with unit_of_work(db.sessions) as session:
        tenant = Tenant(slug="acme", name="Acme\x00 Ltd")
        session.add(tenant)
    async with db.sessions() as session:
        stored = (await session.exec(select(Tenant))).one()
        found = (await session.exec(select(Tenant).where(Tenant.name == "Acme\x00 Ltd"))).all()
    assert stored.name == "Acme\ufffd Ltd"
    assert found == [stored], "a lookup with the same text finds it"


async def test_deleting_a_tenant_cascades(db: Database) -> None:
    async with unit_of_work(db.sessions) as session:
        tenant = Tenant(slug="acme", name="Acme")
        session.add(tenant)
        await session.flush()
        candidate = Candidate(tenant_id=tenant.id, display_name="Ada")
        job = Job(tenant_id=tenant.id, title="Data Analyst")
        session.add_all([candidate, job])
        await session.flush()
        session.add(Application(tenant_id=tenant.id, candidate_id=candidate.id, job_id=job.id))
    async with unit_of_work(db.sessions) as session:
        await (await session.connection()).execute(text("DELETE FROM tenants"))
    async with db.sessions() as session:
        remaining = (await session.exec(select(Application))).all()
    assert remaining == [], "erasing a tenant must cascade (foreign_keys=ON on SQLite)"


async def test_sqlite_runs_in_wal_mode(db: Database) -> None:
    if db.backend != "sqlite":
        pytest.skip("SQLite pragma")
    async with db.engine.connect() as connection:
        mode = (await connection.exec_driver_sql("PRAGMA journal_mode")).scalar()
        fks = (await connection.exec_driver_sql("PRAGMA foreign_keys")).scalar()
    assert mode == "wal"
    assert fks == 1


async def test_reads_do_not_wait_for_an_open_unit_of_work(db: Database) -> None:
    """A reader never queues behind a writer (SQLite: deferred BEGIN under WAL)."""
    async with unit_of_work(db.sessions) as writer:
        writer.add(Tenant(slug="acme", name="Acme"))
        await writer.flush()
        async with db.sessions() as reader:
            seen = (await reader.exec(select(Tenant.slug))).all()
        assert seen == [], "uncommitted rows must not be visible to another session"
    async with db.sessions() as reader:
        assert (await reader.exec(select(Tenant.slug))).all() == ["acme"]

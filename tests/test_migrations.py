"""Migrations that touch existing rows: they keep every row and fill new columns honestly."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlmodel import select

from service.db import unit_of_work
from service.models import Application, RawCredential, VerificationRecord
from service.pipeline import evaluate_application
from service.repositories import applications as app_repo
from service.runtime import open_runtime
from tests.conftest import REPO_ROOT, Database, _in_thread
from tests.service.support import make_settings, seed_tenant, store_upload
from tests.service.sync_support import credential_bytes

BEFORE_EVALUATION_MARKER = "48a3757f8d03"


def _alembic(url: str, action: str, revision: str) -> None:
    config = Config(str(REPO_ROOT / "alembic.ini"))
    config.set_main_option("sqlalchemy.url", url)
    getattr(command, action)(config, revision)


async def test_the_evaluation_marker_is_backfilled_and_no_row_is_lost(
    db: Database, tmp_path: Path
) -> None:
    settings = make_settings(db.url, tmp_path, semantic_mapping=False)
    evaluated_at = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    async with open_runtime(settings) as runtime:
        seeded = await seed_tenant(runtime, "acme")
        async with unit_of_work(runtime.sessions) as session:
            await store_upload(session, seeded, credential_bytes(0, 0))
            never = await app_repo.upsert_application(
                session,
                tenant_id=seeded.tenant_id,
                connection_id=None,
                external_ref=None,
                candidate_id=seeded.candidate_id,
                job_id=seeded.job_id,
                status="active",
                remote_updated_at=None,
            )
        await evaluate_application(
            runtime,
            tenant_id=seeded.tenant_id,
            application_id=seeded.application_id,
            now=evaluated_at,
        )

    # A deployment of the previous release, rolled forward again.
    _in_thread(lambda: _alembic(db.url, "downgrade", BEFORE_EVALUATION_MARKER))
    _in_thread(lambda: _alembic(db.url, "upgrade", "head"))

    async with open_runtime(settings) as runtime, runtime.sessions() as session:
        applications = {a.id: a for a in (await session.exec(select(Application))).all()}
        raws = (await session.exec(select(RawCredential))).all()
        verifications = (await session.exec(select(VerificationRecord))).all()
    assert len(raws) == 1, "the downgrade must not cascade-delete credentials"
    assert len(verifications) == 1, "nor their verification results"
    evaluated = applications[seeded.application_id]
    assert evaluated.evaluated_at == evaluated_at, "backfilled from its latest verification"
    assert evaluated.evaluated_inputs is None, "what it read then is unknown: sync re-evaluates"
    assert (applications[never.id].evaluated_at, applications[never.id].evaluated_inputs) == (
        None,
        None,
    ), "never evaluated stays never evaluated"

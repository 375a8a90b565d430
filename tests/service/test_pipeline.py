"""The evaluation pipeline: its write transaction is short, and what it tells the ATS is tidy.

Real SQLite/PostgreSQL database, a genuinely signed credential, and a skill mapper whose search
is slow for real (it waits inside the call): other writers must get through meanwhile.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from service.catalog import STARTER
from service.db import unit_of_work
from service.demo.issuer import IssuerSite, demo_issuers, issue, status_list_credential
from service.demo.people import SQL, DemoCredential
from service.mapping import SkillMapper
from service.pipeline import evaluate_application, rejection_reason
from service.repositories import audit
from service.repositories import outbox as outbox_repo
from service.repositories import profiles as profile_repo
from service.repositories.profiles import RequirementInput
from service.runtime import open_runtime
from service.verify.contexts import ContextStore, sync_from_mirror
from service.verify.result import CheckId, CheckResult, Outcome
from taxonomies.index import Hit, LabelIndex
from taxonomies.model import SKILL_KINDS, ConceptKind
from tests.conftest import Database
from tests.service.support import make_settings, seed_tenant, store_upload
from tests.service.sync_support import serve

# A safety net so a regression hangs for a while instead of forever; nothing is timed.
NEVER = 60.0


class HeldSearcher:
    """The starter's lexical index, held inside its first search until the test lets go."""

    def __init__(self, index: LabelIndex) -> None:
        self.index = index
        self.inside = threading.Event()
        self.release = threading.Event()

    def search(
        self, query: str, *, top_k: int = 10, kinds: Collection[ConceptKind] | None = None
    ) -> list[Hit]:
        self.inside.set()
        self.release.wait(NEVER)
        return self.index.search(query, top_k=top_k, kinds=kinds)

    def query_forms(self, query: str) -> list[str]:
        return self.index.query_forms(query)


@pytest.mark.vendor_data
async def test_other_writers_get_through_while_the_mapper_is_slow(
    db: Database, tmp_path: Path, vendor_data: Path
) -> None:
    settings = make_settings(
        db.url, tmp_path, fetch_allow=("127.0.0.1/32",), semantic_mapping=False
    )
    sync_from_mirror(settings.contexts_dir, vendor_data / "credentials")
    contexts = ContextStore.from_settings(settings)
    issuer = demo_issuers(settings.secret_key.get_secret_value())["northbridge"]
    issuer_site = IssuerSite()
    now = datetime.now(UTC)
    async with serve(issuer_site.app()) as issuer_url, open_runtime(settings) as runtime:
        status_url = f"{issuer_url}status/1"
        issuer_site.publish(
            status_list_credential(
                issuer=issuer, status_url=status_url, revoked=set(), now=now, contexts=contexts
            )
        )
        seeded = await seed_tenant(runtime, "acme", email="ada@example.org")
        loaded = runtime.catalog.get(STARTER)
        assert loaded is not None
        taxonomy = loaded.taxonomy
        searcher = HeldSearcher(LabelIndex.build(taxonomy, kinds=SKILL_KINDS))
        loaded._mapper[:] = [SkillMapper(taxonomy, searcher=searcher)]
        async with unit_of_work(runtime.sessions) as session:
            await store_upload(
                session,
                seeded,
                issue(
                    DemoCredential(achievement=SQL),
                    issuer=issuer,
                    email="ada@example.org",
                    now=now,
                    status_url=status_url,
                    status_index=1,
                    labels={},
                    contexts=contexts,
                ),
            )
            profile = await profile_repo.create_profile(
                session, tenant_id=seeded.tenant_id, name="Data Analyst", job_id=seeded.job_id
            )
            await profile_repo.add_version(
                session,
                profile=profile,
                taxonomy=taxonomy.name,
                taxonomy_version=taxonomy.version,
                created_by="test",
                requirements=[
                    RequirementInput(concept_id="sp:skill/sql", label="SQL", importance="essential")
                ],
            )

        evaluation = asyncio.create_task(
            evaluate_application(
                runtime, tenant_id=seeded.tenant_id, application_id=seeded.application_id, now=now
            )
        )
        try:
            entered = await asyncio.to_thread(searcher.inside.wait, NEVER)
            assert entered, "the evaluation never reached the mapper"
            # What the scheduler's drain does meanwhile: claim the outbox, in its own session.
            async with unit_of_work(runtime.sessions) as session:
                await outbox_repo.claim_due(
                    session, owner="drainer", now=now, lease=timedelta(minutes=2), limit=20
                )
                await audit.append(
                    session,
                    tenant_id=seeded.tenant_id,
                    actor="system",
                    action="drain",
                    object_type="outbox",
                    object_id="-",
                    details={},
                    at=now,
                )
            assert not evaluation.done(), (
                "the concurrent write must finish while the mapper is still inside its search"
            )
        finally:
            searcher.release.set()
        result = await evaluation

    assert result.match_id is not None, "the evaluation stores a match"
    assert result.outcome is not None, "the evaluation scores"
    assert "SQL" in result.outcome.top_skills, result.outcome.summary


def test_a_rejection_names_the_host_not_the_submitted_url() -> None:
    check = CheckResult(
        id=CheckId.STATUS,
        outcome=Outcome.FAIL,
        detail="revoked by its issuer (entry 7 of https://evil.example/s?token=SECRET&x=1)",
    )
    assert (
        rejection_reason(check)
        == "status: revoked by its issuer (entry 7 of a URL on evil.example)"
    )


def test_a_long_rejection_is_cut_at_a_word_with_an_ellipsis() -> None:
    check = CheckResult(id=CheckId.PROOF, outcome=Outcome.FAIL, detail="word " * 60)
    reason = rejection_reason(check)
    assert reason == "proof: " + "word " * 21 + "word…", reason
    assert len(reason) <= 120

"""The app on a real port for Chromium: a seeded tenant, an ESCO-scored match, hostile text."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from aiohttp import web

from service.app import create_app
from service.db import unit_of_work
from service.models import MatchResult, VerificationRecord
from service.repositories import credentials as cred_repo
from service.repositories import matches as match_repo
from service.repositories import profiles as profile_repo
from service.repositories.profiles import RequirementInput
from service.runtime import Runtime, open_runtime
from service.scoring import CredentialTally, Evidence, ProfileSpec, RequirementSpec, score
from service.settings import Settings
from service.taxonomy_store import import_taxonomy
from taxonomies import esco
from taxonomies.model import Concept, ConceptKind, Taxonomy
from tests.service.support import seed_tenant

_T = TypeVar("_T")

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
ESCO_VERSION = "1.1.1"
SQL = "http://data.europa.eu/esco/skill/sql"
PYTHON = "http://data.europa.eu/esco/skill/python"
TABLEAU = "http://data.europa.eu/esco/skill/tableau"

# What a hostile issuer could put in a badge: each sets a window flag if it ever runs.
XSS_NAME = '<script>window.__xss = "script"</script>SQL for Analysts'
XSS_ISSUER = "<img src=x onerror=\"window.__xss = 'img'\">Academy"


@dataclass(frozen=True, kw_only=True)
class SeededPages:
    api_key: str
    application_id: str
    candidate: str
    score: int
    summary: str
    coverage: tuple[float, ...]  # per requirement, in the order the page lists them
    evidence_path: str
    attribution: str


def tiny_esco() -> Taxonomy:
    """Three ESCO-shaped skills: enough to store a version whose attribution the pages show."""
    concepts = {
        concept_id: Concept(id=concept_id, kind=ConceptKind.SKILL, preferred_label=label)
        for concept_id, label in (
            (SQL, "SQL"),
            (PYTHON, "Python (computer programming)"),
            (TABLEAU, "Tableau"),
        )
    }
    return Taxonomy(
        name=esco.NAME,
        version=ESCO_VERSION,
        source="tests/browser",
        licence=esco.LICENCE,
        attribution=esco.attribution(ESCO_VERSION),
        concepts=concepts,
    )


async def seed_pages(runtime: Runtime) -> SeededPages:
    """A tenant whose one application was scored against an ESCO role profile."""
    taxonomy = tiny_esco()
    await import_taxonomy(runtime.sessions, taxonomy, tenant_id=None)
    tenant = await seed_tenant(runtime, "acme")
    requirements = (
        RequirementSpec(concept_id=SQL, label="SQL", importance="essential"),
        RequirementSpec(concept_id=PYTHON, label="Python", importance="essential"),
        RequirementSpec(concept_id=TABLEAU, label="Tableau", importance="optional"),
    )
    async with unit_of_work(runtime.sessions) as session:
        profile = await profile_repo.create_profile(
            session, tenant_id=tenant.tenant_id, name="Data Analyst", job_id=tenant.job_id
        )
        version = await profile_repo.add_version(
            session,
            profile=profile,
            taxonomy=taxonomy.name,
            taxonomy_version=taxonomy.version,
            created_by="test",
            requirements=[
                RequirementInput(concept_id=r.concept_id, label=r.label, importance=r.importance)
                for r in requirements
            ],
        )
        raw, _ = await cred_repo.store_raw(
            session,
            tenant_id=tenant.tenant_id,
            candidate_id=tenant.candidate_id,
            application_id=tenant.application_id,
            source="api",
            source_ref=None,
            media_type="application/json",
            content=json.dumps({"credentialSubject": {"achievement": {"name": XSS_NAME}}}).encode(),
        )
        await cred_repo.add_verification(
            session,
            VerificationRecord(
                tenant_id=tenant.tenant_id,
                raw_credential_id=raw.id,
                verdict="verified",
                format="ob3",
                issuer_name=XSS_ISSUER,
                checks=[{"id": "proof", "outcome": "pass", "detail": ""}],
                result={},
                verifier_version="test",
                verified_at=NOW,
            ),
        )
        evidence = [
            Evidence(
                concept_id=concept_id,
                concept_label=label,
                mapping_confidence=confidence,
                mapping_method="exact",
                credential_ref=raw.id,
                credential_name=XSS_NAME,
                issuer_name=XSS_ISSUER,
                issuer_tier="platform",
            )
            for concept_id, label, confidence in ((SQL, "SQL", 1.0), (PYTHON, "Python", 0.6))
        ]
        outcome = score(
            ProfileSpec(
                profile_id=profile.id,
                name=profile.name,
                version=version.version,
                taxonomy=taxonomy.name,
                taxonomy_version=taxonomy.version,
                requirements=requirements,
            ),
            evidence,
            now=NOW,
            credentials=CredentialTally(verified=1, rejected=0, indeterminate=0),
        )
        match = await match_repo.add_match(
            session,
            MatchResult(
                tenant_id=tenant.tenant_id,
                application_id=tenant.application_id,
                profile_version_id=version.id,
                score=outcome.score,
                band=outcome.band.value,
                explanation=outcome.explanation(),
                versions=dict(outcome.versions),
                inputs_hash="browser-test",
                computed_at=NOW,
            ),
        )
    token = runtime.links.evidence_token(tenant_id=tenant.tenant_id, match_id=match.id)
    return SeededPages(
        api_key=tenant.api_key,
        application_id=tenant.application_id,
        candidate="Ada Lovelace",
        score=outcome.score,
        summary=outcome.summary,
        coverage=tuple(c.coverage for c in outcome.contributions),
        evidence_path=f"/evidence/{token}",
        attribution=taxonomy.attribution,
    )


@dataclass(frozen=True, kw_only=True)
class LiveSite:
    base_url: str
    seeded: SeededPages

    def url(self, path: str) -> str:
        return self.base_url + path


@contextmanager
def live_site(
    settings: Settings, seed: Callable[[Runtime], Awaitable[SeededPages]]
) -> Iterator[LiveSite]:
    """Serve the app on 127.0.0.1 from its own thread and event loop.

    The browser is driven by blocking WebDriver calls from the test; on the test's own loop the
    server could not answer them.
    """
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="live-site", daemon=True)
    thread.start()

    def run(work: Awaitable[_T]) -> _T:
        return asyncio.run_coroutine_threadsafe(_coroutine(work), loop).result(timeout=120)

    stack = AsyncExitStack()
    try:

        async def start() -> LiveSite:
            runtime = await stack.enter_async_context(open_runtime(settings))
            seeded = await seed(runtime)
            runner = web.AppRunner(create_app(settings, runtime=runtime), access_log=None)
            await runner.setup()
            stack.push_async_callback(runner.cleanup)
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            host, port = runner.addresses[0][:2]
            return LiveSite(base_url=f"http://{host}:{port}", seeded=seeded)

        yield run(start())
    finally:
        run(stack.aclose())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.close()


async def _coroutine(work: Awaitable[_T]) -> _T:
    return await work

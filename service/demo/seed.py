"""Seed the demo: tenant, API key, trusted issuer, sandbox ATS data, role profiles, connection."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from connectors.ats.sandbox_state import CredentialSeed, SandboxState
from service import taxonomy_store
from service.catalog import STARTER
from service.db import unit_of_work
from service.demo.issuer import (
    STATUS_LIST_PATH,
    IssuerSite,
    demo_issuers,
    issue,
    status_list_credential,
)
from service.demo.people import CANDIDATES, ROLES
from service.models import Connection
from service.repositories import applications as app_repo
from service.repositories import profiles as profile_repo
from service.repositories import tenancy
from service.repositories.profiles import RequirementInput
from service.runtime import Runtime
from service.security import apikeys
from service.settings import Settings
from service.verify.contexts import ContextStore, sync_from_mirror

ISSUER_PREFIX = "/demo-issuer/"
DEMO_SLUG = "demo"
OB3_CONTEXT = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"


@dataclass(frozen=True, kw_only=True, slots=True)
class DemoSeed:
    tenant_id: str
    connection_id: str
    api_key: str


def ensure_contexts(settings: Settings) -> None:
    """The demo verifies OB 3.0: provision the pinned contexts from the offline mirror if needed."""
    if ContextStore.from_settings(settings).has(OB3_CONTEXT):
        return
    mirror = settings.vendor_data / "credentials"
    if not (mirror / "context-map.json").is_file():
        raise RuntimeError(
            f"the JSON-LD context store at {settings.contexts_dir} is empty and no offline mirror"
            f" was found at {mirror}: run `skillproof contexts sync` (or --from DIR) first"
        )
    sync_from_mirror(settings.contexts_dir, mirror)


async def seed(
    runtime: Runtime,
    state: SandboxState,
    site: IssuerSite,
    *,
    sandbox_key: str,
    now: datetime,
) -> DemoSeed:
    """Idempotent: an existing demo tenant is reused; a fresh API key is issued every time."""
    settings = runtime.settings
    secret = settings.secret_key.get_secret_value()
    issuers = demo_issuers(secret)
    status_url = settings.base_url.rstrip("/") + STATUS_LIST_PATH
    contexts = ContextStore.from_settings(settings)
    bundled = runtime.catalog.get(STARTER)
    if bundled is None:
        raise RuntimeError("the starter taxonomy is not loaded")
    taxonomy = bundled.taxonomy
    if (
        await taxonomy_store.current_version_id(runtime.sessions, name=STARTER, tenant_id=None)
        is None
    ):
        # Stored like any imported taxonomy, so HR overrides and versions apply to it too.
        await taxonomy_store.import_taxonomy(runtime.sessions, taxonomy, tenant_id=None)
    labels = {c.id: c.preferred_label for c in taxonomy.concepts.values()}

    revoked = _revoked_indexes()
    if not state.jobs:
        jobs = {role.key: state.add_job(name=role.title, department="Demo") for role in ROLES}
        index = 0
        for person in CANDIDATES:
            seeds = []
            for credential in person.credentials:
                index += 1
                seeds.append(
                    CredentialSeed(
                        media_type="application/json",
                        content=issue(
                            credential,
                            issuer=issuers[credential.issuer],
                            email=person.email,
                            now=now,
                            status_url=status_url,
                            status_index=index,
                            labels=labels,
                            contexts=contexts,
                        ),
                        filename=f"{credential.achievement.name}.json",
                    )
                )
            candidate = state.add_candidate(
                first_name=person.first_name,
                last_name=person.last_name,
                verified_emails=[person.email],
            )
            state.add_application(
                candidate_id=candidate.id, job_id=jobs[person.role].id, credentials=seeds
            )
    site.publish(
        status_list_credential(
            issuer=issuers["northbridge"],
            status_url=status_url,
            revoked=revoked,
            now=now,
            contexts=contexts,
        )
    )

    async with unit_of_work(runtime.sessions) as session:
        tenant = await tenancy.tenant_by_slug(session, DEMO_SLUG)
        if tenant is None:
            tenant = await tenancy.add_tenant(session, slug=DEMO_SLUG, name="Demo Employer Ltd")
            await tenancy.add_user(
                session,
                tenant_id=tenant.id,
                email="admin@demo.example",
                name="Demo admin",
                role="admin",
            )
            for issuer, tier in (
                (issuers["northbridge"], "accredited_institution"),
                (issuers["cloudskills"], "platform"),
            ):
                await tenancy.add_trusted_issuer(
                    session, tenant_id=tenant.id, issuer_id=issuer.did, name=issuer.name, tier=tier
                )
        key = apikeys.generate(pepper=secret)
        await tenancy.add_api_key(
            session,
            tenant_id=tenant.id,
            name="demo session",
            prefix=key.prefix,
            key_hash=key.key_hash,
            role="admin",
        )
        connection = await _sandbox_connection(runtime, session, tenant.id, sandbox_key)
        for role, job in zip(ROLES, sorted(state.jobs.values(), key=lambda j: j.id), strict=True):
            row = await app_repo.upsert_job(
                session,
                tenant_id=tenant.id,
                connection_id=connection.id,
                external_ref=str(job.id),
                title=job.name,
            )
            if await profile_repo.profile_for_job(session, tenant_id=tenant.id, job_id=row.id):
                continue
            template = taxonomy.role_template(role.template_id)
            if template is None:
                raise RuntimeError(f"starter taxonomy has no role template {role.template_id}")
            profile = await profile_repo.create_profile(
                session, tenant_id=tenant.id, name=role.title, job_id=row.id
            )
            await profile_repo.add_version(
                session,
                profile=profile,
                taxonomy=taxonomy.name,
                taxonomy_version=taxonomy.version,
                created_by="demo",
                note=f"drafted from {template.title}",
                requirements=[
                    RequirementInput(concept_id=c, label=labels[c], importance="essential")
                    for c in template.essential
                ]
                + [
                    RequirementInput(concept_id=c, label=labels[c], importance="optional")
                    for c in template.optional
                ],
            )
        return DemoSeed(tenant_id=tenant.id, connection_id=connection.id, api_key=key.token)


def _revoked_indexes() -> set[int]:
    index, revoked = 0, set()
    for person in CANDIDATES:
        for credential in person.credentials:
            index += 1
            if credential.defect == "revoked":
                revoked.add(index)
    return revoked


async def _sandbox_connection(
    runtime: Runtime, session: AsyncSession, tenant_id: str, sandbox_key: str
) -> Connection:
    base_url = runtime.settings.base_url.rstrip("/") + "/sandbox-ats"
    for existing in await tenancy.list_connections(session, tenant_id=tenant_id, kind="ats"):
        if existing.provider == "sandbox":
            existing.base_url = base_url
            session.add(existing)
            return existing
    connection = Connection(
        tenant_id=tenant_id, kind="ats", provider="sandbox", name="Sandbox ATS", base_url=base_url
    )
    session.add(connection)
    await session.flush()
    connection.secret_ciphertext, connection.secret_key_id = runtime.secrets.seal(
        {"api_key": sandbox_key}, tenant_id=tenant_id, connection_id=connection.id
    )
    session.add(connection)
    await session.flush()
    return connection

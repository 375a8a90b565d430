"""What an evaluation reads from the database, and the fingerprint that says whether it changed.

`read_inputs` gathers everything `service.pipeline` needs before it verifies anything, with no
network access: the application and its job and candidate references, the candidate's verified
identifiers, the stored credentials, the job's current role profile and taxonomy, the tenant's
mapping overrides and issuer trust registry. `fingerprint` hashes all of it together with the
versions of the code that turns it into a score.

An evaluation stores the fingerprint of the inputs it read on the application, in the same
transaction as its results (`Application.evaluated_inputs`, with `evaluated_at`). Equal
fingerprints therefore mean "nothing this application's score is computed from has changed
since its last finished evaluation", and sync skips it. A change anywhere (a new credential, a
moved status or job, a newly verified email, a new role profile version, HR's overrides, the
trust registry, an upgraded verifier) changes the fingerprint, and the application is evaluated
the next time sync sees it. What a fingerprint cannot see is time: a credential expiring or
being revoked on its issuer's status list. That is what scheduled re-validation is for
(`service.revalidation`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from service import taxonomy_store, trust
from service.catalog import LoadedTaxonomy
from service.mapping import MAPPING_VERSION
from service.models import Application, Connection, RawCredential
from service.repositories import applications as app_repo
from service.repositories import credentials as cred_repo
from service.repositories import profiles as profile_repo
from service.repositories import tenancy
from service.runtime import Runtime
from service.scoring import SCORING_VERSION, ProfileSpec, RequirementSpec
from service.verify import Holder, VerifyPolicy
from service.verify.result import VERIFIER_VERSION

# Bump when what goes into the fingerprint changes: every application is then evaluated again.
FINGERPRINT_VERSION = "1"


@dataclass(frozen=True, kw_only=True, slots=True)
class EvaluationInputs:
    application: Application
    holder: Holder
    credentials: tuple[RawCredential, ...]
    profile: ProfileSpec | None
    taxonomy: LoadedTaxonomy | None
    overrides: dict[str, str | None]  # HR's phrase -> concept corrections for `taxonomy`
    policy: VerifyPolicy
    connection: Connection | None
    job_ref: str | None
    candidate_ref: str | None
    semantic_mapping: bool

    @property
    def is_evaluated(self) -> bool:
        """True when the last finished evaluation read exactly these inputs."""
        return self.application.evaluated_inputs == fingerprint(self)


async def read_inputs(runtime: Runtime, *, tenant_id: str, application_id: str) -> EvaluationInputs:
    """Everything one evaluation reads, in one short read; raises LookupError when not found."""
    async with runtime.sessions() as session:
        application = await app_repo.get_application(
            session, tenant_id=tenant_id, application_id=application_id
        )
        if application is None:
            raise LookupError(f"application {application_id} not found")
        identifiers = await app_repo.identifiers(
            session, tenant_id=tenant_id, candidate_id=application.candidate_id
        )
        holder = Holder(
            emails=tuple(i.value for i in identifiers if i.kind == "email"),
            dids=tuple(i.value for i in identifiers if i.kind == "did"),
            urls=tuple(i.value for i in identifiers if i.kind == "url"),
            phones=tuple(i.value for i in identifiers if i.kind == "phone"),
        )
        credentials = await cred_repo.raw_for_application(
            session, tenant_id=tenant_id, application_id=application_id
        )
        profile, loaded = await _profile_spec(runtime, session, tenant_id, application.job_id)
        connection = None
        if application.connection_id:
            connection = await tenancy.get_connection(
                session, tenant_id=tenant_id, connection_id=application.connection_id
            )
        job = await app_repo.get_job(session, tenant_id=tenant_id, job_id=application.job_id)
        candidate = await app_repo.get_candidate(
            session, tenant_id=tenant_id, candidate_id=application.candidate_id
        )
    overrides: dict[str, str | None] = {}
    if loaded is not None and loaded.version_id is not None:
        # HR's confirmations and corrections for this tenant win over the mapper.
        overrides = await taxonomy_store.overrides(
            runtime.sessions, tenant_id=tenant_id, taxonomy_id=loaded.version_id
        )
    return EvaluationInputs(
        application=application,
        holder=holder,
        credentials=tuple(credentials),
        profile=profile,
        taxonomy=loaded,
        overrides=overrides,
        policy=await trust.policy_for(runtime, tenant_id=tenant_id),
        connection=connection,
        job_ref=job.external_ref if job else None,
        candidate_ref=candidate.external_ref if candidate else None,
        semantic_mapping=runtime.settings.semantic_mapping,
    )


async def _profile_spec(
    runtime: Runtime, session: AsyncSession, tenant_id: str, job_id: str
) -> tuple[ProfileSpec | None, LoadedTaxonomy | None]:
    profile = await profile_repo.profile_for_job(session, tenant_id=tenant_id, job_id=job_id)
    if profile is None:
        return None, None
    current = await profile_repo.current_version(session, profile=profile)
    if current is None:
        return None, None
    version, requirements = current
    loaded = await runtime.catalog.resolve(
        runtime.sessions, name=version.taxonomy, tenant_id=tenant_id
    )
    spec = ProfileSpec(
        profile_id=profile.id,
        name=profile.name,
        version=version.version,
        taxonomy=version.taxonomy,
        taxonomy_version=version.taxonomy_version,
        requirements=tuple(
            RequirementSpec(
                concept_id=r.concept_id,
                label=r.label,
                importance=r.importance,
                weight=r.weight,
                accepted_concepts=loaded.descendants(r.concept_id) if loaded else frozenset(),
            )
            for r in requirements
        ),
    )
    return spec, loaded


def fingerprint(inputs: EvaluationInputs) -> str:
    """sha256 (hex) of the canonical JSON of everything an evaluation's result depends on."""
    application = inputs.application
    policy = inputs.policy
    material: dict[str, Any] = {
        "fingerprint": FINGERPRINT_VERSION,
        "code": {
            "verifier": VERIFIER_VERSION,
            "mapping": MAPPING_VERSION,
            "scoring": SCORING_VERSION,
            "semantic_mapping": inputs.semantic_mapping,
        },
        "application": {
            "id": application.id,
            "status": application.status,
            "job": application.job_id,
            "candidate": application.candidate_id,
            "external_ref": application.external_ref,
            "job_ref": inputs.job_ref,
            "candidate_ref": inputs.candidate_ref,
        },
        "connection": (
            [inputs.connection.id, inputs.connection.kind] if inputs.connection else None
        ),
        "holder": {
            "emails": sorted(inputs.holder.emails),
            "dids": sorted(inputs.holder.dids),
            "urls": sorted(inputs.holder.urls),
            "phones": sorted(inputs.holder.phones),
        },
        "credentials": sorted((raw.id, raw.sha256) for raw in inputs.credentials),
        "profile": (
            [inputs.profile.profile_id, inputs.profile.version] if inputs.profile else None
        ),
        "taxonomy": (
            inputs.taxonomy.version_id or inputs.taxonomy.taxonomy.key if inputs.taxonomy else None
        ),
        "overrides": sorted(inputs.overrides.items()),
        "policy": {
            "trusted_issuers": sorted((i, t.value) for i, t in policy.trusted_issuers.items()),
            "clock_skew": policy.clock_skew.total_seconds(),
            "safe_mode": policy.safe_mode,
            "min_status_list_entries": policy.min_status_list_entries,
        },
    }
    return hashlib.sha256(
        json.dumps(material, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()

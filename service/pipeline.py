"""Evaluate one application: verify -> extract -> map -> score -> outbox, in three short steps.

1. read what is needed in one short transaction (`service.evaluation_inputs`);
2. compute everything outside any transaction: verify every credential (status lists and DID
   documents may be fetched), map the verified ones onto the taxonomy (seconds when the index
   or the embedding model is cold; off the event loop) and score. A database write lock must
   never wait on the network or on the mapper: on SQLite it blocks every other writer, the
   scheduler's outbox drain included, and they give up after the busy timeout;
3. write verification results, skill claims, the match, its outbox row and the application's
   "last evaluated" marker (the inputs' fingerprint and the time) in ONE short transaction, so
   nothing is ever pushed that was not computed and committed first, and an application is
   only ever marked evaluated by an evaluation that finished.

Step 2 takes time, and the inputs may change meanwhile (a credential arrives, HR edits the
profile). They are read again just before step 3: when they changed, the evaluation starts over
from them rather than push a score of inputs already superseded. If they keep changing, the
last computation is written with the fingerprint of the inputs it really used, so the marker
never claims what was not evaluated and the next sync evaluates the application again.

`evaluate_if_changed` skips steps 2 and 3 when the marker already holds the fingerprint of the
inputs just read: what sync calls for every application it pulls.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlmodel.ext.asyncio.session import AsyncSession

from service import extract
from service.catalog import LoadedTaxonomy
from service.db import unit_of_work
from service.evaluation_inputs import EvaluationInputs, fingerprint, read_inputs
from service.mapping import MAPPING_VERSION, SkillMapper
from service.models import (
    MatchResult,
    OutboxMessage,
    RawCredential,
    SkillClaimRecord,
    VerificationRecord,
)
from service.repositories import applications as app_repo
from service.repositories import audit
from service.repositories import credentials as cred_repo
from service.repositories import outbox as outbox_repo
from service.repositories import profiles as profile_repo
from service.runtime import Runtime
from service.scoring import (
    REASON_CHARS,
    CredentialTally,
    Evidence,
    MatchOutcome,
    ProfileSpec,
    clip,
    score,
)
from service.verify import CheckResult, Holder, Verdict, VerificationResult, VerifyPolicy
from service.verify.result import VERIFIER_VERSION

log = logging.getLogger(__name__)

# How often the inputs may change under one evaluation before it writes what it has.
MAX_COMPUTATIONS = 3


@dataclass(frozen=True, kw_only=True, slots=True)
class Evaluation:
    application_id: str
    match_id: str | None
    outcome: MatchOutcome | None
    results: tuple[tuple[str, VerificationResult], ...]  # (raw credential id, result)
    enqueued: bool


async def evaluate_application(
    runtime: Runtime, *, tenant_id: str, application_id: str, now: datetime
) -> Evaluation:
    inputs = await read_inputs(runtime, tenant_id=tenant_id, application_id=application_id)
    return await _evaluate(runtime, inputs, now=now)


async def evaluate_if_changed(
    runtime: Runtime, *, tenant_id: str, application_id: str, now: datetime
) -> Evaluation | None:
    """Evaluate unless the last finished evaluation read the same inputs (then None)."""
    inputs = await read_inputs(runtime, tenant_id=tenant_id, application_id=application_id)
    if inputs.is_evaluated:
        return None
    return await _evaluate(runtime, inputs, now=now)


async def _evaluate(runtime: Runtime, inputs: EvaluationInputs, *, now: datetime) -> Evaluation:
    computed = await _compute(runtime, inputs, now=now)
    for _ in range(MAX_COMPUTATIONS - 1):
        current = await read_inputs(
            runtime,
            tenant_id=inputs.application.tenant_id,
            application_id=inputs.application.id,
        )
        if fingerprint(current) == fingerprint(computed.inputs):
            break
        log.info("inputs of application %s changed while it was evaluated", inputs.application.id)
        computed = await _compute(runtime, current, now=now)
    return await _write(runtime, computed, now=now)


@dataclass(frozen=True, kw_only=True, slots=True)
class Assessment:
    """One credential's verification result and the skill claims mapped from it (if verified)."""

    raw: RawCredential
    result: VerificationResult
    claims: tuple[dict[str, Any], ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class Computation:
    """Everything step 3 stores, computed from `inputs` with no transaction open."""

    inputs: EvaluationInputs
    assessments: tuple[Assessment, ...]
    taxonomy: LoadedTaxonomy | None
    outcome: MatchOutcome | None


async def _compute(runtime: Runtime, inputs: EvaluationInputs, *, now: datetime) -> Computation:
    results: list[tuple[RawCredential, VerificationResult]] = []
    for raw in inputs.credentials:
        results.append(
            (
                raw,
                await _verify(runtime, raw, now=now, holder=inputs.holder, policy=inputs.policy),
            )
        )
    mapped: list[tuple[list[Evidence], list[dict[str, Any]]]] = [([], []) for _ in results]
    if inputs.taxonomy is not None:
        mapping = SkillMapping(
            loaded=inputs.taxonomy,
            mapper=await runtime.catalog.mapper(inputs.taxonomy),
            overrides=inputs.overrides,
        )
        # Mapping is CPU work (embedding the claims): a thread, so the loop keeps serving.
        mapped = await asyncio.to_thread(_map_all, results, mapping)
    outcome: MatchOutcome | None = None
    if inputs.profile is not None:
        outcome = score(
            inputs.profile,
            [e for evidence, _ in mapped for e in evidence],
            now=now,
            credentials=_tally(results),
            versions={"mapping": MAPPING_VERSION, "verifier": VERIFIER_VERSION},
        )
    return Computation(
        inputs=inputs,
        assessments=tuple(
            Assessment(raw=raw, result=result, claims=tuple(claims))
            for (raw, result), (_, claims) in zip(results, mapped, strict=True)
        ),
        taxonomy=inputs.taxonomy,
        outcome=outcome,
    )


def _map_all(
    results: list[tuple[RawCredential, VerificationResult]], mapping: SkillMapping
) -> list[tuple[list[Evidence], list[dict[str, Any]]]]:
    # Rejected and indeterminate credentials contribute nothing.
    return [
        _evidence(raw, result, mapping) if result.verdict is Verdict.VERIFIED else ([], [])
        for raw, result in results
    ]


@dataclass(frozen=True, kw_only=True, slots=True)
class SkillMapping:
    loaded: LoadedTaxonomy
    mapper: SkillMapper
    overrides: dict[str, str | None]


async def _verify(
    runtime: Runtime, raw: RawCredential, *, now: datetime, holder: Holder, policy: VerifyPolicy
) -> VerificationResult:
    if raw.media_type == "text/uri-list":
        return await runtime.verifier.verify_url(
            raw.content.decode(), now=now, holder=holder, policy=policy
        )
    return await runtime.verifier.verify(
        raw.content, now=now, holder=holder, policy=policy, media_type=raw.media_type
    )


def _evidence(
    raw: RawCredential,
    result: VerificationResult,
    mapping: SkillMapping,
) -> tuple[list[Evidence], list[dict[str, Any]]]:
    """Mapped skills of one verified credential (and of each verified nested credential)."""
    evidence: list[Evidence] = []
    claims: list[dict[str, Any]] = []
    for item in extract.achievements(result):
        matches = mapping.mapper.map(item.claims, overrides=mapping.overrides)
        for match in matches:
            evidence.append(
                Evidence(
                    concept_id=match.concept_id,
                    concept_label=match.label,
                    mapping_confidence=match.confidence,
                    mapping_method=match.method,
                    credential_ref=raw.id,
                    credential_name=item.achievement.name,
                    issuer_name=item.issuer.name or item.issuer.id,
                    issuer_tier=str(item.issuer.tier),
                    assessed=item.signals.assessed,
                    ects=item.signals.ects,
                    eqf_level=item.signals.eqf_level,
                    hours=item.signals.hours,
                    valid_until=item.valid_until,
                )
            )
            claims.append(
                {
                    "achievement_name": item.achievement.name[:500],
                    "claim_text": match.claim.text[:2000],
                    "claim_source": match.claim.source,
                    "concept_id": match.concept_id,
                    "concept_label": match.label,
                    "confidence": match.confidence,
                    "method": match.method,
                    "signals": item.signals.as_dict(),
                }
            )
    return evidence, claims


def _tally(results: list[tuple[RawCredential, VerificationResult]]) -> CredentialTally:
    reasons = []
    counts = {Verdict.VERIFIED: 0, Verdict.REJECTED: 0, Verdict.INDETERMINATE: 0}
    for _, result in results:
        counts[result.verdict] += 1
        if result.verdict is Verdict.REJECTED:
            failed = [c for c in result.checks if c.outcome.value == "fail"]
            if failed:
                reasons.append(rejection_reason(failed[0]))
    return CredentialTally(
        verified=counts[Verdict.VERIFIED],
        rejected=counts[Verdict.REJECTED],
        indeterminate=counts[Verdict.INDETERMINATE],
        reasons=tuple(reasons),
    )


_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s)\]>\"']+", re.IGNORECASE)


def rejection_reason(check: CheckResult) -> str:
    """A failed check as the ATS note gives it: the check, and its detail kept short.

    The detail may quote what the candidate submitted; the note goes into the employer's ATS,
    so a URL is named by its host only and the whole reason is clipped at a word boundary.
    """
    detail = _URL.sub(_host_of, check.detail)
    return clip(f"{check.id.value}: {detail}", REASON_CHARS)


def _host_of(found: re.Match[str]) -> str:
    try:
        host = urlsplit(found.group(0)).hostname
    except ValueError:
        host = None
    return f"a URL on {host}" if host else "a URL"


def payload_hash(payload: dict[str, Any]) -> str:
    material = {k: payload[k] for k in sorted(payload) if k not in {"computed_at", "evidence_url"}}
    return hashlib.sha256(
        json.dumps(material, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()


async def _write(runtime: Runtime, computed: Computation, *, now: datetime) -> Evaluation:
    """Step 3: store what `computed` holds in one transaction; nothing slow happens in it."""
    inputs = computed.inputs
    tenant_id = inputs.application.tenant_id
    profile = inputs.profile
    outcome = computed.outcome
    match_id: str | None = None
    enqueued = False
    async with unit_of_work(runtime.sessions) as session:
        for assessment in computed.assessments:
            raw, result = assessment.raw, assessment.result
            record = VerificationRecord(
                tenant_id=tenant_id,
                raw_credential_id=raw.id,
                verdict=result.verdict.value,
                format=result.format[:64],
                credential_id=(result.credential_id or "")[:2000] or None,
                issuer_id=(result.issuer.id or "")[:2000] or None,
                issuer_name=(result.issuer.name or "")[:500] or None,
                issuer_tier=result.issuer.tier.value,
                checks=[
                    {"id": c.id.value, "outcome": c.outcome.value, "detail": c.detail}
                    for c in result.checks
                ],
                result=result.to_json(),
                verifier_version=VERIFIER_VERSION,
                verified_at=now,
            )
            await cred_repo.add_verification(session, record)
            if computed.taxonomy is None or result.verdict is not Verdict.VERIFIED:
                continue  # rejected and indeterminate credentials contribute nothing
            taxonomy = computed.taxonomy.taxonomy
            await cred_repo.replace_claims(
                session,
                tenant_id=tenant_id,
                verification_id=record.id,
                claims=[
                    SkillClaimRecord(
                        tenant_id=tenant_id,
                        candidate_id=raw.candidate_id,
                        verification_id=record.id,
                        taxonomy=taxonomy.name,
                        taxonomy_version=taxonomy.version,
                        **claim,
                    )
                    for claim in assessment.claims
                ],
            )
        if profile is not None and outcome is not None:
            results = [(a.raw, a.result) for a in computed.assessments]
            match = MatchResult(
                tenant_id=tenant_id,
                application_id=inputs.application.id,
                profile_version_id=await _version_id(session, tenant_id, profile),
                score=outcome.score,
                band=outcome.band.value,
                explanation=outcome.explanation(),
                versions=dict(outcome.versions),
                inputs_hash=_inputs_hash(results, profile),
                computed_at=now,
            )
            await session.flush()
            session.add(match)
            await session.flush()
            match_id = match.id
            await audit.append(
                session,
                tenant_id=tenant_id,
                actor="system",
                action="score",
                object_type="application",
                object_id=inputs.application.id,
                details={
                    "match_id": match.id,
                    "score": outcome.score,
                    "band": outcome.band.value,
                    "versions": dict(outcome.versions),
                },
                at=now,
            )
            if inputs.connection is not None and inputs.connection.kind == "ats":
                enqueued = await _enqueue(runtime, session, inputs, outcome, match, now=now)
        await app_repo.mark_evaluated(
            session,
            tenant_id=tenant_id,
            application_id=inputs.application.id,
            inputs=fingerprint(inputs),
            at=now,
        )
    return Evaluation(
        application_id=inputs.application.id,
        match_id=match_id,
        outcome=outcome,
        results=tuple((a.raw.id, a.result) for a in computed.assessments),
        enqueued=enqueued,
    )


async def _version_id(session: AsyncSession, tenant_id: str, profile: ProfileSpec) -> str:
    row = await profile_repo.get_profile(
        session, tenant_id=tenant_id, profile_id=profile.profile_id
    )
    assert row is not None
    current = await profile_repo.current_version(session, profile=row)
    assert current is not None
    return current[0].id


def _inputs_hash(
    results: list[tuple[RawCredential, VerificationResult]], profile: ProfileSpec
) -> str:
    material = {
        "credentials": sorted(raw.sha256 for raw, _ in results),
        "profile": f"{profile.profile_id}@{profile.version}",
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


async def _enqueue(
    runtime: Runtime,
    session: AsyncSession,
    inputs: EvaluationInputs,
    outcome: MatchOutcome,
    match: MatchResult,
    *,
    now: datetime,
) -> bool:
    connection = inputs.connection
    assert connection is not None
    token = runtime.links.evidence_token(tenant_id=match.tenant_id, match_id=match.id)
    payload: dict[str, Any] = {
        "application_external_id": inputs.application.external_ref or inputs.application.id,
        "candidate_external_id": inputs.candidate_ref or inputs.application.candidate_id,
        "job_external_id": inputs.job_ref or inputs.application.job_id,
        "score": outcome.score,
        "max_score": outcome.max_score,
        "band": outcome.band.value,
        "summary": outcome.summary,
        "top_skills": list(outcome.top_skills),
        "gaps": list(outcome.gaps),
        "credentials_verified": outcome.credentials.verified,
        "credentials_rejected": outcome.credentials.rejected,
        "versions": dict(outcome.versions),
        "evidence_url": f"{runtime.settings.base_url.rstrip('/')}/evidence/{token}",
        "computed_at": now.isoformat(),
    }
    digest = payload_hash(payload)
    payload["payload_hash"] = digest
    _, is_new = await outbox_repo.enqueue(
        session,
        OutboxMessage(
            tenant_id=match.tenant_id,
            connection_id=connection.id,
            kind="match_update",
            target_ref=inputs.application.id,
            payload=payload,
            payload_hash=digest,
            # The same score for the same application is pushed once, however often it is
            # recomputed; a changed score is a new message.
            idempotency_key=f"{connection.id}:{inputs.application.id}:{digest}",
            next_attempt_at=now,
            created_at=now,
            updated_at=now,
        ),
    )
    return is_new

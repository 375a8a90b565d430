"""The W3C VC pipeline (OB 3.0, CLR 2.0, plain VCs): context, schema, proof, issuer, dates, status.

Embedded Data Integrity proofs are checked here; a JOSE envelope (VC-JWT) is checked by the
caller and handed in as `envelope`, and then the same checks run on the credential inside.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from service.verify.achievements import elm_achievements, ob3_achievements
from service.verify.checks import (
    SchemaSource,
    base_context_problem,
    check_issuer_binding,
    check_issuer_trust,
    check_structure,
    issuer_id,
    issuer_name,
    types_of,
)
from service.verify.dataintegrity import ProofReport, proofs_of, verify_proof, without
from service.verify.dates import check_validity
from service.verify.dids import KeyResolver
from service.verify.errors import CanonicalizationLimit, ContextError
from service.verify.holder import check_holder
from service.verify.jsonld import Canonical, LinkedData
from service.verify.policy import Holder, VerifyPolicy
from service.verify.result import (
    Achievement,
    CheckId,
    CheckResult,
    IssuerInfo,
    Outcome,
    Verdict,
    VerificationResult,
    verdict_for,
)
from service.verify.status import ListCredentialCheck, StatusChecker

MAX_NESTING = 2
CHECK_ORDER = (
    CheckId.PARSE,
    CheckId.CONTEXT,
    CheckId.SCHEMA,
    CheckId.PROOF,
    CheckId.ISSUER_BINDING,
    CheckId.VALIDITY_PERIOD,
    CheckId.STATUS,
    CheckId.HOLDER,
    CheckId.ISSUER_TRUST,
    CheckId.NESTED,
)

# Verifies an item of a CLR that is not a JSON object (a compact VC-JWT).
NestedVerifier = Callable[[Any, int], Awaitable[VerificationResult]]


@dataclass(frozen=True, kw_only=True, slots=True)
class Envelope:
    """A proof checked outside the document (a JWS over it), as per-proof reports."""

    proofs: tuple[ProofReport, ...]
    # JOSE signs the JSON bytes, so undefined terms are signed: warn instead of failing.
    signs_json: bool = True


def credential_format(document: Mapping[str, Any]) -> str:
    types = set(types_of(document))
    if "ClrCredential" in types:
        return "clr2"
    if types & {"OpenBadgeCredential", "AchievementCredential", "EndorsementCredential"}:
        return "ob3"
    if "EuropeanDigitalCredential" in types:
        return "edc"
    if types & {"BitstringStatusListCredential", "StatusList2021Credential"}:
        return "status-list"
    return "vc"


def summarize_proofs(
    reports: Sequence[ProofReport], *, require_supported: bool = True
) -> CheckResult:
    """Any invalid proof rejects; at least one valid proof is needed; unsupported ones warn.

    `require_supported=False` is for a seal Skillproof cannot check (JAdES): reported as a
    warning, with the issuer then left unestablished.
    """

    def result(outcome: Outcome, items: Sequence[ProofReport]) -> CheckResult:
        return CheckResult(
            id=CheckId.PROOF, outcome=outcome, detail="; ".join(r.detail for r in items)
        )

    if not reports:
        return CheckResult(
            id=CheckId.PROOF, outcome=Outcome.FAIL, detail="no proof: the credential is not signed"
        )
    by_outcome = {o: [r for r in reports if r.outcome is o] for o in Outcome}
    if by_outcome[Outcome.FAIL]:
        return result(Outcome.FAIL, by_outcome[Outcome.FAIL])
    if by_outcome[Outcome.PASS]:
        others = by_outcome[Outcome.WARN] + by_outcome[Outcome.UNKNOWN]
        return result(Outcome.WARN if others else Outcome.PASS, list(reports))
    if by_outcome[Outcome.UNKNOWN]:
        return result(Outcome.UNKNOWN, list(reports))
    if not require_supported:
        return result(Outcome.WARN, list(reports))
    return CheckResult(
        id=CheckId.PROOF,
        outcome=Outcome.FAIL,
        detail="no supported proof: " + "; ".join(r.detail for r in reports),
    )


def not_checked(check_id: CheckId, reason: str) -> CheckResult:
    return CheckResult(id=check_id, outcome=Outcome.UNKNOWN, detail=f"not checked: {reason}")


def ordered(checks: Mapping[CheckId, CheckResult]) -> tuple[CheckResult, ...]:
    return tuple(checks[c] for c in CHECK_ORDER if c in checks)


class VcPipeline:
    def __init__(
        self,
        *,
        linked_data: LinkedData,
        keys: KeyResolver,
        status: StatusChecker,
        schemas: SchemaSource,
    ) -> None:
        self._linked = linked_data
        self._keys = keys
        self._status = status
        self._schemas = schemas

    async def verify(
        self,
        document: Mapping[str, Any],
        *,
        now: datetime,
        holder: Holder | None,
        policy: VerifyPolicy,
        parse_detail: str,
        envelope: Envelope | None = None,
        depth: int = 0,
        nested_verifier: NestedVerifier | None = None,
        check_status: bool = True,
    ) -> VerificationResult:
        checks: dict[CheckId, CheckResult] = {
            CheckId.PARSE: CheckResult(id=CheckId.PARSE, outcome=Outcome.PASS, detail=parse_detail)
        }
        fmt = credential_format(document)
        unsecured = without(document, "proof")
        checks[CheckId.CONTEXT], canonical = self._context(unsecured, policy, envelope)
        ignored = frozenset(canonical.dropped_terms) if canonical else frozenset()
        checks[CheckId.SCHEMA] = check_structure(document, self._schemas)
        reports: tuple[ProofReport, ...] = ()
        if envelope is not None:
            reports = envelope.proofs
            checks[CheckId.PROOF] = summarize_proofs(reports, require_supported=False)
        elif canonical is None:
            checks[CheckId.PROOF] = not_checked(CheckId.PROOF, "the document cannot be processed")
        else:
            reports = await self._proofs(document, canonical, now, policy)
            checks[CheckId.PROOF] = summarize_proofs(reports)
        checks[CheckId.ISSUER_BINDING] = await check_issuer_binding(
            document, reports, self._keys, now=now
        )
        validity = check_validity(document, now=now, clock_skew=policy.clock_skew)
        checks[CheckId.VALIDITY_PERIOD] = validity.check
        rejected = [
            c for c in (checks[CheckId.CONTEXT], checks[CheckId.PROOF]) if c.outcome is Outcome.FAIL
        ]
        if check_status and rejected:
            # No fetch on behalf of a credential that is already refused.
            checks[CheckId.STATUS] = not_checked(
                CheckId.STATUS, f"the credential is already rejected ({rejected[0].id} failed)"
            )
        elif check_status:
            checks[CheckId.STATUS] = await self._status.check(
                document,
                now=now,
                verify_list=self.verify_status_list,
                min_entries=policy.min_status_list_entries,
            )
        checks[CheckId.HOLDER] = check_holder(document, holder)
        checks[CheckId.ISSUER_TRUST], tier = check_issuer_trust(
            document, checks[CheckId.ISSUER_BINDING], policy
        )
        nested: tuple[VerificationResult, ...] = ()
        if fmt == "clr2":
            nested = await self._nested(
                document,
                now=now,
                holder=holder,
                policy=policy,
                depth=depth,
                nested_verifier=nested_verifier,
            )
            checks[CheckId.NESTED] = _nested_check(nested)
        signed_content = all(
            checks[c].outcome is not Outcome.FAIL for c in (CheckId.CONTEXT, CheckId.PROOF)
        )
        achievements: tuple[Achievement, ...] = ()
        if signed_content and checks[CheckId.PROOF].outcome is not Outcome.UNKNOWN:
            achievements = _achievements(fmt, document, ignored)
        subjects = document.get("credentialSubject")
        subject = subjects[0] if isinstance(subjects, list) and subjects else subjects
        check_tuple = ordered(checks)
        credential_id = document.get("id")
        return VerificationResult(
            verdict=verdict_for(check_tuple),
            format=fmt,
            checks=check_tuple,
            issuer=IssuerInfo(id=issuer_id(document), name=issuer_name(document), tier=tier),
            subject=_subject_summary(subject, ignored),
            achievements=achievements,
            valid_from=validity.valid_from,
            valid_until=validity.valid_until,
            credential_id=credential_id if isinstance(credential_id, str) else None,
            nested=nested,
        )

    def _context(
        self, unsecured: Mapping[str, Any], policy: VerifyPolicy, envelope: Envelope | None
    ) -> tuple[CheckResult, Canonical | None]:
        problem = base_context_problem(unsecured)
        if problem is not None:
            return CheckResult(id=CheckId.CONTEXT, outcome=Outcome.FAIL, detail=problem), None
        try:
            canonical = self._linked.canonicalize(unsecured)
        except (ContextError, CanonicalizationLimit) as exc:
            return CheckResult(id=CheckId.CONTEXT, outcome=Outcome.FAIL, detail=str(exc)), None
        if canonical.problems:
            listed = "; ".join(canonical.problems)
            if envelope is not None and envelope.signs_json:
                detail = f"signed but undefined by its contexts (ignored): {listed}"
                return CheckResult(id=CheckId.CONTEXT, outcome=Outcome.WARN, detail=detail), (
                    canonical
                )
            detail = (
                f"safe mode: {listed}; JSON-LD drops these, so the signature does not cover them"
            )
            outcome = Outcome.FAIL if policy.safe_mode else Outcome.WARN
            return CheckResult(id=CheckId.CONTEXT, outcome=outcome, detail=detail), canonical
        count = len(canonical.contexts)
        return (
            CheckResult(
                id=CheckId.CONTEXT,
                outcome=Outcome.PASS,
                detail=f"{count} pinned context(s); every property is defined",
            ),
            canonical,
        )

    async def _proofs(
        self, document: Mapping[str, Any], canonical: Canonical, now: datetime, policy: VerifyPolicy
    ) -> tuple[ProofReport, ...]:
        proofs = proofs_of(document)
        return tuple(
            [
                await verify_proof(
                    document,
                    proof,
                    proofs=proofs,
                    linked_data=self._linked,
                    keys=self._keys,
                    now=now,
                    clock_skew=policy.clock_skew,
                    document_canonical=canonical,
                )
                for proof in proofs
            ]
        )

    async def verify_status_list(
        self, document: Mapping[str, Any], now: datetime
    ) -> ListCredentialCheck:
        """A status list credential is usable only if it verifies itself (not its own status)."""
        result = await self.verify(
            document,
            now=now,
            holder=None,
            policy=VerifyPolicy(),
            parse_detail="status list credential",
            check_status=False,
        )
        for check_id in (
            CheckId.CONTEXT,
            CheckId.PROOF,
            CheckId.ISSUER_BINDING,
            CheckId.VALIDITY_PERIOD,
        ):
            check = result.check(check_id)
            if check is not None and check.outcome in (Outcome.FAIL, Outcome.UNKNOWN):
                return ListCredentialCheck(ok=False, detail=f"{check_id}: {check.detail}")
        return ListCredentialCheck(ok=True, detail="verified")

    async def _nested(
        self,
        document: Mapping[str, Any],
        *,
        now: datetime,
        holder: Holder | None,
        policy: VerifyPolicy,
        depth: int,
        nested_verifier: NestedVerifier | None,
    ) -> tuple[VerificationResult, ...]:
        subject = document.get("credentialSubject")
        items = subject.get("verifiableCredential") if isinstance(subject, Mapping) else None
        results = []
        for item in items if isinstance(items, list) else [items] if items else []:
            if depth + 1 > MAX_NESTING:
                break
            if isinstance(item, Mapping):
                results.append(
                    await self.verify(
                        item,
                        now=now,
                        holder=holder,
                        policy=policy,
                        parse_detail="credential nested in a CLR",
                        depth=depth + 1,
                        nested_verifier=nested_verifier,
                    )
                )
            elif nested_verifier is not None:
                results.append(await nested_verifier(item, depth + 1))
        return tuple(results)


def _nested_check(nested: Sequence[VerificationResult]) -> CheckResult:
    if not nested:
        return CheckResult(
            id=CheckId.NESTED, outcome=Outcome.FAIL, detail="the CLR contains no credentials"
        )
    counts = {v: sum(1 for n in nested if n.verdict is v) for v in Verdict}
    detail = (
        f"{len(nested)} nested credential(s): {counts[Verdict.VERIFIED]} verified,"
        f" {counts[Verdict.REJECTED]} rejected, {counts[Verdict.INDETERMINATE]} indeterminate"
    )
    if counts[Verdict.REJECTED]:
        outcome = Outcome.FAIL
    elif counts[Verdict.INDETERMINATE]:
        outcome = Outcome.UNKNOWN
    else:
        outcome = Outcome.PASS
    return CheckResult(id=CheckId.NESTED, outcome=outcome, detail=detail)


def _achievements(
    fmt: str, document: Mapping[str, Any], ignored: frozenset[str]
) -> tuple[Achievement, ...]:
    if fmt == "ob3":
        return ob3_achievements(document, ignored_terms=ignored)
    if fmt == "edc":
        return elm_achievements(document)
    return ()


def _subject_summary(subject: Any, ignored: frozenset[str]) -> dict[str, Any]:
    """Who the credential is about, without bulky or undefined members."""
    if not isinstance(subject, Mapping):
        return {}
    summary: dict[str, Any] = {}
    for key in ("id", "type", "name", "identifier"):
        if key in subject and key not in ignored:
            summary[key] = subject[key]
    return summary

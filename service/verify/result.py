"""The verification result model: one honest answer per credential, with every check spelled out."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

# Recorded with every stored result and every score computed from it.
VERIFIER_VERSION = "skillproof-verify/1.0"


class Outcome(StrEnum):
    PASS = "pass"  # noqa: S105 - an outcome, not a password
    FAIL = "fail"
    WARN = "warn"
    UNKNOWN = "unknown"


class Verdict(StrEnum):
    VERIFIED = "verified"
    REJECTED = "rejected"
    INDETERMINATE = "indeterminate"


class CheckId(StrEnum):
    PARSE = "parse"
    CONTEXT = "context"
    SCHEMA = "schema"
    PROOF = "proof"
    ISSUER_BINDING = "issuer_binding"
    VALIDITY_PERIOD = "validity_period"
    STATUS = "status"
    HOLDER = "holder"
    ISSUER_TRUST = "issuer_trust"
    # CLR 2.0: the credentials nested inside, each verified on its own.
    NESTED = "nested"


class IssuerTier(StrEnum):
    ACCREDITED_INSTITUTION = "accredited_institution"
    PROFESSIONAL_BODY = "professional_body"
    EMPLOYER = "employer"
    PLATFORM = "platform"
    UNKNOWN = "unknown"


@dataclass(frozen=True, kw_only=True, slots=True)
class CheckResult:
    id: CheckId
    outcome: Outcome
    detail: str


@dataclass(frozen=True, kw_only=True, slots=True)
class IssuerInfo:
    id: str | None
    name: str | None
    tier: IssuerTier = IssuerTier.UNKNOWN


@dataclass(frozen=True, kw_only=True, slots=True)
class Alignment:
    """A pointer from an achievement to a framework item (ESCO URI, O*NET code, CASE item...)."""

    target_name: str
    target_url: str | None = None
    target_code: str | None = None
    target_framework: str | None = None
    target_type: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Achievement:
    """What a credential certifies, read only from terms the signature covers.

    The micro-credential quality signals (assessment, ECTS, EQF level, hours, stackability) are
    kept as found so the scoring stage can weigh them.
    """

    id: str | None
    name: str
    description: str | None = None
    criteria: str | None = None
    achievement_type: str | None = None
    tags: tuple[str, ...] = ()
    alignments: tuple[Alignment, ...] = ()
    field_of_study: str | None = None
    specialization: str | None = None
    credits_available: float | None = None
    ects: float | None = None
    eqf_level: int | None = None
    hours: float | None = None
    assessed: bool | None = None
    assessment_type: str | None = None
    evidence_count: int = 0
    results: tuple[str, ...] = ()
    stackable: bool | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class VerificationResult:
    verdict: Verdict
    format: str
    checks: tuple[CheckResult, ...]
    issuer: IssuerInfo
    subject: dict[str, Any] = field(default_factory=dict)
    achievements: tuple[Achievement, ...] = ()
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    credential_id: str | None = None
    nested: tuple[VerificationResult, ...] = ()

    def check(self, check_id: CheckId) -> CheckResult | None:
        return next((c for c in self.checks if c.id is check_id), None)

    @property
    def failed_checks(self) -> tuple[str, ...]:
        return tuple(str(c.id) for c in self.checks if c.outcome is Outcome.FAIL)

    def to_json(self) -> dict[str, Any]:
        """The public JSON shape (CLI `--json`, API, stored rows)."""
        data = asdict(self)
        for key in ("valid_from", "valid_until"):
            value = getattr(self, key)
            data[key] = value.isoformat() if value else None
        data["nested"] = [n.to_json() for n in self.nested]
        plain: dict[str, Any] = _plain(data)
        return plain


def verdict_for(checks: tuple[CheckResult, ...] | list[CheckResult]) -> Verdict:
    """verified only when nothing failed and nothing is unknown; warnings are allowed."""
    outcomes = {c.outcome for c in checks}
    if Outcome.FAIL in outcomes:
        return Verdict.REJECTED
    if Outcome.UNKNOWN in outcomes:
        return Verdict.INDETERMINATE
    return Verdict.VERIFIED


def _plain(value: Any) -> Any:
    if isinstance(value, StrEnum):
        return str(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value

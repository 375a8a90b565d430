"""Pure scoring: verified skill evidence x role profile -> score, band and a readable explanation.

Deterministic and reproducible from stored inputs: no clock reads (``now`` is passed in), no I/O,
stable ordering. Scores inform a human reviewer; nothing here rejects anyone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

SCORING_VERSION = "skillproof-scoring/1.1"

# Essentials dominate: a candidate with verified evidence for every essential skill is strong
# whatever the optional ones say.
ESSENTIAL_WEIGHT = 3.0
OPTIONAL_WEIGHT = 1.0
COVERED_THRESHOLD = 0.5
STRONG_MIN = 60  # and no essential gap
PARTIAL_MIN = 35

# What the issuing body adds to a credential's weight as evidence.
TIER_BONUS: Mapping[str, float] = {
    "accredited_institution": 0.10,
    "professional_body": 0.08,
    "employer": 0.05,
    "platform": 0.02,
    "unknown": 0.0,
}
# A verified credential is already good evidence; assessment, issuer, workload and level add to it.
BASE_STRENGTH = 0.8
# The longest reason a summary (a note in the employer's ATS) gives for a rejected credential.
REASON_CHARS = 120
ELLIPSIS = "\u2026"


class Band(StrEnum):
    STRONG = "strong"
    PARTIAL = "partial"
    WEAK = "weak"
    INSUFFICIENT_EVIDENCE = "insufficient_evidence"


@dataclass(frozen=True, kw_only=True, slots=True)
class RequirementSpec:
    concept_id: str
    label: str
    importance: str  # essential | optional
    weight: float | None = None
    # The concept itself plus narrower concepts: evidence for any of them meets the requirement.
    accepted_concepts: frozenset[str] = frozenset()

    @property
    def effective_weight(self) -> float:
        if self.weight is not None:
            return self.weight
        return ESSENTIAL_WEIGHT if self.importance == "essential" else OPTIONAL_WEIGHT

    def accepts(self, concept_id: str) -> bool:
        return concept_id == self.concept_id or concept_id in self.accepted_concepts


@dataclass(frozen=True, kw_only=True, slots=True)
class ProfileSpec:
    profile_id: str
    name: str
    version: int
    taxonomy: str
    taxonomy_version: str
    requirements: tuple[RequirementSpec, ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class Evidence:
    """One mapped skill from one verified credential, with the signals that weigh it."""

    concept_id: str
    concept_label: str
    mapping_confidence: float
    mapping_method: str
    credential_ref: str
    credential_name: str
    issuer_name: str | None
    issuer_tier: str = "unknown"
    assessed: bool | None = None
    ects: float | None = None
    eqf_level: int | None = None
    hours: float | None = None
    valid_until: datetime | None = None

    def strength(self) -> float:
        """How much this evidence alone establishes the skill, in [0, 1]."""
        weight = BASE_STRENGTH
        if self.assessed:
            weight += 0.1
        weight += TIER_BONUS.get(self.issuer_tier, 0.0)
        if (self.ects or 0) >= 1 or (self.hours or 0) >= 10:
            weight += 0.05
        if (self.eqf_level or 0) >= 5:
            weight += 0.05
        return round(min(1.0, weight) * max(0.0, min(1.0, self.mapping_confidence)), 4)


@dataclass(frozen=True, kw_only=True, slots=True)
class CredentialTally:
    verified: int
    rejected: int
    indeterminate: int
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class EvidenceUse:
    credential_ref: str
    credential_name: str
    issuer_name: str | None
    concept_label: str
    method: str
    strength: float


@dataclass(frozen=True, kw_only=True, slots=True)
class Contribution:
    concept_id: str
    label: str
    importance: str
    weight: float
    coverage: float
    points: float
    max_points: float
    evidence: tuple[EvidenceUse, ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class MatchOutcome:
    score: int
    max_score: int
    band: Band
    contributions: tuple[Contribution, ...]
    gaps: tuple[str, ...]
    top_skills: tuple[str, ...]
    summary: str
    credentials: CredentialTally
    versions: Mapping[str, str]
    computed_at: datetime

    def explanation(self) -> dict[str, Any]:
        """The stored, candidate-readable explanation (JSON-safe)."""
        return {
            "score": self.score,
            "max_score": self.max_score,
            "band": str(self.band),
            "summary": self.summary,
            "contributions": [asdict(c) for c in self.contributions],
            "gaps": list(self.gaps),
            "top_skills": list(self.top_skills),
            "credentials": asdict(self.credentials),
            "versions": dict(self.versions),
            "computed_at": self.computed_at.isoformat(),
            "policy": "Scores inform a human reviewer. Skillproof never rejects a candidate.",
        }


def score(
    profile: ProfileSpec,
    evidence: Iterable[Evidence],
    *,
    now: datetime,
    credentials: CredentialTally,
    versions: Mapping[str, str] | None = None,
) -> MatchOutcome:
    """Score one application. Contributions add up to the score (before rounding)."""
    items = sorted(evidence, key=lambda e: (e.concept_id, e.credential_ref, -e.mapping_confidence))
    total_weight = sum(r.effective_weight for r in profile.requirements) or 1.0
    contributions = []
    for requirement in profile.requirements:
        uses = _best_uses(requirement, items, now=now)
        missing = 1.0
        for use in uses:
            missing *= 1.0 - use.strength
        coverage = round(1.0 - missing, 4)
        max_points = 100.0 * requirement.effective_weight / total_weight
        contributions.append(
            Contribution(
                concept_id=requirement.concept_id,
                label=requirement.label,
                importance=requirement.importance,
                weight=requirement.effective_weight,
                coverage=coverage,
                points=round(max_points * coverage, 2),
                max_points=round(max_points, 2),
                evidence=uses,
            )
        )
    raw = sum(c.points for c in contributions)
    value = max(0, min(100, round(raw)))
    gaps = tuple(
        c.label
        for c in contributions
        if c.importance == "essential" and c.coverage < COVERED_THRESHOLD
    )
    covered = sorted(
        (c for c in contributions if c.coverage >= COVERED_THRESHOLD),
        key=lambda c: (-c.points, c.label),
    )
    top_skills = tuple(c.label for c in covered[:5])
    band = _band(value, gaps=gaps, credentials=credentials)
    all_versions = {
        "algorithm": SCORING_VERSION,
        "profile": f"{profile.profile_id}@v{profile.version}",
        "taxonomy": f"{profile.taxonomy}@{profile.taxonomy_version}",
    }
    all_versions.update(versions or {})
    return MatchOutcome(
        score=value,
        max_score=100,
        band=band,
        contributions=tuple(contributions),
        gaps=gaps,
        top_skills=top_skills,
        summary=_summary(profile, value, band, top_skills, gaps, credentials),
        credentials=credentials,
        versions=all_versions,
        computed_at=now,
    )


def _best_uses(
    requirement: RequirementSpec, items: list[Evidence], *, now: datetime
) -> tuple[EvidenceUse, ...]:
    # One use per credential: a credential mapped twice to the same requirement counts once.
    best: dict[str, EvidenceUse] = {}
    for item in items:
        if not requirement.accepts(item.concept_id):
            continue
        if item.valid_until is not None and item.valid_until < now:
            continue
        use = EvidenceUse(
            credential_ref=item.credential_ref,
            credential_name=item.credential_name,
            issuer_name=item.issuer_name,
            concept_label=item.concept_label,
            method=item.mapping_method,
            strength=item.strength(),
        )
        current = best.get(item.credential_ref)
        if current is None or use.strength > current.strength:
            best[item.credential_ref] = use
    return tuple(sorted(best.values(), key=lambda u: (-u.strength, u.credential_ref)))


def _band(value: int, *, gaps: tuple[str, ...], credentials: CredentialTally) -> Band:
    if credentials.verified == 0:
        return Band.INSUFFICIENT_EVIDENCE
    if value >= STRONG_MIN and not gaps:
        return Band.STRONG
    if value >= PARTIAL_MIN:
        return Band.PARTIAL
    return Band.WEAK


def _summary(
    profile: ProfileSpec,
    value: int,
    band: Band,
    top_skills: tuple[str, ...],
    gaps: tuple[str, ...],
    credentials: CredentialTally,
) -> str:
    total = credentials.verified + credentials.rejected + credentials.indeterminate
    lines = [f"Skillproof match for {profile.name}: {value}/100 ({band.value.replace('_', ' ')})."]
    lines.append(f"{credentials.verified} of {total} credentials verified.")
    if credentials.rejected:
        reasons = "; ".join(clip(r, REASON_CHARS).rstrip(".") for r in credentials.reasons[:3])
        # A clipped last reason already ends the sentence with its ellipsis.
        end = "" if reasons.endswith(ELLIPSIS) else "."
        lines.append(
            f"{credentials.rejected} not accepted" + (f": {reasons}{end}" if reasons else ".")
        )
    if credentials.indeterminate:
        lines.append(f"{credentials.indeterminate} could not be fully checked.")
    if top_skills:
        lines.append("Evidenced skills: " + ", ".join(top_skills) + ".")
    if gaps:
        lines.append("No verified evidence yet for: " + ", ".join(gaps) + ".")
    lines.append("This score informs a human reviewer; it is not a decision.")
    return " ".join(lines)


def clip(text: str, limit: int) -> str:
    """`text` on one line, at most `limit` characters, cut at a word boundary and marked with "…".

    A word longer than the whole limit is cut inside it rather than dropped.
    """
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    room = flat[: limit - len(ELLIPSIS) + 1]
    cut = room.rfind(" ")
    kept = room[:cut] if cut > 0 else room[:-1]
    return kept.rstrip(" .,;:") + ELLIPSIS

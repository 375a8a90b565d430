"""Extract: a verified credential -> its achievements, skill claims and micro-credential signals.

Only verified results are read, and the verifier builds achievements only from terms the
signature covers (safe mode), so nothing unsigned can become a skill here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from service.mapping import SkillClaim, claims_from_achievement
from service.verify.result import Achievement, IssuerInfo, Verdict, VerificationResult


@dataclass(frozen=True, kw_only=True, slots=True)
class QualitySignals:
    """What the micro-credential world asks of a credential before trusting it as evidence."""

    assessed: bool | None
    assessment_type: str | None
    evidence_count: int
    ects: float | None
    eqf_level: int | None
    hours: float | None
    achievement_type: str | None
    stackable: bool | None
    issuer_tier: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "assessed": self.assessed,
            "assessment_type": self.assessment_type,
            "evidence_count": self.evidence_count,
            "ects": self.ects,
            "eqf_level": self.eqf_level,
            "hours": self.hours,
            "achievement_type": self.achievement_type,
            "stackable": self.stackable,
            "issuer_tier": self.issuer_tier,
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class AchievementItem:
    achievement: Achievement
    issuer: IssuerInfo
    claims: tuple[SkillClaim, ...]
    signals: QualitySignals
    valid_until: datetime | None


def signals_for(achievement: Achievement, issuer: IssuerInfo) -> QualitySignals:
    ects = achievement.ects
    if ects is None and achievement.credits_available is not None:
        # OB 3.0 creditsAvailable is unitless; EU micro-credentials state ECTS explicitly, so
        # bare credits are only read as ECTS when the EQF level marks a European credential.
        ects = achievement.credits_available if achievement.eqf_level is not None else None
    return QualitySignals(
        assessed=achievement.assessed,
        assessment_type=achievement.assessment_type,
        evidence_count=achievement.evidence_count,
        ects=ects,
        eqf_level=achievement.eqf_level,
        hours=achievement.hours,
        achievement_type=achievement.achievement_type,
        stackable=achievement.stackable,
        issuer_tier=issuer.tier.value,
    )


def achievements(result: VerificationResult) -> Iterator[AchievementItem]:
    """Every achievement of a verified credential, including verified nested ones (CLR)."""
    if result.verdict is not Verdict.VERIFIED:
        return
    for achievement in result.achievements:
        yield AchievementItem(
            achievement=achievement,
            issuer=result.issuer,
            claims=tuple(claims_from_achievement(achievement)),
            signals=signals_for(achievement, result.issuer),
            valid_until=result.valid_until,
        )
    for nested in result.nested:
        yield from achievements(nested)

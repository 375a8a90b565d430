"""What a verified credential certifies, as `Achievement`s with their micro-credential signals.

Called only on documents whose proof and safe-mode check passed, so every field read here is
covered by the signature. `ignored_terms` lists properties JSON-LD dropped (safe mode off):
they are never read.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from service.verify.result import Achievement, Alignment

_EQF = re.compile(r"(?:eqf[/ _-]*(?:level)?[/ _-]*|level\s*)(\d)\b", re.IGNORECASE)
_DIGIT = re.compile(r"^\s*(\d)\s*$")
_DURATION = re.compile(
    r"^P(?:(?P<d>\d+(?:\.\d+)?)D)?(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?)?$"
)
_ESCO = "http://data.europa.eu/esco/"


class _Reader:
    def __init__(self, ignored: frozenset[str]) -> None:
        self.ignored = ignored

    def get(self, node: Any, key: str) -> Any:
        if not isinstance(node, Mapping) or key in self.ignored:
            return None
        return node.get(key)

    def text(self, node: Any, key: str) -> str | None:
        return text_of(self.get(node, key))

    def items(self, node: Any, key: str) -> list[Any]:
        value = self.get(node, key)
        if value is None:
            return []
        return value if isinstance(value, list) else [value]


def text_of(value: Any) -> str | None:
    """A plain string from a string, a language map ({"en": ...}) or a JSON-LD value object."""
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, Mapping):
        if "@value" in value:
            return text_of(value["@value"])
        for key in ("en", "en-GB", "en-US"):
            if key in value:
                return text_of(value[key])
        for item in value.values():
            found = text_of(item)
            if found:
                return found
    if isinstance(value, list):
        for item in value:
            found = text_of(item)
            if found:
                return found
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip().replace(",", "."))
        except ValueError:
            return None
    return None


def _eqf_level(*values: Any) -> int | None:
    for value in values:
        text = value.get("id") if isinstance(value, Mapping) else value
        for candidate in (
            text,
            text_of(value.get("prefLabel")) if isinstance(value, Mapping) else None,
        ):
            if not isinstance(candidate, str):
                continue
            if "/snb/eqf/" in candidate:
                tail = candidate.rstrip("/").rsplit("/", 1)[-1]
                if tail.isdigit() and 1 <= int(tail) <= 8:
                    return int(tail)
            match = _EQF.search(candidate) or _DIGIT.match(candidate)
            if match and 1 <= int(match.group(1)) <= 8:
                return int(match.group(1))
    return None


def _hours(value: Any) -> float | None:
    if isinstance(value, str):
        match = _DURATION.match(value.strip())
        if match and any(match.groupdict().values()):
            days = float(match.group("d") or 0)
            hours = float(match.group("h") or 0)
            minutes = float(match.group("m") or 0)
            return days * 24 + hours + minutes / 60
    return _number(value)


def _alignment(read: _Reader, item: Any) -> Alignment | None:
    name = read.text(item, "targetName")
    if not name:
        return None
    return Alignment(
        target_name=name,
        target_url=read.text(item, "targetUrl"),
        target_code=read.text(item, "targetCode"),
        target_framework=read.text(item, "targetFramework"),
        target_type=read.text(item, "targetType"),
    )


def ob3_achievement(
    achievement: Any,
    *,
    subject: Any = None,
    evidence_count: int = 0,
    ignored_terms: frozenset[str] = frozenset(),
) -> Achievement | None:
    """An OB 3.0 / CLR 2.0 Achievement (and the subject's results for it)."""
    read = _Reader(ignored_terms)
    if not isinstance(achievement, Mapping):
        return None
    name = read.text(achievement, "name")
    if not name:
        return None
    alignments = [
        a for a in (_alignment(read, i) for i in read.items(achievement, "alignment")) if a
    ]
    results: list[str] = []
    for description in read.items(achievement, "resultDescription"):
        label = read.text(description, "name")
        if label:
            results.append(label)
    for result in read.items(subject, "result"):
        value = read.text(result, "value") or read.text(result, "status")
        if value:
            results.append(value)
        alignments.extend(
            a for a in (_alignment(read, i) for i in read.items(result, "alignment")) if a
        )
    eqf_targets = [
        a.target_code or a.target_url or a.target_name
        for a in alignments
        if (a.target_type or "").lower() == "ext:eqf"
    ]
    ects_values = [
        _number(a.target_code) or _number(a.target_name)
        for a in alignments
        if (a.target_type or "").lower() == "ext:ects"
    ]
    credits = _number(read.get(achievement, "creditsAvailable"))
    return Achievement(
        id=read.text(achievement, "id"),
        name=name,
        description=read.text(achievement, "description"),
        criteria=read.text(read.get(achievement, "criteria"), "narrative"),
        achievement_type=read.text(achievement, "achievementType"),
        tags=tuple(t for t in (text_of(x) for x in read.items(achievement, "tag")) if t),
        alignments=tuple(alignments),
        field_of_study=read.text(achievement, "fieldOfStudy"),
        specialization=read.text(achievement, "specialization"),
        credits_available=credits,
        ects=next((v for v in ects_values if v is not None), None),
        eqf_level=_eqf_level(*eqf_targets),
        assessed=True if read.items(subject, "result") else None,
        evidence_count=evidence_count,
        results=tuple(results),
    )


def ob3_achievements(
    credential: Mapping[str, Any], *, ignored_terms: frozenset[str] = frozenset()
) -> tuple[Achievement, ...]:
    read = _Reader(ignored_terms)
    evidence = len(read.items(credential, "evidence"))
    found = []
    for subject in read.items(credential, "credentialSubject"):
        item = ob3_achievement(
            read.get(subject, "achievement"),
            subject=subject,
            evidence_count=evidence,
            ignored_terms=ignored_terms,
        )
        if item is not None:
            found.append(item)
    return tuple(found)


def ob2_achievement(assertion: Mapping[str, Any], badge: Mapping[str, Any]) -> Achievement | None:
    """An OB 2.0 BadgeClass (fetched, hosted) as an Achievement."""
    read = _Reader(frozenset())
    name = read.text(badge, "name")
    if not name:
        return None
    criteria = read.get(badge, "criteria")
    narrative = read.text(criteria, "narrative") if isinstance(criteria, Mapping) else None
    alignments = [a for a in (_alignment(read, i) for i in read.items(badge, "alignment")) if a]
    evidence = read.items(assertion, "evidence")
    return Achievement(
        id=read.text(badge, "id"),
        name=name,
        description=read.text(badge, "description"),
        criteria=narrative,
        tags=tuple(t for t in (text_of(x) for x in read.items(badge, "tags")) if t),
        alignments=tuple(alignments),
        evidence_count=len(evidence),
    )


def elm_achievements(credential: Mapping[str, Any]) -> tuple[Achievement, ...]:
    """European Learning Model claims (LearningAchievement and its Qualification)."""
    read = _Reader(frozenset())
    found = []
    for subject in read.items(credential, "credentialSubject"):
        for claim in read.items(subject, "hasClaim"):
            spec = read.get(claim, "specifiedBy")
            name = read.text(claim, "title") or read.text(spec, "title")
            if not name:
                continue
            alignments: list[Alignment] = []
            for outcome in read.items(spec, "learningOutcome"):
                for skill in read.items(outcome, "relatedESCOSkill") + read.items(
                    outcome, "relatedSkill"
                ):
                    label = read.text(skill, "prefLabel")
                    url = read.text(skill, "id")
                    if label:
                        alignments.append(
                            Alignment(
                                target_name=label,
                                target_url=url,
                                target_framework="ESCO" if url and url.startswith(_ESCO) else None,
                                target_type="ESCO skill"
                                if url and url.startswith(_ESCO)
                                else "skill",
                            )
                        )
            credit = read.get(spec, "creditPoint")
            credit_items = credit if isinstance(credit, list) else [credit]
            ects = None
            for item in credit_items:
                framework = text_of(read.get(read.get(item, "framework"), "prefLabel")) or ""
                if "ects" in framework.lower() or "european credit transfer" in framework.lower():
                    ects = _number(read.get(item, "point"))
            proven = read.get(claim, "provenBy")
            assessment = read.text(read.get(read.get(proven, "specifiedBy"), "dcType"), "prefLabel")
            grade = read.text(read.get(proven, "grade"), "noteLiteral")
            partial = read.get(spec, "isPartialQualification")
            found.append(
                Achievement(
                    id=read.text(claim, "id"),
                    name=name,
                    description=read.text(claim, "description") or read.text(spec, "description"),
                    achievement_type=read.text(spec, "type"),
                    alignments=tuple(alignments),
                    ects=ects,
                    eqf_level=_eqf_level(read.get(spec, "eqfLevel")),
                    hours=_hours(read.get(spec, "volumeOfLearning")),
                    assessed=True if proven else None,
                    assessment_type=assessment,
                    results=(grade,) if grade else (),
                    stackable=partial if isinstance(partial, bool) else None,
                )
            )
    return tuple(found)

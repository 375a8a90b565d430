"""Skill claims -> taxonomy concepts, each with the method that found it and a confidence.

What a credential certifies arrives as claims (an alignment, the achievement's name, its tags,
criteria, description, results). In order of trust: an HR override for the phrase wins; an
alignment that points at a concept of the taxonomy is taken as is; an alignment to another
framework goes through a crosswalk when one is loaded; otherwise the text is searched and the
mapper abstains below a calibrated threshold rather than guess. When the best two candidates are
close but disagree, it backs off to the broader concept they share, with lowered confidence.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Literal, Protocol

from service.verify.result import Achievement
from taxonomies.embeddings import TextEncoder
from taxonomies.hybrid import build_searcher
from taxonomies.index import Hit, LabelIndex
from taxonomies.index_terms import words_to_keys
from taxonomies.model import SKILL_KINDS, ConceptKind, RelationKind, Taxonomy
from taxonomies.normalize import clean_query, normalize

logger = logging.getLogger(__name__)

# Recorded with every score so that a mapping can be reproduced; bump on any behaviour change.
MAPPING_VERSION = "2026.11.2"

# Calibrated on tests/fixtures/taxonomies/starter_claims.csv (60 badge titles with a known answer,
# 20 unrelated titles that must abstain). Lexical search: the best unrelated title scores 0.675
# and 0.70 keeps 57 of 60; lexical + semantic: the best unrelated title scores 0.64 and 0.70 keeps
# 57 of 60. `bench/mapping.py --calibrate [--no-semantic]` prints the sweep.
DEFAULT_THRESHOLD = 0.70

ClaimSource = Literal["alignment", "name", "tag", "criteria", "description", "result"]
MatchMethod = Literal[
    "alignment", "crosswalk", "lexical", "semantic", "fused", "broader", "override"
]

# Free text says less about what was certified than a title or a tag does.
_SOURCE_FACTOR: Mapping[str, float] = MappingProxyType(
    {
        "alignment": 1.0,
        "name": 1.0,
        "tag": 0.97,
        "result": 0.92,
        "criteria": 0.9,
        "description": 0.85,
    }
)
_LONG_TEXT_WORDS = 12
_MAX_PER_CLAIM = 3
_AMBIGUITY_MARGIN = 0.02
_SURE_SCORE = 0.97
_BROADER_FACTOR = 0.85
_BROADER_DEPTH = 2
_CROSSWALK_CONFIDENCE = 0.95
_SEGMENT_FACTOR = 0.97
_MENTION_SCORE = 0.86
_WHOLE = 0.999
_SEGMENTS = re.compile(r"\s*(?:[,;:|/()\[\]\u2013\u2014]|\s-\s|\bwith\b|\band\b|\busing\b|&)\s*")
_SENTENCES = re.compile(r"(?<=[.!?;:])\s+|\n+|\s+[\u2022*-]\s+")


class ConceptSearcher(Protocol):
    """Anything that ranks concepts for a phrase: the lexical index, or lexical + semantic."""

    def search(
        self, query: str, *, top_k: int = 10, kinds: Collection[ConceptKind] | None = None
    ) -> list[Hit]: ...

    def query_forms(self, query: str) -> list[str]: ...


@dataclass(frozen=True, kw_only=True, slots=True)
class SkillClaim:
    """One statement of what an achievement certifies, with where it was read from."""

    text: str
    source: ClaimSource
    alignment_url: str | None = None
    alignment_code: str | None = None
    framework: str | None = None
    achievement_id: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class SkillMatch:
    """A concept a claim maps to; `confidence` is 0..1 and `method` says how it was found."""

    concept_id: str
    label: str
    confidence: float
    method: MatchMethod
    claim: SkillClaim


def claims_from_achievement(achievement: Achievement) -> list[SkillClaim]:
    """Claims in order of trust: alignments, then name, tags, criteria, description, results."""
    claims: list[SkillClaim] = []
    seen: set[tuple[str, str, str | None]] = set()

    def add(text: str | None, source: ClaimSource, **extra: str | None) -> None:
        if not text or not text.strip():
            return
        key = (source, text.strip(), extra.get("alignment_url"))
        if key in seen:
            return
        seen.add(key)
        claims.append(
            SkillClaim(text=text.strip(), source=source, achievement_id=achievement.id, **extra)
        )

    for alignment in achievement.alignments:
        add(
            alignment.target_name or alignment.target_code or alignment.target_url,
            "alignment",
            alignment_url=alignment.target_url,
            alignment_code=alignment.target_code,
            framework=alignment.target_framework,
        )
    add(achievement.name, "name")
    for tag in achievement.tags:
        add(tag, "tag")
    add(achievement.criteria, "criteria")
    add(achievement.description, "description")
    for result in achievement.results:
        add(result, "result")
    return claims


class SkillMapper:
    """Maps claims onto one taxonomy; build once per taxonomy and reuse (the index is the cost)."""

    def __init__(
        self,
        taxonomy: Taxonomy,
        *,
        searcher: ConceptSearcher | None = None,
        threshold: float = DEFAULT_THRESHOLD,
        kinds: Collection[ConceptKind] = SKILL_KINDS,
    ) -> None:
        self.taxonomy = taxonomy
        self.searcher: ConceptSearcher = searcher or LabelIndex.build(taxonomy, kinds=kinds)
        self.threshold = threshold
        self.notice: str | None = None
        self.kinds = frozenset(kinds)
        self._crosswalk: dict[str, list[str]] = {}
        for relation in taxonomy.relations_of(RelationKind.CROSSWALK):
            self._crosswalk.setdefault(relation.source, []).append(relation.target)

    @classmethod
    def build(
        cls,
        taxonomy: Taxonomy,
        *,
        cache_dir: Path | None,
        semantic: bool = True,
        threshold: float = DEFAULT_THRESHOLD,
        encoder_factory: Callable[[], TextEncoder] = TextEncoder.from_package,
    ) -> SkillMapper:
        """A mapper with lexical + semantic search when the embedding model is installed.

        Without the model it maps lexically, logs why once, and keeps the reason in `notice`.
        Label vectors are cached in `cache_dir` (per taxonomy version).
        """
        lexical = LabelIndex.build(taxonomy, kinds=SKILL_KINDS)
        searcher, notice = build_searcher(
            lexical,
            taxonomy,
            cache_dir=cache_dir,
            semantic=semantic,
            encoder_factory=encoder_factory,
        )
        mapper = cls(taxonomy, searcher=searcher, threshold=threshold)
        mapper.notice = notice
        if notice:
            logger.warning("skill mapping for %s is lexical only: %s", taxonomy.key, notice)
        return mapper

    def map(
        self, claims: Iterable[SkillClaim], *, overrides: Mapping[str, str | None] | None = None
    ) -> list[SkillMatch]:
        """Every concept the claims support, best first, one entry per concept (max confidence)."""
        normalised_overrides = {normalize(k): v for k, v in (overrides or {}).items()}
        best: dict[str, SkillMatch] = {}
        for claim in claims:
            for match in self._map_claim(claim, normalised_overrides):
                current = best.get(match.concept_id)
                if current is None or match.confidence > current.confidence:
                    best[match.concept_id] = match
        return sorted(best.values(), key=lambda m: (-m.confidence, m.concept_id))

    def _map_claim(
        self, claim: SkillClaim, overrides: Mapping[str, str | None]
    ) -> list[SkillMatch]:
        for phrase in (normalize(claim.text), clean_query(claim.text)):
            if phrase in overrides:
                target = overrides[phrase]
                if target is None:
                    return []
                return [self._match(target, 1.0, "override", claim)]
        if claim.source == "alignment":
            direct = self._alignment(claim)
            if direct:
                return direct
        factor = _SOURCE_FACTOR.get(claim.source, 0.85)
        if len(claim.text.split()) > _LONG_TEXT_WORDS:
            matches: list[SkillMatch] = []
            for sentence in _SENTENCES.split(claim.text):
                matches.extend(self._from_text(sentence, claim, factor, strict=True))
            return matches
        return self._from_text(claim.text, claim, factor, strict=False)

    def _alignment(self, claim: SkillClaim) -> list[SkillMatch]:
        for reference in (claim.alignment_url, claim.alignment_code):
            if reference and reference in self.taxonomy.concepts:
                return [self._match(reference, 1.0, "alignment", claim)]
        for reference in (claim.alignment_url, claim.alignment_code):
            targets = self._crosswalk.get(reference or "")
            if targets:
                return [self._match(t, _CROSSWALK_CONFIDENCE, "crosswalk", claim) for t in targets]
        return []

    def _from_text(
        self, text: str, claim: SkillClaim, factor: float, *, strict: bool
    ) -> list[SkillMatch]:
        """Pick non-overlapping concepts from the phrase and its parts (greedy word coverage)."""
        threshold = self.threshold + (0.08 if strict else 0.0)
        hits = self.searcher.search(text, top_k=10, kinds=self.kinds)
        if not hits:
            return []
        backed_off = self._broader(hits, threshold)
        if backed_off is not None:
            concept_id, score = backed_off
            return [self._match(concept_id, score * factor, "broader", claim)]
        pool = [(_evidence(hit, strict), hit) for hit in hits]
        parts = [part for part in _SEGMENTS.split(text) if part and part.strip()]
        if len(parts) > 1:
            for part in parts:
                pool.extend(
                    (_evidence(hit, strict) * _SEGMENT_FACTOR, hit)
                    for hit in self.searcher.search(part, top_k=3, kinds=self.kinds)
                )
        pool.sort(key=lambda item: (-item[0], item[1].concept_id))
        query_words = {
            word for form in self.searcher.query_forms(text) for word in words_to_keys(form.split())
        }
        covered: set[str] = set()
        chosen: list[SkillMatch] = []
        for score, hit in pool:
            if score < threshold or len(chosen) >= _MAX_PER_CLAIM:
                break
            if any(match.concept_id == hit.concept_id for match in chosen):
                continue
            label_words = set(words_to_keys(normalize(hit.matched_label).split()))
            shared = label_words & query_words
            if chosen and (
                hit.label_coverage < _WHOLE  # a second skill must be named outright
                or not shared - covered
                or len(label_words & covered) * 2 > len(label_words)
            ):
                continue  # adds no word of the claim that an earlier, better match left unexplained
            covered |= shared
            chosen.append(self._match(hit.concept_id, score * factor, _method(hit), claim))
        return chosen

    def _broader(self, hits: list[Hit], threshold: float) -> tuple[str, float] | None:
        """The shared broader concept when the two best hits are close but disagree."""
        if len(hits) < 2:
            return None
        first, second = hits[0], hits[1]
        if first.score >= _SURE_SCORE or first.score - second.score > _AMBIGUITY_MARGIN:
            return None
        if second.score < threshold:
            return None
        first_chain = self.taxonomy.broader_chain(first.concept_id)
        second_chain = self.taxonomy.broader_chain(second.concept_id)
        if second.concept_id in first_chain or first.concept_id in second_chain:
            return None  # one refines the other: not a disagreement
        # Only a near ancestor of both says something; a whole domain ("Software") does not.
        near = set(second_chain[:_BROADER_DEPTH])
        shared = [c for c in first_chain[:_BROADER_DEPTH] if c in near]
        if not shared:
            return None
        return shared[0], first.score * _BROADER_FACTOR

    def _match(
        self, concept_id: str, confidence: float, method: MatchMethod, claim: SkillClaim
    ) -> SkillMatch:
        concept = self.taxonomy.get(concept_id)
        return SkillMatch(
            concept_id=concept_id,
            label=concept.preferred_label if concept else concept_id,
            confidence=round(min(1.0, confidence), 4),
            method=method,
            claim=claim,
        )


def _evidence(hit: Hit, strict: bool) -> float:
    """The score a hit counts for; in free text a multi-word label quoted whole is a mention.

    A sentence is much longer than a label, so its similarity to any label stays low even when
    it names the skill outright ("They can write SQL queries ..."). Single words are not trusted
    this way: "go", "lean" or "excel" are skills and everyday words alike.
    """
    if not strict or hit.label_coverage < _WHOLE:
        return hit.score
    if len(words_to_keys(normalize(hit.matched_label).split())) < 2:
        return hit.score
    return max(hit.score, _MENTION_SCORE)


def _method(hit: Hit) -> MatchMethod:
    if hit.method == "semantic":
        return "semantic"
    if hit.method == "fused":
        return "fused"
    return "lexical"


def map_claims(
    claims: Iterable[SkillClaim],
    taxonomy: Taxonomy,
    *,
    index: ConceptSearcher | None = None,
    overrides: Mapping[str, str | None] = MappingProxyType({}),
    threshold: float = DEFAULT_THRESHOLD,
) -> list[SkillMatch]:
    """Map claims onto a taxonomy (see `SkillMapper`); pass `index` to reuse a built one."""
    mapper = SkillMapper(taxonomy, searcher=index, threshold=threshold)
    return mapper.map(claims, overrides=overrides)

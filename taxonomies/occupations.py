"""Job titles -> occupations, and an occupation -> a draft role profile HR can edit.

`TitleSearch` ranks occupations for a job title with the taxonomy's own labels (lexical and
semantic search) and then with what this employer chose before: the occupation HR confirmed for
the same title comes first, occupations confirmed for similar titles move up, and so, a little,
do the occupations the employer picks most. Employers name roles in their own way ("Production
Operator" for ESCO's "factory hand", "Account Executive" for an accounting role); the taxonomy
cannot know that, their earlier choices do.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt
from rapidfuzz import fuzz, process

from taxonomies.hybrid import HybridIndex
from taxonomies.index import Hit, LabelIndex
from taxonomies.model import ConceptKind, RelationKind, Taxonomy
from taxonomies.normalize import normalize

_OCCUPATIONS = frozenset({ConceptKind.OCCUPATION})
# Tuned by two-fold cross-validation on the JobBERT validation titles (bench/mapping.py
# --title-choices): one half stands for earlier choices, the other is ranked.
_PRIOR = 0.05  # per log(1 + times chosen)
_NEIGHBOUR = 0.3  # times the similarity of the most similar earlier title
_NEAR_COSINE = 0.7  # earlier titles less similar than this say nothing
_NEAR_RATIO = 85.0  # the same, for lexical-only search (rapidfuzz token_sort_ratio)
_CANDIDATES = 50


@dataclass(frozen=True, kw_only=True, slots=True)
class DraftRequirement:
    """One skill of a draft profile; `weight` orders requirements (O*NET importance, else None)."""

    concept_id: str
    label: str
    essential: bool
    weight: float | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class DraftRoleProfile:
    """What a taxonomy says an occupation needs: a starting point, never a finished profile."""

    occupation_id: str
    title: str
    description: str | None
    taxonomy: str
    attribution: str
    requirements: tuple[DraftRequirement, ...]

    @property
    def essential(self) -> tuple[DraftRequirement, ...]:
        return tuple(r for r in self.requirements if r.essential)

    @property
    def optional(self) -> tuple[DraftRequirement, ...]:
        return tuple(r for r in self.requirements if not r.essential)


def draft_role_profile(
    taxonomy: Taxonomy, occupation_id: str, *, max_optional: int | None = None
) -> DraftRoleProfile:
    """Essential skills first, then optional ones, each group by weight (if any) then label."""
    occupation = taxonomy.concept(occupation_id)
    if occupation.kind is not ConceptKind.OCCUPATION:
        raise ValueError(f"{occupation_id} is a {occupation.kind}, not an occupation")
    template = taxonomy.role_template(occupation_id)
    weights: dict[tuple[str, RelationKind], float | None] = {
        (r.source, r.kind): r.weight
        for r in taxonomy.relations
        if r.target == occupation_id
        and r.kind in (RelationKind.ESSENTIAL_FOR, RelationKind.OPTIONAL_FOR)
    }
    requirements: list[DraftRequirement] = []
    for essential, ids in (
        (True, template.essential if template else ()),
        (False, template.optional if template else ()),
    ):
        kind = RelationKind.ESSENTIAL_FOR if essential else RelationKind.OPTIONAL_FOR
        group = [
            DraftRequirement(
                concept_id=cid,
                label=taxonomy.concept(cid).preferred_label,
                essential=essential,
                weight=weights.get((cid, kind)),
            )
            for cid in ids
            if cid in taxonomy.concepts
        ]
        group.sort(key=lambda r: (-(r.weight or 0.0), r.label.casefold(), r.concept_id))
        if not essential and max_optional is not None:
            group = group[:max_optional]
        requirements.extend(group)
    return DraftRoleProfile(
        occupation_id=occupation_id,
        title=occupation.preferred_label,
        description=occupation.description,
        taxonomy=taxonomy.key,
        attribution=taxonomy.attribution,
        requirements=tuple(requirements),
    )


@dataclass(frozen=True, kw_only=True, slots=True)
class OccupationChoice:
    """HR chose `occupation_id` for a job titled `title` (one event; repeats count)."""

    title: str
    occupation_id: str


class TitleSearch:
    """Occupations for a job title, best first, informed by the employer's earlier choices."""

    def __init__(
        self,
        searcher: LabelIndex | HybridIndex,
        choices: Sequence[OccupationChoice] = (),
    ) -> None:
        self.searcher = searcher
        lexical = searcher.lexical if isinstance(searcher, HybridIndex) else searcher
        known = dict(zip(lexical.concept_ids, lexical.concept_kinds, strict=True))
        self._preferred = dict(zip(lexical.concept_ids, lexical.preferred, strict=True))
        # Only choices of occupations the index still has count (an obsolete one says nothing).
        usable: list[OccupationChoice] = []
        ignored: dict[str, None] = {}  # choices of occupations the index lacks, each id once
        for choice in choices:
            if known.get(choice.occupation_id) is ConceptKind.OCCUPATION:
                usable.append(choice)
            else:
                ignored[choice.occupation_id] = None
        self.ignored = tuple(ignored)
        self._exact: dict[str, str] = {}
        for choice in usable:  # in order: the latest choice for a title wins
            key = normalize(choice.title)
            if key:
                self._exact[key] = choice.occupation_id
        self._counts = Counter(c.occupation_id for c in usable)
        # One entry per distinct title (as first written), with every occupation chosen for it.
        written: dict[str, str] = {}
        chosen: dict[str, set[str]] = {}
        for choice in usable:
            key = normalize(choice.title)
            if key:
                written.setdefault(key, choice.title)
                chosen.setdefault(key, set()).add(choice.occupation_id)
        self._titles = list(written)
        self._title_choices = [sorted(chosen[key]) for key in self._titles]
        self._vectors: npt.NDArray[np.float32] | None = None
        if written and isinstance(searcher, HybridIndex):
            self._vectors = searcher.embed_many(list(written.values()))

    @property
    def learned(self) -> int:
        """How many earlier choices inform the ranking."""
        return sum(self._counts.values())

    def search(self, title: str, *, top_k: int = 10) -> list[Hit]:
        """Occupations for `title`; `method` is "confirmed" for HR's own choice for it."""
        hits = self.searcher.search(title, top_k=max(top_k, _CANDIDATES), kinds=_OCCUPATIONS)
        if not self._counts:
            return hits[:top_k]
        by_id = {hit.concept_id: hit for hit in hits}
        neighbours = self._neighbours(title)
        confirmed = self._exact.get(normalize(title))
        for occupation_id in (*neighbours, *([confirmed] if confirmed else [])):
            if occupation_id not in by_id:
                label = self._preferred.get(occupation_id, occupation_id)
                by_id[occupation_id] = Hit(
                    concept_id=occupation_id,
                    label=label,
                    matched_label=label,
                    score=0.0,
                    method="learned",
                )
        ranked: list[tuple[float, str, Hit]] = []
        for occupation_id, hit in by_id.items():
            boost = _PRIOR * math.log1p(self._counts.get(occupation_id, 0))
            boost += _NEIGHBOUR * neighbours.get(occupation_id, 0.0)
            score = hit.score + boost
            if occupation_id == confirmed:
                score, hit = 2.0, replace(hit, method="confirmed")
            elif boost > 0 and hit.method != "learned":
                hit = replace(hit, method="learned")
            ranked.append((score, occupation_id, hit))
        ranked.sort(key=lambda item: (-round(item[0], 4), item[1]))
        return [replace(hit, score=round(min(1.0, score), 4)) for score, _, hit in ranked[:top_k]]

    def _neighbours(self, title: str) -> dict[str, float]:
        """Occupations chosen for earlier titles like this one -> similarity of the closest."""
        if not self._titles:
            return {}
        if self._vectors is not None and isinstance(self.searcher, HybridIndex):
            query = self.searcher.embed(title)
            similarity = self._vectors @ query
            near = np.flatnonzero(similarity >= _NEAR_COSINE)
            scores = similarity[near].astype(np.float64).tolist()
        else:
            found = process.extract(
                normalize(title),
                self._titles,
                scorer=fuzz.token_sort_ratio,
                processor=None,
                score_cutoff=_NEAR_RATIO,
                limit=None,
            )
            near = np.asarray([position for _, _, position in found], dtype=np.intp)
            scores = [score / 100.0 for _, score, _ in found]
        result: dict[str, float] = {}
        for position, score in zip(near.tolist(), scores, strict=True):
            for occupation_id in self._title_choices[position]:
                result[occupation_id] = max(result.get(occupation_id, 0.0), score)
        return result

"""Lexical + semantic search fused into one ranking, with the lexical index as the fallback.

Candidates are the lexical index's best plus the concepts whose label vectors sit nearest the
query; each gets a fused score `w * lexical + (1 - w) * semantic`. The semantic part mixes the
cosine to the concept's best label with the cosine to its centroid (all its labels together,
which favours the concept a phrase is generally about), and is stretched from [floor, ceiling]
onto [0, 1] so that unrelated phrases (cosines around 0.2-0.4) add nothing.
The weights were tuned on the validation splits only (see bench/mapping.py).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from taxonomies.embeddings import EmbeddingModelMissing, SemanticIndex, TextEncoder
from taxonomies.index import Hit, LabelIndex
from taxonomies.model import ConceptKind, Taxonomy
from taxonomies.normalize import clean_query, normalize
from taxonomies.progress import Progress, silent


@dataclass(frozen=True, kw_only=True, slots=True)
class FusionWeights:
    """How much the lexical score and the best label count, which cosines mean unrelated/same."""

    lexical: float
    floor: float
    ceiling: float
    best_label: float = 0.3
    whole_label: float = 0.95
    candidates: int = 50


# Tuned on TECH/HOUSE validation spans (skills) and JobBERT validation titles (occupations).
PROFILES: dict[str, FusionWeights] = {
    # TECH R-P@5 0.876 and HOUSE 0.840 (lexical alone: 0.756, 0.682). Keeping whole-label
    # matches costs 0.02 of TECH R-P@5 but keeps the mapper's confidence in vendor and
    # certificate names the model barely knows (starter calibration set: 57/60 vs 52/60).
    "skills": FusionWeights(lexical=0.3, floor=0.3, ceiling=0.8, best_label=0.3, whole_label=0.95),
    # JobBERT MRR 0.409 on 3,000 validation titles (lexical alone: 0.349).
    "titles": FusionWeights(lexical=0.3, floor=0.4, ceiling=0.9, best_label=0.3, whole_label=0.0),
}


_WHOLE = 0.999


class HybridIndex:
    """A `LabelIndex` and a `SemanticIndex` over the same concepts, searched together."""

    def __init__(
        self,
        lexical: LabelIndex,
        semantic: SemanticIndex,
        *,
        profile: str = "skills",
        weights: FusionWeights | None = None,
    ) -> None:
        self.lexical = lexical
        self.semantic = semantic
        self.weights = weights or PROFILES[profile]
        self._kinds = dict(zip(lexical.concept_ids, lexical.concept_kinds, strict=True))
        self._preferred = dict(zip(lexical.concept_ids, lexical.preferred, strict=True))

    def query_forms(self, query: str) -> list[str]:
        """The normalised forms the lexical side searches."""
        return self.lexical.query_forms(query)

    def prime(self, queries: Sequence[str]) -> None:
        """Embed many queries at once before searching them one by one."""
        self.semantic.prime([_semantic_text(q) for q in queries])

    def search(
        self, query: str, *, top_k: int = 10, kinds: Collection[ConceptKind] | None = None
    ) -> list[Hit]:
        """Best concepts by fused score, best first; ties broken by concept id."""
        weights = self.weights
        lexical = {
            hit.concept_id: hit
            for hit in self.lexical.search(query, top_k=weights.candidates, kinds=kinds)
        }
        text = _semantic_text(query)
        if not text:
            return list(lexical.values())[:top_k]
        vector = self.semantic.embed(text)
        wanted = frozenset(kinds) if kinds is not None else None
        nearest = [
            cid
            for cid in self.semantic.nearest(vector, weights.candidates * 2)
            if cid in self._kinds and (wanted is None or self._kinds[cid] in wanted)
        ][: weights.candidates]
        candidates = list(dict.fromkeys([*lexical, *nearest]))
        best = self.semantic.similarity(vector, candidates)
        centroid = self.semantic.centroid_similarity(vector, candidates)
        mix = weights.best_label
        cosines = {cid: mix * cos + (1 - mix) * centroid.get(cid, cos) for cid, cos in best.items()}
        span = max(weights.ceiling - weights.floor, 1e-6)
        scored: list[tuple[float, str, Hit]] = []
        for cid in candidates:
            hit = lexical.get(cid)
            lexical_score = hit.score if hit is not None else 0.0
            semantic = min(1.0, max(0.0, (cosines.get(cid, 0.0) - weights.floor) / span))
            fused = weights.lexical * lexical_score + (1 - weights.lexical) * semantic
            if hit is not None and hit.method != "fuzzy":
                fused = max(fused, hit.score)  # an exact label match stays as sure as it was
                method = hit.method
            elif hit is not None and hit.label_coverage >= _WHOLE:
                # A whole label found in the phrase ("Salesforce" in "Salesforce Administrator")
                # is evidence the model may not share: the embedding must not drag it down.
                fused = max(fused, weights.whole_label * hit.score)
                method = "fused"
            else:
                method = "fused" if hit is not None else "semantic"
            scored.append(
                (
                    round(fused, 4),
                    cid,
                    Hit(
                        concept_id=cid,
                        label=self._preferred.get(cid, cid),
                        matched_label=hit.matched_label if hit else self._preferred.get(cid, cid),
                        score=round(fused, 4),
                        method=method,
                        coverage=hit.coverage if hit else 0.0,
                        label_coverage=hit.label_coverage if hit else 0.0,
                    ),
                )
            )
        scored.sort(key=lambda item: (-item[0], item[1]))
        return [hit for _, _, hit in scored[:top_k]]


def _semantic_text(query: str) -> str:
    """What the model sees: the cleaned query (course-title filler dropped)."""
    return clean_query(query) or normalize(query)


def build_searcher(
    lexical: LabelIndex,
    taxonomy: Taxonomy,
    *,
    cache_dir: Path | None,
    semantic: bool = True,
    profile: str = "skills",
    groups: bool = True,
    progress: Progress = silent,
    encoder_factory: Callable[[], TextEncoder] = TextEncoder.from_package,
) -> tuple[LabelIndex | HybridIndex, str | None]:
    """The hybrid searcher when the embedding model is installed, else the lexical index.

    The second value is a notice for the user when semantic matching is off (None when on).
    """
    if not semantic:
        return lexical, "semantic matching is off (lexical only), as requested"
    try:
        encoder = encoder_factory()
    except EmbeddingModelMissing as missing:
        return lexical, str(missing)
    kinds = frozenset(lexical.concept_kinds)
    vectors = SemanticIndex.build(
        taxonomy, encoder, cache_dir=cache_dir, kinds=kinds, groups=groups, progress=progress
    )
    return HybridIndex(lexical, vectors, profile=profile), None

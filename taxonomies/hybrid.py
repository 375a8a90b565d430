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

import numpy as np
import numpy.typing as npt

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
    # JobBERT MRR 0.409 on 3,000 validation titles (lexical alone: 0.349). A plateau: other
    # weights, 30-100 candidates, reciprocal-rank fusion (0.398-0.404), stripping seniority and
    # contract words, searching "A / B" titles by part, or adding the cosine to the
    # occupation's description each moved MRR by less than 0.003 or lowered it. Fine-tuning
    # the encoder itself on ESCO's occupation labels (contrastive, one epoch) gave 0.417: not
    # worth a second set of weights. The gap is the job board's own labelling.
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
        # Per semantic position: its kind (None when the lexical side lacks the concept), so the
        # nearest concepts are filtered by kind without a dictionary look-up per candidate.
        self._semantic_kinds = [self._kinds.get(cid) for cid in semantic.concept_ids]
        self._kind_masks: dict[frozenset[ConceptKind] | None, npt.NDArray[np.bool_]] = {}

    def query_forms(self, query: str) -> list[str]:
        """The normalised forms the lexical side searches."""
        return self.lexical.query_forms(query)

    def embed(self, text: str) -> npt.NDArray[np.float32]:
        """The unit vector the semantic side uses for a phrase (cached)."""
        return self.semantic.embed(_semantic_text(text))

    def embed_many(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Unit vectors for many phrases at once, one row each."""
        return self.semantic.encoder.encode([_semantic_text(t) for t in texts])

    def prime(self, queries: Sequence[str]) -> None:
        """Embed many queries at once before searching them one by one."""
        self.semantic.prime([_semantic_text(q) for q in queries])

    def search(
        self, query: str, *, top_k: int = 10, kinds: Collection[ConceptKind] | None = None
    ) -> list[Hit]:
        """Best concepts by fused score, best first; ties broken by concept id."""
        weights = self.weights
        lexical = self.lexical.search(query, top_k=weights.candidates, kinds=kinds)
        text = _semantic_text(query)
        if not text:
            return lexical[:top_k]
        semantic = self.semantic
        vector = semantic.embed(text)
        nearest = semantic.nearest_positions(vector, weights.candidates * 2)
        nearest = nearest[self._kind_mask(kinds)[nearest]][: weights.candidates]
        lexical_ids = {hit.concept_id for hit in lexical}
        extra = [
            position
            for position in nearest.tolist()
            if semantic.concept_ids[position] not in lexical_ids
        ]
        ids = [hit.concept_id for hit in lexical] + [semantic.concept_ids[p] for p in extra]
        positions = np.asarray(
            [semantic.positions.get(hit.concept_id, -1) for hit in lexical] + extra, dtype=np.intp
        )
        known = positions >= 0
        cosines = np.zeros(len(ids), dtype=np.float64)
        if known.any():
            # Only the shortlist's label vectors are read: a few hundred rows, not every label.
            best = semantic.best_label_cosines(vector, positions[known]).astype(np.float64)
            centroid = semantic.centroid_cosines(vector, positions[known]).astype(np.float64)
            cosines[known] = weights.best_label * best + (1 - weights.best_label) * centroid
        span = max(weights.ceiling - weights.floor, 1e-6)
        similarity = np.clip((cosines - weights.floor) / span, 0.0, 1.0)
        lexical_scores = np.zeros(len(ids), dtype=np.float64)
        lexical_scores[: len(lexical)] = [hit.score for hit in lexical]
        fused = weights.lexical * lexical_scores + (1 - weights.lexical) * similarity
        methods = ["semantic"] * len(ids)
        for index, hit in enumerate(lexical):
            if hit.method != "fuzzy":
                fused[index] = max(fused[index], hit.score)  # an exact label match stays as sure
                methods[index] = hit.method
            else:
                if hit.label_coverage >= _WHOLE:
                    # A whole label found in the phrase ("Salesforce" in "Salesforce
                    # Administrator") is evidence the model may not share: the embedding must
                    # not drag it down.
                    fused[index] = max(fused[index], weights.whole_label * hit.score)
                methods[index] = "fused"
        rounded = np.round(fused, 4)
        # A candidate with nothing in its favour (no word in common, a cosine under the floor)
        # is not an answer, however short the list.
        scored = [i for i in range(len(ids)) if rounded[i] > 0]
        order = sorted(scored, key=lambda i: (-rounded[i], ids[i]))[:top_k]
        hits = []
        for index in order:
            cid: str = ids[index]
            found = lexical[index] if index < len(lexical) else None
            score = float(rounded[index])
            hits.append(
                Hit(
                    concept_id=cid,
                    label=self._preferred.get(cid, cid),
                    matched_label=found.matched_label if found else self._preferred.get(cid, cid),
                    score=score,
                    method=methods[index],
                    coverage=found.coverage if found else 0.0,
                    label_coverage=found.label_coverage if found else 0.0,
                )
            )
        return hits

    def _kind_mask(self, kinds: Collection[ConceptKind] | None) -> npt.NDArray[np.bool_]:
        """Which semantic positions may be returned: known to the lexical side, of these kinds."""
        wanted = frozenset(kinds) if kinds is not None else None
        mask = self._kind_masks.get(wanted)
        if mask is None:
            mask = np.array(
                [k is not None and (wanted is None or k in wanted) for k in self._semantic_kinds],
                dtype=np.bool_,
            )
            self._kind_masks[wanted] = mask
        return mask


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

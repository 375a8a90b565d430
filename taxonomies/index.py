"""Lexical search over every label of a taxonomy: token-index candidates rescored with rapidfuzz.

Stage one finds candidate labels cheaply: query words are stemmed and looked up in an inverted
index (numpy postings, IDF-weighted), and words the index does not know are matched against the
vocabulary with rapidfuzz (typos, unseen inflections). Scanning all ~110k ESCO label strings with
rapidfuzz costs 10-15 ms per query, the vocabulary scan well under one, which is why the full
string comparison is kept for the shortlist. Stage two rescores the shortlist with whole-string
similarity (ratio, token sort) and IDF-weighted word coverage in both directions, so a label that
sits wholly inside a longer credential title ("AWS" in "AWS Solutions Architect") still scores.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from rapidfuzz import fuzz, process, utils

from taxonomies.index_terms import label_variants, words_to_keys
from taxonomies.model import SKILL_KINDS, ConceptKind, Taxonomy
from taxonomies.normalize import AcronymMap, clean_query, is_acronym, normalize

# Label kinds, best first: of two tied concepts, the one matched on its preferred label wins.
PREFERRED, ALTERNATIVE, HIDDEN = 0, 1, 2
_KIND_PENALTY = (0.0, 0.01, 0.03)
_SHORT_FORM_PENALTY = 0.02
_SHORTLIST = 200
_FUZZY_WORD_CUTOFF = 82.0
_NEAR_IDENTICAL = 0.9


@dataclass(frozen=True, kw_only=True, slots=True)
class Hit:
    """One ranked concept for a query.

    `label` is the concept's preferred label, `matched_label` the label that matched (as written in
    the taxonomy), `coverage` the share of the query's weight that label accounts for and
    `label_coverage` the share of the label's weight found in the query (1.0: the whole label
    occurs in the query).
    """

    concept_id: str
    label: str
    matched_label: str
    score: float
    method: str
    coverage: float = 0.0
    label_coverage: float = 0.0


@dataclass(frozen=True, kw_only=True, slots=True)
class _Query:
    text: str
    keys: dict[str, float]  # index key -> weight it contributes when matched
    weight: float


class LabelIndex:
    """Normalised label index over some kinds of concepts of one taxonomy."""

    def __init__(
        self,
        *,
        taxonomy_key: str,
        concept_ids: list[str],
        concept_kinds: list[ConceptKind],
        preferred: list[str],
        labels: list[str],
        raw_labels: list[str],
        label_concept: npt.NDArray[np.int32],
        label_kind: npt.NDArray[np.int8],
        label_short: npt.NDArray[np.bool_],
        label_weight: npt.NDArray[np.float32],
        postings: dict[str, npt.NDArray[np.int32]],
        idf: dict[str, float],
        acronyms: AcronymMap,
    ) -> None:
        self.taxonomy_key = taxonomy_key
        self.concept_ids = concept_ids
        self.concept_kinds = concept_kinds
        self.preferred = preferred
        self.labels = labels
        self.raw_labels = raw_labels
        self.label_concept = label_concept
        self.label_kind = label_kind
        self.label_short = label_short
        self.label_weight = label_weight
        self.postings = postings
        self.idf = idf
        self.acronyms = acronyms
        self._vocabulary_keys = sorted(idf)
        self._vocabulary = [utils.default_process(word) for word in self._vocabulary_keys]
        self._unknown_weight = max(idf.values(), default=1.0)
        self._kind_codes = np.array([_kind_code(kind) for kind in concept_kinds], dtype=np.int8)
        self._indexed_kinds = frozenset(concept_kinds)
        self._masks: dict[frozenset[ConceptKind], npt.NDArray[np.bool_]] = {}

    @classmethod
    def build(
        cls,
        taxonomy: Taxonomy,
        *,
        kinds: Collection[ConceptKind] = SKILL_KINDS,
        groups: bool = True,
    ) -> LabelIndex:
        """Index preferred, alternative and hidden labels of the active concepts of these kinds.

        `groups=False` leaves out grouping concepts (reuse level "group"), which ESCO does not
        count among its skills.
        """
        wanted = frozenset(kinds)
        concept_ids: list[str] = []
        concept_kinds: list[ConceptKind] = []
        preferred: list[str] = []
        labels: list[str] = []
        raw_labels: list[str] = []
        owners: list[int] = []
        label_kinds: list[int] = []
        shorts: list[bool] = []
        label_sets: list[tuple[str, ...]] = []
        for concept in taxonomy.concepts.values():
            if concept.kind not in wanted or concept.status != "active":
                continue
            if not groups and concept.reuse_level == "group":
                continue
            position = len(concept_ids)
            concept_ids.append(concept.id)
            concept_kinds.append(concept.kind)
            preferred.append(concept.preferred_label)
            label_sets.append(concept.labels())
            seen: set[str] = set()
            for kind, group in (
                (PREFERRED, (concept.preferred_label,)),
                (ALTERNATIVE, concept.alt_labels),
                (HIDDEN, concept.hidden_labels),
            ):
                for raw in group:
                    for text, short in label_variants(raw):
                        if text in seen:
                            continue
                        seen.add(text)
                        labels.append(text)
                        raw_labels.append(raw)
                        owners.append(position)
                        label_kinds.append(kind)
                        shorts.append(short)
        keyed = [words_to_keys(text.split()) for text in labels]
        document_frequency: dict[str, int] = {}
        for keys in keyed:
            for key in set(keys):
                document_frequency[key] = document_frequency.get(key, 0) + 1
        total = len(labels) + 1
        idf = {
            key: math.log(total / (count + 0.5)) + 1.0 for key, count in document_frequency.items()
        }
        buckets: dict[str, list[int]] = {}
        weights = np.zeros(len(labels), dtype=np.float32)
        for position, keys in enumerate(keyed):
            unique = set(keys)
            weights[position] = sum(idf[key] for key in unique) or 1.0
            for key in unique:
                buckets.setdefault(key, []).append(position)
        postings = {key: np.asarray(ids, dtype=np.int32) for key, ids in buckets.items()}
        return cls(
            taxonomy_key=taxonomy.key,
            concept_ids=concept_ids,
            concept_kinds=concept_kinds,
            preferred=preferred,
            labels=labels,
            raw_labels=raw_labels,
            label_concept=np.asarray(owners, dtype=np.int32),
            label_kind=np.asarray(label_kinds, dtype=np.int8),
            label_short=np.asarray(shorts, dtype=np.bool_),
            label_weight=weights,
            postings=postings,
            idf=idf,
            acronyms=AcronymMap.from_label_sets(label_sets),
        )

    def __len__(self) -> int:
        return len(self.concept_ids)

    def query_forms(self, query: str) -> list[str]:
        """The normalised forms searched for a query: cleaned, plain, acronyms swapped."""
        return [form for form, _ in self._forms(query)]

    def _forms(self, query: str) -> list[tuple[str, bool]]:
        """(form, from_acronym) pairs; the first form is the cleaned query."""
        forms: list[tuple[str, bool]] = []
        for form in (clean_query(query), normalize(query)):
            if form and all(form != seen for seen, _ in forms):
                forms.append((form, False))
        for form, _ in list(forms[:1]):
            for variant in self.acronyms.variants(form):
                if all(variant != seen for seen, _ in forms):
                    forms.append((variant, True))
        return forms

    def search(
        self, query: str, *, top_k: int = 10, kinds: Collection[ConceptKind] | None = None
    ) -> list[Hit]:
        """Best concepts for a phrase, best first, scores in 0..1; ties broken by concept id."""
        best: dict[int, tuple[float, int, float, float, str, bool, int]] = {}
        mask = self._kind_mask(kinds)
        for rank, (form, from_acronym) in enumerate(self._forms(query)):
            # The plain and acronym forms are fallbacks, a little below the cleaned form; an
            # acronym swap ranks below a direct alternative-label match.
            penalty = 0.0 if rank == 0 else (0.015 if from_acronym else 0.005)
            for label_id, score, coverage, label_coverage in self._score_form(form, mask):
                concept = int(self.label_concept[label_id])
                entry = (
                    max(0.0, score - penalty),
                    -int(self.label_kind[label_id]),
                    coverage,
                    label_coverage,
                    form,
                    from_acronym,
                    label_id,
                )
                current = best.get(concept)
                if current is None or entry[:2] > current[:2]:
                    best[concept] = entry
        ranked = sorted(
            ((concept, entry) for concept, entry in best.items() if entry[0] > 0),
            key=lambda item: (-item[1][0], -item[1][1], self.concept_ids[item[0]]),
        )
        return [
            Hit(
                concept_id=self.concept_ids[concept],
                label=self.preferred[concept],
                matched_label=self.raw_labels[label_id],
                score=round(score, 4),
                method=self._method(form, label_id, from_acronym),
                coverage=round(coverage, 4),
                label_coverage=round(label_coverage, 4),
            )
            for concept, (
                score,
                _,
                coverage,
                label_coverage,
                form,
                from_acronym,
                label_id,
            ) in ranked[:top_k]
        ]

    def _kind_mask(self, kinds: Collection[ConceptKind] | None) -> npt.NDArray[np.bool_] | None:
        """Which labels belong to the wanted kinds; None when every label does (no filtering)."""
        if kinds is None:
            return None
        wanted = frozenset(kinds)
        if wanted >= self._indexed_kinds:
            return None
        mask = self._masks.get(wanted)
        if mask is None:
            codes = np.array([_kind_code(kind) for kind in wanted], dtype=np.int8)
            mask = np.isin(self._kind_codes[self.label_concept], codes)
            self._masks[wanted] = mask
        return mask

    def _method(self, form: str, label_id: int, from_acronym: bool) -> str:
        if self.labels[label_id] != form:
            return "fuzzy"
        if from_acronym:
            return "acronym"
        if self.label_kind[label_id] == PREFERRED:
            return "exact"
        return "acronym" if is_acronym(self.raw_labels[label_id]) else "alt"

    def _prepare(self, form: str) -> _Query:
        """Weigh each query word; words the index lacks are matched to its vocabulary fuzzily."""
        words = form.split()
        keys: dict[str, float] = {}
        weight = 0.0
        unknown: list[str] = []
        for key in dict.fromkeys(words_to_keys(words)):
            known = self.idf.get(key)
            if known is not None:
                keys[key] = max(keys.get(key, 0.0), known)
                weight += known
                continue
            weight += self._unknown_weight
            if len(key) >= 4:
                unknown.append(key)
        if unknown:
            # The vocabulary went through default_process once at build time; passing the
            # processor here instead would redo all ~20k words on every call.
            similarity = process.cdist(
                [utils.default_process(key) for key in unknown],
                self._vocabulary,
                scorer=fuzz.ratio,
                processor=None,
                score_cutoff=_FUZZY_WORD_CUTOFF,
                dtype=np.uint8,
            )
            for row in similarity:
                best = np.flatnonzero(row)
                for position in best[np.argsort(-row[best], kind="stable")][:3].tolist():
                    match = self._vocabulary_keys[position]
                    value = self.idf[match] * float(row[position]) / 100.0
                    keys[match] = max(keys.get(match, 0.0), value)
        return _Query(text=form, keys=keys, weight=weight)

    def _score_form(
        self, form: str, mask: npt.NDArray[np.bool_] | None
    ) -> Iterable[tuple[int, float, float, float]]:
        query = self._prepare(form)
        if not query.keys:
            return []
        ids = [self.postings[key] for key in query.keys]
        # Summed over the postings only: a few thousand entries, not one slot per label.
        candidates, inverse = np.unique(np.concatenate(ids), return_inverse=True)
        hits = np.bincount(
            inverse,
            weights=np.concatenate(
                [
                    np.full(len(p), query.keys[k], dtype=np.float64)
                    for k, p in zip(query.keys, ids, strict=True)
                ]
            ),
        )
        if mask is not None:
            wanted = mask[candidates]
            candidates, hits = candidates[wanted], hits[wanted]
        if len(candidates) == 0:
            return []
        weights = self.label_weight[candidates].astype(np.float64)
        union = weights + query.weight - np.minimum(hits, weights)
        jaccard = hits / np.maximum(union, 1e-9)
        if len(candidates) > _SHORTLIST:
            keep = np.argpartition(-jaccard, _SHORTLIST)[:_SHORTLIST]
            candidates, hits, weights = candidates[keep], hits[keep], weights[keep]
        query_weight = max(query.weight, 1e-9)
        cover_label = np.minimum(1.0, hits / weights)
        cover_query = np.minimum(1.0, hits / query_weight)
        label_ids = candidates.tolist()
        scores = _pair_scores(form, [self.labels[i] for i in label_ids], cover_label, cover_query)
        scores -= np.asarray(_KIND_PENALTY)[self.label_kind[candidates]]
        scores -= _SHORT_FORM_PENALTY * self.label_short[candidates]
        scores = np.clip(scores, 0.0, 1.0)
        return zip(
            label_ids, scores.tolist(), cover_query.tolist(), cover_label.tolist(), strict=True
        )


def _pair_scores(
    query: str,
    labels: list[str],
    cover_label: npt.NDArray[np.float64],
    cover_query: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]:
    """Similarity of one query form to each label, 0..1 (one rapidfuzz call per scorer)."""
    ratio = process.cdist([query], labels, scorer=fuzz.ratio, processor=None, dtype=np.float64)
    token_sort = process.cdist(
        [query], labels, scorer=fuzz.token_sort_ratio, processor=None, dtype=np.float64
    )
    string = np.maximum(ratio[0], token_sort[0]) / 100.0
    total = cover_label + cover_query
    balanced = np.divide(
        2 * cover_label * cover_query, total, out=np.zeros_like(total), where=total > 0
    )
    # Character similarity alone decides only near-identical strings (typos); otherwise words must
    # match too, or "forklift operation" would pass for "IT operations".
    score = np.maximum(
        np.where(string >= _NEAR_IDENTICAL, string, 0.0), 0.35 * string + 0.65 * balanced
    )
    # The whole label is inside the query; the whole query is inside the label.
    score = np.where(cover_label >= 0.999, np.maximum(score, 0.55 + 0.4 * cover_query), score)
    score = np.where(cover_query >= 0.999, np.maximum(score, 0.5 + 0.45 * cover_label), score)
    same = np.fromiter((label == query for label in labels), dtype=np.bool_, count=len(labels))
    result: npt.NDArray[np.float64] = np.where(same, 1.0, score)
    return result


def _kind_code(kind: ConceptKind) -> int:
    return list(ConceptKind).index(kind)

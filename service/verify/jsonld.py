"""JSON-LD for verification: pinned contexts, safe mode, bounded URDNA2015 and a warm cache.

pyld is used as pinned (3.3.0) with three additions it lacks:

* contexts come only from the local pinned store; an unknown URL is refused before pyld runs,
  so no @context ever reaches the network;
* safe mode: every property must expand and every @id/@type must be absolute, because JSON-LD
  silently drops what the contexts do not define and a signature then covers less than the
  JSON shows;
* limits on size, blank nodes and URDNA2015 work (poison graphs), with a wall-clock budget.

Speed: pyld re-processes the same contexts for every document (its processed-context cache
misses on type-scoped contexts and it JCS-canonicalises every scoped context to build a cache
key). service.verify.pyldext memoises context processing per (active context, local context)
and term expansion per (processed context, term): both depend only on the pinned context
set, so warm canonicalisation is several times faster and byte-for-byte identical (a test
compares it with plain pyld). A new credential of a shape seen before (same members, types
and contexts, other ids, names and dates) skips expansion and RDF conversion altogether: its
statements come from that shape's template (service.verify.shapes), and only URDNA2015 runs.
Canonical forms are also kept by document content, within a byte budget, because the
pipeline re-verifies stored credentials on every evaluation.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from cachetools import LRUCache
from pyld import jsonld as pyld_jsonld
from pyld.identifier_issuer import IdentifierIssuer

from service.verify.errors import CanonicalizationLimit, ContextError, UnknownContextError
from service.verify.pyldext import (
    BoundedURDNA2015,
    IriTrace,
    MemoProcessor,
    StaticContextResolver,
    content_key,
)
from service.verify.shapes import ShapeTemplates
from service.verify.templates import Dataset

# pyld's own test for an absolute IRI (scheme ":" rest) or a blank node label.
_ABSOLUTE_IRI = re.compile(r"^([A-Za-z][A-Za-z0-9+\-.]*|_):[^\s]*$")


class ContextSource(Protocol):
    """Where pinned contexts come from (service.verify.contexts.ContextStore satisfies it)."""

    def load(self, url: str) -> dict[str, Any]: ...


@dataclass(frozen=True, kw_only=True, slots=True)
class CanonicalLimits:
    """Budgets that keep a hostile document from tying up a worker."""

    max_depth: int = 48
    max_nodes: int = 50_000
    max_blank_nodes: int = 2_000
    max_quads: int = 50_000
    max_ndegree_hashes: int = 20_000
    # Blank nodes that look alike are tried in every order: n! paths for a group of n.
    max_alike_blank_nodes: int = 8
    time_limit: float = 1.0


@dataclass(frozen=True, kw_only=True, slots=True)
class Canonical:
    """RDFC-1.0 (URDNA2015) N-Quads of a document and what safe mode found wrong with it."""

    nquads: str
    problems: tuple[str, ...]
    dropped_terms: tuple[str, ...]
    contexts: tuple[str, ...] = ()


def is_absolute_iri(value: str) -> bool:
    return bool(_ABSOLUTE_IRI.match(value))


def _absolute_for_rdf(value: str) -> bool:
    """Absolute for safe mode and for pyld's RDF conversion (their patterns differ slightly)."""
    return is_absolute_iri(value) and bool(pyld_jsonld._is_absolute_iri(value))


def _canonical_size(canonical: Canonical) -> int:
    return len(canonical.nquads) + 256


class LinkedData:
    """Canonicalises JSON-LD documents against the pinned context store, never the network."""

    def __init__(
        self,
        contexts: ContextSource,
        *,
        limits: CanonicalLimits | None = None,
        canonical_cache_bytes: int = 16 * 1024 * 1024,
        shape_cache_bytes: int = 16 * 1024 * 1024,
    ) -> None:
        self._contexts = contexts
        self.limits = limits or CanonicalLimits()
        # Canonical forms by document content: a pure function of the bytes and the pinned
        # contexts, so re-verifying a stored credential (every evaluation does) skips RDFC.
        # Verdicts are never cached; status, keys and dates are checked every time.
        self._canonical: LRUCache[bytes, Canonical] | None = (
            LRUCache(maxsize=canonical_cache_bytes, getsizeof=_canonical_size)
            if canonical_cache_bytes > 0
            else None
        )
        self._refusals: LRUCache[bytes, CanonicalizationLimit] = LRUCache(maxsize=256)
        self._documents: dict[str, dict[str, Any]] = {}
        self._refused: dict[str, str] = {}
        self._resolved: LRUCache[Any, Any] = LRUCache(maxsize=512)
        self._memo: LRUCache[Any, Any] = LRUCache(maxsize=4096)
        self._iri_memo: dict[Any, Any] = {}
        # id() of every object inside a pinned context document: those objects live as long
        # as this instance and never change, so their identity is a sound cache key.
        self._pinned_ids: set[int] = set()
        self._iri_processor = MemoProcessor(
            self._memo, self._iri_memo, self._context_key, lambda term: None
        )
        # New credentials of a known shape skip expansion (service.verify.shapes).
        self.shapes = (
            ShapeTemplates(
                max_bytes=shape_cache_bytes,
                expand=self._expand,
                expand_iri=self._expand_iri,
                is_absolute=_absolute_for_rdf,
            )
            if shape_cache_bytes > 0
            else None
        )

    # -- contexts -------------------------------------------------------------------------
    def _context_document(self, url: str) -> dict[str, Any] | None:
        if url in self._documents:
            return self._documents[url]
        if url in self._refused:
            return None
        try:
            loaded = self._contexts.load(url)
        except Exception as exc:  # noqa: BLE001 - whatever the store says, the context is unusable
            self._refused[url] = str(exc) or type(exc).__name__
            return None
        # pyld may edit context documents in place (@import); keep a private copy.
        document = copy.deepcopy(dict(loaded))
        self._documents[url] = document
        stack: list[Any] = [document]
        while stack:
            item = stack.pop()
            if isinstance(item, dict):
                self._pinned_ids.add(id(item))
                stack.extend(item.values())
            elif isinstance(item, list):
                self._pinned_ids.add(id(item))
                stack.extend(item)
        return document

    def _context_key(self, ctx: Any) -> Any:
        """A cache key for a local context: its URL, its identity if pinned, else its content."""
        if isinstance(ctx, str):
            return ctx
        if id(ctx) in self._pinned_ids:
            return ("pinned", id(ctx))
        return content_key(ctx)

    def _loader(self, url: str, options: Any = None) -> dict[str, Any]:
        document = self._context_document(url)
        if document is None:
            raise UnknownContextError((url,), self._refused.get(url, ""))
        return {"contextUrl": None, "documentUrl": url, "document": document, "tag": "static"}

    def check_contexts(self, document: Mapping[str, Any]) -> tuple[str, ...]:
        """Every @context URL in the document must be pinned; returns them, raises otherwise.

        One walk also enforces the depth and size limits before pyld sees the document.
        """
        urls = self._inspect(document)
        unknown = tuple(url for url in urls if self._context_document(url) is None)
        if unknown:
            reasons = "; ".join(self._refused.get(url, "") for url in unknown)
            raise UnknownContextError(unknown, reasons)
        return urls

    # -- canonicalisation -----------------------------------------------------------------
    def canonicalize(self, document: Mapping[str, Any]) -> Canonical:
        """URDNA2015 N-Quads of `document`, with the safe-mode problems it has (if any)."""
        if self._canonical is None:
            return self._canonicalize(document)
        try:
            key = hashlib.sha256(
                json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
            ).digest()
        except (TypeError, ValueError, RecursionError):
            return self._canonicalize(document)
        cached = self._canonical.get(key)
        if cached is None:
            refused = self._refusals.get(key)
            if refused is not None:
                # A poison graph sent again costs nothing the second time.
                raise type(refused)(*refused.args)
            try:
                cached = self._canonicalize(document)
            except CanonicalizationLimit as exc:
                self._refusals[key] = exc
                raise
            if _canonical_size(cached) <= self._canonical.maxsize // 8:
                self._canonical[key] = cached
        return cached

    def _canonicalize(self, document: Mapping[str, Any]) -> Canonical:
        contexts = self.check_contexts(document)
        shaped = self.shapes.dataset(document) if self.shapes is not None else None
        # The budget starts here: learning a shape (bounded in shapes.py) must not eat into
        # the document's own processing, which is never more than without templates.
        deadline = time.monotonic() + self.limits.time_limit
        if shaped is not None:
            dataset = shaped.dataset
            problems, dropped = shaped.problems, shaped.dropped_terms
        else:
            _, dataset, problems, dropped = self._expand(document, None)
        if time.monotonic() > deadline:
            raise CanonicalizationLimit("JSON-LD expansion exceeded the time budget")
        canon = BoundedURDNA2015(
            deadline=deadline,
            max_calls=self.limits.max_ndegree_hashes,
            max_group=self.limits.max_alike_blank_nodes,
        )
        nquads = canon.main(dataset, {"format": "application/n-quads"})
        return Canonical(nquads=nquads, problems=problems, dropped_terms=dropped, contexts=contexts)

    def _expand(
        self, document: Mapping[str, Any], trace: IriTrace | None
    ) -> tuple[Any, Dataset, tuple[str, ...], tuple[str, ...]]:
        """pyld's expansion and RDF conversion: (expanded, dataset, problems, dropped terms)."""
        dropped: list[str] = []

        def on_dropped(term: str | None) -> None:
            dropped.append(term if term is not None else "(keyword-like key)")

        processor = MemoProcessor(
            self._memo, self._iri_memo, self._context_key, on_dropped, iri_trace=trace
        )
        options: dict[str, Any] = {
            # No base: pyld would resolve relative IRIs against http://example.org/base/ where
            # jsonld.js keeps them relative (and RDF drops them); safe mode reports them instead.
            "base": None,
            "documentLoader": self._loader,
            "contextResolver": StaticContextResolver(
                self._resolved, self._loader, self._context_key
            ),
            "processingMode": "json-ld-1.1",
            "extractAllScripts": True,
            "isFrame": False,
            "keepFreeFloatingNodes": False,
        }
        try:
            expanded = processor.expand_owned(dict(document), options)
            terms = tuple(dict.fromkeys(dropped))
            problems = [f"undefined property {term!r}" for term in terms]
            problems.extend(_relative_iris(expanded))
            # The rest of pyld's to_rdf, without expanding the already expanded input again.
            issuer = IdentifierIssuer("_:b")
            node_map: dict[str, Any] = {"@default": {}}
            processor._create_node_map(expanded, node_map, "@default", issuer)
            dataset: Dataset = {}
            for graph_name, graph in sorted(node_map.items()):
                if graph_name == "@default" or is_absolute_iri(graph_name):
                    dataset[graph_name] = processor._graph_to_rdf(graph, issuer, options)
        except UnknownContextError:
            raise
        except pyld_jsonld.JsonLdError as exc:
            unknown = _unknown_context_cause(exc)
            if unknown is not None:
                raise unknown from exc
            raise ContextError(f"JSON-LD processing failed: {_jsonld_message(exc)}") from exc
        except RecursionError as exc:
            raise CanonicalizationLimit("document is nested too deeply to process") from exc
        self._check_dataset(dataset)
        return expanded, dataset, tuple(problems), terms

    def _expand_iri(self, active_ctx: Any, value: str, base: Any, vocab: bool) -> Any:
        return self._iri_processor._expand_iri(active_ctx, value, base, vocab)

    def _inspect(self, document: Mapping[str, Any]) -> tuple[str, ...]:
        """Depth and size limits, and every string inside any @context (at any depth)."""
        limits = self.limits
        found: dict[str, None] = {}
        nodes = 0
        stack: list[tuple[Any, int]] = [(document, 0)]
        while stack:
            item, depth = stack.pop()
            if isinstance(item, dict):
                nodes += 1
                for key, value in item.items():
                    if key == "@context":
                        for ctx in value if isinstance(value, list) else [value]:
                            if isinstance(ctx, str):
                                found[ctx] = None
                    if isinstance(value, dict | list):
                        stack.append((value, depth + 1))
            elif isinstance(item, list):
                nodes += 1
                stack.extend((value, depth + 1) for value in item if isinstance(value, dict | list))
            else:
                continue
            if depth > limits.max_depth:
                raise CanonicalizationLimit(
                    f"document is nested more than {limits.max_depth} levels deep"
                )
            if nodes > limits.max_nodes:
                raise CanonicalizationLimit(
                    f"document has more than {limits.max_nodes} JSON objects and arrays"
                )
        return tuple(found)

    def _check_dataset(self, dataset: Mapping[str, list[dict[str, Any]]]) -> None:
        quads = 0
        blank: set[str] = set()
        for triples in dataset.values():
            quads += len(triples)
            for triple in triples:
                for position in ("subject", "object"):
                    term = triple[position]
                    if term["type"] == "blank node":
                        blank.add(term["value"])
        if quads > self.limits.max_quads:
            raise CanonicalizationLimit(
                f"document produces {quads} RDF statements (limit {self.limits.max_quads})"
            )
        if len(blank) > self.limits.max_blank_nodes:
            raise CanonicalizationLimit(
                f"document has {len(blank)} blank nodes (limit {self.limits.max_blank_nodes})"
            )


def _relative_iris(expanded: Any) -> list[str]:
    """Safe mode: @id and @type values that did not become absolute IRIs are dropped by RDF."""
    problems: dict[str, None] = {}
    stack: list[Any] = [expanded]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
            continue
        if not isinstance(item, dict):
            continue
        if "@value" in item:
            datatype = item.get("@type")
            if isinstance(datatype, str) and datatype != "@json" and not is_absolute_iri(datatype):
                problems[f"undefined datatype {datatype!r}"] = None
            continue
        for key, value in item.items():
            if key == "@id":
                if isinstance(value, str) and not is_absolute_iri(value):
                    problems[f"relative @id {value!r}"] = None
            elif key == "@type":
                for type_ in value if isinstance(value, list) else [value]:
                    if isinstance(type_, str) and not is_absolute_iri(type_):
                        problems[f"undefined type {type_!r}"] = None
            elif key in ("@list", "@set", "@graph", "@included", "@reverse") or not key.startswith(
                "@"
            ):
                stack.append(value)
    return list(problems)


def _unknown_context_cause(exc: BaseException) -> UnknownContextError | None:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, UnknownContextError):
            return cause
        cause = cause.__cause__ or cause.__context__
    return None


def _jsonld_message(exc: pyld_jsonld.JsonLdError) -> str:
    parts = [str(getattr(exc, "message", "") or exc).splitlines()[0]]
    code = getattr(exc, "code", None)
    if code:
        parts.append(f"({code})")
    cause = exc.__cause__
    if isinstance(cause, pyld_jsonld.JsonLdError):
        parts.append("<- " + _jsonld_message(cause))
    return " ".join(parts)

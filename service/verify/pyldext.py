"""pyld subclasses for verification: memoised contexts and terms, bounded URDNA2015.

These subclasses change how much work pyld repeats and how long it may run, never what it
produces: service.verify.jsonld compares their output with plain pyld in its tests.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cachetools import LRUCache
from frozendict import frozendict
from pyld import jsonld as pyld_jsonld
from pyld.canon import URDNA2015
from pyld.context_resolver import ContextResolver
from pyld.identifier_issuer import IdentifierIssuer
from pyld.nquads import serialize_nquad
from pyld.resolved_context import ResolvedContext

from service.verify.errors import CanonicalizationLimit

ContextKey = Callable[[Any], Any]


@dataclass(frozen=True, kw_only=True, slots=True)
class IriCall:
    """One IRI expansion of a string carrying the trace marker, with what it was given."""

    value: str
    active_ctx: Any
    base: Any
    vocab: bool
    in_context: bool
    result: Any


@dataclass(kw_only=True, slots=True)
class IriTrace:
    """Records every IRI expansion of a string that contains `marker` (see shapes.py)."""

    marker: str
    calls: list[IriCall] = field(default_factory=list)


class StaticContextResolver(ContextResolver):  # type: ignore[misc]
    """Keys context objects cheaply instead of with pyld's pure-Python JCS (same role)."""

    def __init__(self, shared_cache: Any, document_loader: Any, key: ContextKey) -> None:
        super().__init__(shared_cache, document_loader)
        self._key = key

    def resolve(
        self, active_ctx: Any, context: Any, base: Any, cycles: Any = None
    ) -> list[ResolvedContext]:
        if isinstance(context, dict | frozendict) and "@context" in context:
            context = context["@context"]
        contexts = context if isinstance(context, list) else [context]
        resolved: list[ResolvedContext] = []
        for ctx in contexts:
            if isinstance(ctx, dict | frozendict):
                key = self._key(ctx)
                found = self._get(key)
                if not found:
                    found = ResolvedContext(ctx)
                    self._cache_resolved_context(key, found, "static")
                resolved.append(found)
            else:
                resolved.extend(super().resolve(active_ctx, ctx, base, cycles))
        return resolved


def content_key(ctx: Any) -> str:
    return json.dumps(ctx, sort_keys=True, separators=(",", ":"), default=dict)


class MemoProcessor(pyld_jsonld.JsonLdProcessor):  # type: ignore[misc]
    """A pyld processor whose context processing is memoised across documents.

    The processed result of a local context depends only on the active context (identified by
    the `_uuid` pyld gives every processed context), the local context itself and a few flags;
    with a static, pinned context set it never changes, so it can be reused.
    """

    def __init__(
        self,
        memo: LRUCache[Any, Any],
        iri_memo: dict[Any, Any],
        key: ContextKey,
        on_property_dropped: Callable[[str | None], None],
        iri_trace: IriTrace | None = None,
    ) -> None:
        super().__init__(on_property_dropped=on_property_dropped)
        self._memo = memo
        self._iri_memo = iri_memo
        self._key = key
        self._trace = iri_trace

    def expand_owned(self, document: Mapping[str, Any], options: dict[str, Any]) -> list[Any]:
        """pyld's expand() without its defensive deep copy of the input.

        Expansion builds new objects and leaves its input alone (checked on every vendored
        fixture and by a test); the caller passes a document it does not share.
        """
        active_ctx = self._get_initial_context(options)
        expanded = self._expand(active_ctx, None, document, options, inside_list=False)
        if isinstance(expanded, dict) and "@graph" in expanded and len(expanded) == 1:
            expanded = expanded["@graph"]
        elif expanded is None:
            expanded = []
        return expanded if isinstance(expanded, list) else [expanded]

    def _expand_iri(
        self,
        active_ctx: Any,
        value: Any,
        base: Any = None,
        vocab: bool = False,
        local_ctx: Any = None,
        defined: Any = None,
    ) -> Any:
        # Terms and types (vocab=True) against a frozen, processed context always expand the
        # same way; documents repeat them constantly, so remember the answers.
        if (
            vocab
            and local_ctx is None
            and isinstance(value, str)
            and isinstance(active_ctx, frozendict)
        ):
            key = (active_ctx.get("_uuid"), value, base)
            if key in self._iri_memo:
                result = self._iri_memo[key]
            else:
                result = super()._expand_iri(active_ctx, value, base, vocab, local_ctx, defined)
                if len(self._iri_memo) > 100_000:
                    self._iri_memo.clear()
                self._iri_memo[key] = result
        else:
            result = super()._expand_iri(active_ctx, value, base, vocab, local_ctx, defined)
        trace = self._trace
        if trace is not None and isinstance(value, str) and trace.marker in value:
            trace.calls.append(
                IriCall(
                    value=value,
                    active_ctx=active_ctx,
                    base=base,
                    vocab=vocab,
                    in_context=local_ctx is not None or defined is not None,
                    result=result,
                )
            )
        return result

    def _process_context(
        self,
        active_ctx: Any,
        local_ctx: Any,
        options: Any,
        override_protected: bool = False,
        propagate: bool = True,
        validate_scoped: bool = True,
        cycles: Any = None,
    ) -> Any:
        uuid = active_ctx.get("_uuid")
        # `cycles` is only passed while a context is being built (scoped-context pre-validation
        # against a half-built context); those results must not be reused.
        flags = (override_protected, propagate, validate_scoped)
        if uuid is None or cycles is not None:
            return super()._process_context(active_ctx, local_ctx, options, *flags, cycles)
        key = (
            uuid,
            self._key(local_ctx),
            override_protected,
            propagate,
            validate_scoped,
            options.get("base", ""),
            options.get("processingMode"),
        )
        cached = self._memo.get(key)
        if cached is not None:
            return cached
        result = super()._process_context(
            active_ctx, local_ctx, options, override_protected, propagate, validate_scoped, cycles
        )
        if isinstance(result, frozendict):
            self._memo[key] = result
        return result


class BoundedURDNA2015(URDNA2015):  # type: ignore[misc]
    """URDNA2015 with a work and time budget on the exponential n-degree hashing step."""

    def __init__(self, *, deadline: float, max_calls: int, max_group: int) -> None:
        super().__init__()
        self._deadline = deadline
        self._max_calls = max_calls
        self._max_group = max_group
        self._calls = 0

    def main(self, dataset: Any, options: Any) -> Any:
        """URDNA2015; with at most one blank node there is nothing to hash to label it.

        That node gets the first canonical label, as the full algorithm would give it (its
        first-degree hash is the only one), and the output is the same sorted N-Quads.
        """
        if options.get("format") not in ("application/n-quads", "application/nquads"):
            return super().main(dataset, options)
        labels: set[str] = set()
        for graph_name, triples in dataset.items():
            if graph_name.startswith("_:"):
                labels.add(graph_name)
            for triple in triples:
                for component in (triple["subject"], triple["object"]):
                    if component["type"] == "blank node":
                        labels.add(component["value"])
            if len(labels) > 1:
                return super().main(dataset, options)
        label = self.canonical_issuer.get_id(labels.pop()) if labels else ""
        canonical = {"type": "blank node", "value": label}
        lines = []
        for graph_name, triples in dataset.items():
            name = None if graph_name == "@default" else graph_name
            if name is not None and name.startswith("_:"):
                name = canonical["value"]
            for triple in triples:
                subject, obj = triple["subject"], triple["object"]
                quad = {
                    "subject": canonical if subject["type"] == "blank node" else subject,
                    "predicate": triple["predicate"],
                    "object": canonical if obj["type"] == "blank node" else obj,
                }
                lines.append(serialize_nquad(quad, name))
        lines.sort()
        return "".join(lines)

    def _charge(self) -> None:
        self._calls += 1
        if self._calls > self._max_calls or time.monotonic() > self._deadline:
            raise CanonicalizationLimit(
                "canonicalisation refused: the blank-node graph is too costly to canonicalise"
                f" (more than {self._max_calls} n-degree hashes or over the time budget);"
                " this is the shape of a poison graph"
            )

    def hash_n_degree_quads(self, id_: str, issuer: IdentifierIssuer) -> Any:
        self._charge()
        return super().hash_n_degree_quads(id_, issuer)

    def create_hash_to_related(self, id_: str, issuer: IdentifierIssuer) -> Any:
        related: dict[str, list[str]] = super().create_hash_to_related(id_, issuer)
        largest = max((len(nodes) for nodes in related.values()), default=0)
        if largest > self._max_group:
            raise CanonicalizationLimit(
                f"canonicalisation refused: {largest} indistinguishable blank nodes would need"
                f" {largest}! orderings; this is the shape of a poison graph"
            )
        return related

    def modify_first_degree_component(self, id_: str, component: Any, key: str) -> Any:
        # pyld deep-copies the component; it is a flat dict of strings, so a shallow copy is
        # the same thing at a fraction of the cost.
        if component["type"] != "blank node":
            return component
        component = dict(component)
        component["value"] = "_:a" if component["value"] == id_ else "_:z"
        return component

    def hash_related_blank_node(
        self, related: str, quad: Any, issuer: IdentifierIssuer, position: str
    ) -> Any:
        if time.monotonic() > self._deadline:
            self._charge()
        return super().hash_related_blank_node(related, quad, issuer, position)

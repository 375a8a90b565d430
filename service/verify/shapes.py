"""Per-shape JSON-LD templates: the RDF of a new credential without expanding it again.

Credentials of one kind share a shape: the same members, types and contexts, with different
identifiers, names and dates. What pyld makes of such a document depends on a string member
only where the string names a type, a keyword value or an IRI. A string that becomes the
lexical form of a plain literal passes through unchanged; one that becomes a node's IRI is
the result of one IRI expansion, which can be replayed with the same active context. So when
a second document of a shape comes (a one-off costs nothing extra), it is expanded and
converted to RDF with each string replaced by a unique placeholder IRI (its *skeleton*); the
statements pyld produces are kept as a template, and every later document of that shape gets
its statements by putting its own strings back (its IRIs re-expanded exactly as pyld would),
then goes through URDNA2015 as before.

A template is used only where that is provably what pyld would produce for the document:

* each placeholder appears in the expanded skeleton only as the @value of literals and as
  node @ids returned unchanged by IRI expansion; never as a type, a keyword value, a member
  name, a JSON literal or an xsd:double (whose lexical form pyld rewrites), and it is used
  somewhere (a string under an undefined member is dropped with it);
* a document's IRIs must be absolute, not blank nodes, distinct from each other and from
  every IRI the template holds (so no nodes merge that did not merge in the skeleton), and
  its literals must differ from the fixed literals of the same subject and predicate (so
  pyld would have dropped no duplicate value).

Anything else makes the caller process the document the ordinary way; a placeholder that
breaks a rule makes the members it came from literal in that shape's key. Nothing here caches
a canonical form or a verdict: a template holds only what every document of its shape has in
common, and URDNA2015 runs on every document. Tests compare the output with plain pyld on
every vendored credential and on adversarial variants.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cachetools import LRUCache

from service.verify.pyldext import IriTrace
from service.verify.templates import (
    Dataset,
    IriExpander,
    IsAbsolute,
    Placeholders,
    ShapedDataset,
    Template,
    build_template,
    fill,
)

# Member names whose string values are never templated: types pick type-scoped contexts, and
# keywords other than @id and @value are read by pyld (a language tag, an index, a direction).
_LITERAL_MEMBERS = frozenset({"type", "@type"})
_TEMPLATED_KEYWORDS = frozenset({"@id", "@value"})
_MAX_REFINEMENTS = 4
# Learning a shape expands its skeleton (up to _MAX_REFINEMENTS times): only for documents of
# credential size, so that a huge one never costs several expansions.
_MAX_TEMPLATED_CHARS = 256 * 1024
# Rough bytes a template holds per statement and per placeholder, besides its key.
_QUAD_BYTES = 600
_SLOT_BYTES = 200

# Expands a document to (expanded JSON-LD, RDF dataset, safe-mode problems, dropped terms).
Expander = Callable[
    [dict[str, Any], IriTrace], tuple[Any, Dataset, tuple[str, ...], tuple[str, ...]]
]


class _Unfit(Exception):
    """The document cannot be put in a skeleton (a value pyld could not have parsed from JSON)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class _Skeleton:
    key: str
    document: dict[str, Any]
    values: tuple[str, ...]
    origins: tuple[frozenset[str], ...]  # the member names each placeholder was found under


@dataclass(frozen=True, kw_only=True, slots=True)
class _Stored:
    template: Template
    size: int


@dataclass(frozen=True, kw_only=True, slots=True)
class _Refined:
    """This shape needs these members kept literal; its template is under the refined key."""

    literal_members: frozenset[str]
    size: int


@dataclass(frozen=True, kw_only=True, slots=True)
class _Unusable:
    """No template can be trusted for this shape: its documents are processed normally."""

    size: int


@dataclass(frozen=True, kw_only=True, slots=True)
class _Seen:
    """One document of this shape was processed: the next one builds the template."""

    size: int


_Entry = _Stored | _Refined | _Unusable | _Seen
_MISSING: Any = object()


class ShapeTemplates:
    """Templates by document shape, built when a shape comes again and checked at every use."""

    def __init__(
        self,
        *,
        max_bytes: int,
        expand: Expander,
        expand_iri: IriExpander,
        is_absolute: IsAbsolute,
    ) -> None:
        self._cache: LRUCache[str, _Entry] = LRUCache(maxsize=max_bytes, getsizeof=_size)
        self._expand = expand
        self._expand_iri = expand_iri
        self._is_absolute = is_absolute
        self.placeholders = Placeholders()
        # Documents served by a template built for an earlier one, and templates built.
        self.reused = 0
        self.built = 0

    def dataset(self, document: Mapping[str, Any]) -> ShapedDataset | None:
        """The document's dataset from its shape's template, or None to process it normally."""
        literal_members: frozenset[str] = frozenset()
        for _ in range(_MAX_REFINEMENTS + 1):
            skeleton = self._skeleton(document, literal_members)
            if skeleton is None:
                return None
            entry = self._cache.get(skeleton.key, _MISSING)
            if isinstance(entry, _Refined):
                literal_members = entry.literal_members
                continue
            if isinstance(entry, _Stored):
                shaped = self._fill(entry.template, skeleton.values)
                if shaped is not None:
                    self.reused += 1
                return shaped
            if entry is _MISSING:
                # A one-off document costs no template; the second of its kind builds one.
                self._remember(skeleton.key, _Seen(size=len(skeleton.key)))
                return None
            if isinstance(entry, _Seen):
                return self._learn(document, skeleton, literal_members)
            return None
        return None

    def clear(self) -> None:
        """Forget every template: the next document of each shape builds one again."""
        self._cache.clear()

    def _remember(self, key: str, entry: _Entry) -> None:
        # An entry too big for the budget is not kept rather than evict all the others.
        if entry.size <= self._cache.maxsize // 8:
            self._cache[key] = entry

    # -- skeletons ------------------------------------------------------------------------
    def _skeleton(
        self, document: Mapping[str, Any], literal_members: frozenset[str]
    ) -> _Skeleton | None:
        marker, prefix = self.placeholders.marker, self.placeholders.prefix
        values: list[str] = []
        origins: list[set[str]] = []
        placeholders: dict[str, int] = {}

        def text(value: str, member: str) -> str:
            if marker in value:
                raise _Unfit
            index = placeholders.get(value)
            if index is None:
                index = placeholders[value] = len(values)
                values.append(value)
                origins.append(set())
            origins[index].add(member)
            return f"{prefix}{index}"

        def templated(member: str) -> bool:
            return not (
                member in _LITERAL_MEMBERS
                or member in literal_members
                or (member.startswith("@") and member not in _TEMPLATED_KEYWORDS)
            )

        def walk(node: Any, member: str, template: bool) -> Any:
            if isinstance(node, str):
                if template:
                    return text(node, member)
                if marker in node:
                    raise _Unfit
                return node
            if isinstance(node, dict):
                out: dict[str, Any] = {}
                for key, value in node.items():
                    if key == "@context":
                        out[key] = value
                    else:
                        out[key] = walk(value, key, templated(key))
                return out
            if isinstance(node, list):
                return [walk(item, member, template) for item in node]
            if node is None or isinstance(node, bool | int | float):
                return node
            raise _Unfit

        try:
            skeleton = walk(dict(document), "", False)
            key = json.dumps(skeleton, separators=(",", ":"), allow_nan=False)
        except (_Unfit, AttributeError, TypeError, ValueError, RecursionError):
            return None  # AttributeError: a member name that is not a string
        return _Skeleton(
            key=key,
            document=skeleton,
            values=tuple(values),
            origins=tuple(frozenset(o) for o in origins),
        )

    # -- building a template --------------------------------------------------------------
    def _learn(
        self, document: Mapping[str, Any], skeleton: _Skeleton, literal_members: frozenset[str]
    ) -> ShapedDataset | None:
        first_key = skeleton.key
        if len(first_key) > min(self._cache.maxsize // 8, _MAX_TEMPLATED_CHARS):
            return None  # too big to keep or to learn cheaply: processed the ordinary way
        for _ in range(_MAX_REFINEMENTS):
            try:
                template, culprits = self._build(skeleton)
            except Exception:  # noqa: BLE001 - the ordinary path reports what is wrong
                template, culprits = None, set()
            if template is not None:
                if skeleton.key != first_key:
                    refined = _Refined(literal_members=literal_members, size=len(first_key))
                    self._remember(first_key, refined)
                size = (
                    len(skeleton.key)
                    + _SLOT_BYTES * len(skeleton.values)
                    + _QUAD_BYTES * template.statements
                )
                self._remember(skeleton.key, _Stored(template=template, size=size))
                self.built += 1
                return self._fill(template, skeleton.values)
            more = frozenset(member for i in culprits for member in skeleton.origins[i])
            if not culprits or more <= literal_members:
                break
            literal_members |= more
            narrower = self._skeleton(document, literal_members)
            if narrower is None:
                break
            skeleton = narrower
        self._remember(first_key, _Unusable(size=len(first_key)))
        return None

    def _build(self, skeleton: _Skeleton) -> tuple[Template | None, set[int]]:
        """A template from the skeleton, or None and the placeholders that broke a rule."""
        trace = IriTrace(marker=self.placeholders.marker)
        expanded, dataset, problems, dropped = self._expand(skeleton.document, trace)
        return build_template(
            self.placeholders,
            len(skeleton.values),
            expanded,
            dataset,
            problems,
            dropped,
            trace.calls,
        )

    def _fill(self, template: Template, values: tuple[str, ...]) -> ShapedDataset | None:
        return fill(template, values, self._expand_iri, self._is_absolute)


def _size(entry: _Entry) -> int:
    return entry.size

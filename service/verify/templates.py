"""RDF templates of a document shape: placeholders located, rules checked, values put back.

service.verify.shapes expands a skeleton (a document whose strings are placeholder IRIs) and
hands the result here. `build_template` accepts it only if every placeholder sits where
putting a real string back is exactly what pyld would have produced from that string (see
the rules in service.verify.shapes); `fill` then gives the dataset of each document of the
shape, or None where that document breaks a rule (its IRIs merge nodes, its literals
collide), so that it is processed the ordinary way.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from frozendict import frozendict
from pyld import jsonld as pyld_jsonld

from service.verify.pyldext import IriCall

# The strings pyld rewrites instead of copying into the literal.
_REWRITTEN_DATATYPES = frozenset({pyld_jsonld.XSD_DOUBLE, pyld_jsonld.RDF_JSON_LITERAL})

Dataset = dict[str, list[dict[str, Any]]]
# pyld's IRI expansion: (active context, value, base, vocab) -> IRI.
IriExpander = Callable[[Any, str, Any, bool], Any]
IsAbsolute = Callable[[str], bool]


@dataclass(frozen=True, kw_only=True, slots=True)
class ShapedDataset:
    """The RDF dataset of a document, from its shape's template."""

    dataset: Dataset
    problems: tuple[str, ...]
    dropped_terms: tuple[str, ...]


class Placeholders:
    """Unguessable IRIs standing for a skeleton's strings: https://<marker>.invalid/<index>.

    No document can contain one, and IRI expansion returns the scheme-relative "//" form
    unchanged whatever prefixes a context defines.
    """

    def __init__(self) -> None:
        self.marker = secrets.token_hex(16)
        self.prefix = f"https://{self.marker}.invalid/"

    def of(self, index: int) -> str:
        return f"{self.prefix}{index}"

    def index(self, value: str) -> int | None:
        if value.startswith(self.prefix):
            rest = value[len(self.prefix) :]
            if rest.isdigit():
                return int(rest)
        return None

    def blame(self, text: str, bad: set[int], count: int) -> None:
        """A placeholder rewritten into something else: every placeholder it contains is bad."""
        for index in range(count):
            if self.of(index) in text:
                bad.add(index)
        if not bad:
            bad.update(range(count))


@dataclass(frozen=True, kw_only=True, slots=True)
class IriSlot:
    """How pyld expanded a placeholder that became a node IRI, to do the same with a string."""

    calls: tuple[tuple[Any, Any, bool], ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class Quad:
    subject: dict[str, Any]
    predicate: dict[str, Any]
    object: dict[str, Any]
    subject_slot: int | None
    object_slot: int | None
    # For a literal object from a placeholder: the fixed literals (value, datatype, language)
    # of the same subject and predicate, which it must not equal (pyld would merge them).
    clashes: frozenset[tuple[Any, Any, Any]] = frozenset()
    # The statement itself when every document of the shape has it as is, in the default
    # graph and without blank nodes: URDNA2015 changes neither, so it is shared, not copied.
    fixed: dict[str, Any] | None = None


Graphs = tuple[tuple[str, int | None, tuple[Quad, ...]], ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class Template:
    # Per placeholder: None where it is only ever a literal's lexical form, else how to
    # expand it as an IRI (a string may be both: a literal takes the string as it is).
    slots: tuple[IriSlot | None, ...]
    graphs: Graphs
    iris: frozenset[str]
    problems: tuple[str, ...]
    dropped_terms: tuple[str, ...]

    @property
    def statements(self) -> int:
        return sum(len(quads) for _, _, quads in self.graphs)


def build_template(
    placeholders: Placeholders,
    count: int,
    expanded: Any,
    dataset: Dataset,
    problems: tuple[str, ...],
    dropped: tuple[str, ...],
    iri_calls: list[IriCall],
) -> tuple[Template | None, set[int]]:
    """A template from an expanded skeleton with `count` placeholders, or None and the
    placeholders that broke a rule."""
    bad: set[int] = set()
    literal_uses = [0] * count
    iri_uses = [0] * count
    _uses(placeholders, expanded, literal_uses, iri_uses, bad)
    calls: list[list[IriCall]] = [[] for _ in range(count)]
    for call in iri_calls:
        slot = placeholders.index(call.value)
        if slot is None or slot >= count:
            return None, bad
        calls[slot].append(call)
    # A string can be a literal in one place and a node's IRI in another (an OB 3.0
    # resultDescription and the id of that ResultDescription): literals take the string,
    # IRIs its expansion. None: the string is never an IRI.
    slots: list[IriSlot | None] = [None] * count
    for index in range(count):
        placeholder = placeholders.of(index)
        if not literal_uses[index] and not iri_uses[index]:
            bad.add(index)  # dropped with its member: keep such members literal
        elif not iri_uses[index]:
            if calls[index]:
                bad.add(index)
        elif calls[index] and all(
            not c.in_context and c.result == placeholder and isinstance(c.active_ctx, frozendict)
            for c in calls[index]
        ):
            slots[index] = IriSlot(
                calls=tuple((c.active_ctx, c.base, c.vocab) for c in calls[index])
            )
        else:
            bad.add(index)
    if any(placeholders.marker in text for text in problems + dropped):
        return None, bad
    graphs = _graphs(placeholders, dataset, slots, count, bad)
    if bad or graphs is None:
        return None, bad
    graphs = _with_clashes(graphs)
    iris = frozenset(
        component["value"]
        for _, _, quads in graphs
        for quad in quads
        for component in (quad.subject, quad.predicate, quad.object)
        if component["type"] == "IRI" and placeholders.marker not in component["value"]
    ) | frozenset(name for name, slot, _ in graphs if slot is None and name != "@default")
    template = Template(
        slots=tuple(slots),
        graphs=graphs,
        iris=iris,
        problems=problems,
        dropped_terms=dropped,
    )
    return template, bad


def _uses(
    placeholders: Placeholders,
    expanded: Any,
    literal_uses: list[int],
    iri_uses: list[int],
    bad: set[int],
) -> None:
    """Count where each placeholder ended up in the expanded skeleton."""
    marker = placeholders.marker
    count = len(literal_uses)

    def found(text: str, member: str) -> None:
        slot = placeholders.index(text)
        if slot is None or slot >= count:
            placeholders.blame(text, bad, count)
        elif member == "@value":
            literal_uses[slot] += 1
        elif member == "@id":
            iri_uses[slot] += 1
        else:
            bad.add(slot)

    stack: list[tuple[Any, str]] = [(expanded, "")]
    while stack:
        node, member = stack.pop()
        items = node.items() if isinstance(node, dict) else ((member, item) for item in node)
        for key, value in items:
            if marker in key:
                placeholders.blame(key, bad, count)
            if isinstance(value, str):
                if marker in value:
                    found(value, key)
            elif isinstance(value, dict | list):
                stack.append((value, key))


def _graphs(
    placeholders: Placeholders,
    dataset: Dataset,
    slots: list[IriSlot | None],
    count: int,
    bad: set[int],
) -> Graphs | None:
    """The dataset with each placeholder located; None if one sits where it must not."""

    def iri_slot(value: str) -> int | None:
        slot = placeholders.index(value)
        if slot is None or slot >= count:
            placeholders.blame(value, bad, count)
            return None
        if slots[slot] is None:
            bad.add(slot)
            return None
        return slot

    graphs = []
    for name, triples in dataset.items():
        graph_slot = iri_slot(name) if placeholders.marker in name else None
        quads = []
        for triple in triples:
            subject, predicate, obj = triple["subject"], triple["predicate"], triple["object"]
            subject_slot = object_slot = None
            if placeholders.marker in subject["value"]:
                if subject["type"] != "IRI":
                    placeholders.blame(subject["value"], bad, count)
                subject_slot = iri_slot(subject["value"])
            if placeholders.marker in predicate["value"]:
                placeholders.blame(predicate["value"], bad, count)
            if obj["type"] == "literal":
                for extra in ("datatype", "language"):
                    if placeholders.marker in str(obj.get(extra, "")):
                        placeholders.blame(str(obj[extra]), bad, count)
                if placeholders.marker in obj["value"]:
                    object_slot = placeholders.index(obj["value"])
                    if object_slot is None or object_slot >= count:
                        placeholders.blame(obj["value"], bad, count)
                    elif obj["datatype"] in _REWRITTEN_DATATYPES:
                        bad.add(object_slot)
            elif placeholders.marker in obj["value"]:
                if obj["type"] != "IRI":
                    placeholders.blame(obj["value"], bad, count)
                object_slot = iri_slot(obj["value"])
            constant = (
                name == "@default"
                and subject_slot is None
                and object_slot is None
                and subject["type"] != "blank node"
                and obj["type"] != "blank node"
            )
            quads.append(
                Quad(
                    subject=subject,
                    predicate=predicate,
                    object=obj,
                    subject_slot=subject_slot,
                    object_slot=object_slot,
                    fixed=dict(triple) if constant else None,
                )
            )
        graphs.append((name, graph_slot, tuple(quads)))
    return None if bad else tuple(graphs)


def fill(
    template: Template, values: tuple[str, ...], expand_iri: IriExpander, is_absolute: IsAbsolute
) -> ShapedDataset | None:
    """The dataset of the document whose strings are `values`, or None if a rule forbids."""
    # The IRI each placeholder stands for in this document (None: never an IRI).
    resolved: list[Any] = []
    iris: set[str] = set()
    for value, slot in zip(values, template.slots, strict=True):
        if slot is None:
            resolved.append(None)
            continue
        iri: Any = None
        for active_ctx, base, vocab in slot.calls:
            expanded = expand_iri(active_ctx, value, base, vocab)
            if iri is not None and expanded != iri:
                return None
            iri = expanded
        if (
            not isinstance(iri, str)
            or iri.startswith("_:")
            or not is_absolute(iri)
            or iri in template.iris
            or iri in iris
        ):
            return None
        iris.add(iri)
        resolved.append(iri)
    dataset: Dataset = {}
    for name, graph_slot, quads in template.graphs:
        graph = name if graph_slot is None else resolved[graph_slot]
        triples = []
        for quad in quads:
            if quad.fixed is not None:
                triples.append(quad.fixed)
                continue
            subject = quad.subject
            if quad.subject_slot is not None:
                subject = {"type": "IRI", "value": resolved[quad.subject_slot]}
            elif subject["type"] == "blank node":
                subject = dict(subject)  # URDNA2015 relabels blank nodes in place
            obj = quad.object
            if quad.object_slot is not None:
                obj = dict(obj)
                if obj["type"] == "literal":
                    obj["value"] = values[quad.object_slot]
                    if quad.clashes and _literal(obj) in quad.clashes:
                        return None
                else:
                    obj["value"] = resolved[quad.object_slot]
            elif obj["type"] == "blank node":
                obj = dict(obj)
            triples.append({"subject": subject, "predicate": quad.predicate, "object": obj})
        dataset[graph] = triples
    if len(dataset) != len(template.graphs):
        return None
    return ShapedDataset(
        dataset=dataset, problems=template.problems, dropped_terms=template.dropped_terms
    )


def _literal(component: Mapping[str, Any]) -> tuple[Any, Any, Any]:
    return component["value"], component.get("datatype"), component.get("language")


def _with_clashes(
    graphs: Graphs,
) -> Graphs:
    """Note, for each placeholder literal, the fixed literals it could collide with.

    Placeholder IRIs become IRIs unlike each other and unlike every fixed IRI, and different
    placeholders stand for different strings, so the only statements that can become equal
    are a placeholder literal and a fixed literal of the same subject and predicate.
    """
    result = []
    for name, graph_slot, quads in graphs:
        fixed: dict[tuple[Any, ...], set[tuple[Any, Any, Any]]] = {}
        for quad in quads:
            if quad.object["type"] == "literal" and quad.object_slot is None:
                group = (quad.subject["value"], quad.predicate["value"])
                fixed.setdefault(group, set()).add(_literal(quad.object))
        updated = []
        for quad in quads:
            group = (quad.subject["value"], quad.predicate["value"])
            if quad.object["type"] == "literal" and quad.object_slot is not None and group in fixed:
                quad = replace(quad, clashes=frozenset(fixed[group]))
            updated.append(quad)
        result.append((name, graph_slot, tuple(updated)))
    return tuple(result)

"""Invariant checks every importer runs before handing out a Taxonomy."""

from __future__ import annotations

from collections.abc import Iterable

from taxonomies.errors import InvalidTaxonomyError
from taxonomies.model import Concept, ConceptKind, RelationKind, Taxonomy


def duplicate_ids(concepts: Iterable[Concept]) -> list[str]:
    """Ids that occur more than once (importers call this before building the mapping)."""
    seen: set[str] = set()
    duplicates: dict[str, None] = {}
    for concept in concepts:
        if concept.id in seen:
            duplicates[concept.id] = None
        seen.add(concept.id)
    return list(duplicates)


def problems(taxonomy: Taxonomy) -> list[str]:
    """Every broken invariant: dangling references, empty labels, broader cycles."""
    found: list[str] = []
    concepts = taxonomy.concepts
    if not concepts:
        # An empty file imported over a version would retire every concept it had.
        found.append("it has no concepts (an empty or header-only source)")
    for concept in concepts.values():
        if not concept.preferred_label.strip():
            found.append(f"{concept.id} has an empty preferred label")
        for parent in concept.broader:
            if parent not in concepts:
                found.append(f"{concept.id} has unknown broader concept {parent}")
    for relation in taxonomy.relations:
        # A crosswalk's source is an id in a foreign framework, so only its target must resolve.
        ends = (
            (relation.target,)
            if relation.kind is RelationKind.CROSSWALK
            else (relation.source, relation.target)
        )
        for end in ends:
            if end not in concepts:
                found.append(
                    f"{relation.kind} relation {relation.source} -> {relation.target}"
                    f" refers to unknown concept {end}"
                )
    for template in taxonomy.role_templates:
        for skill_id in (*template.essential, *template.optional):
            target = concepts.get(skill_id)
            if target is None:
                found.append(f"role template {template.id} refers to unknown concept {skill_id}")
            elif target.kind is ConceptKind.OCCUPATION:
                found.append(f"role template {template.id} lists occupation {skill_id} as a skill")
    found.extend(f"broader cycle through {cid}" for cid in _cycle_members(taxonomy))
    return found


def validate(taxonomy: Taxonomy) -> Taxonomy:
    """Return the taxonomy unchanged, or raise InvalidTaxonomyError listing every problem."""
    found = problems(taxonomy)
    if found:
        raise InvalidTaxonomyError(taxonomy.key, found)
    return taxonomy


def _cycle_members(taxonomy: Taxonomy) -> list[str]:
    """One id per broader-cycle found, by iterative depth-first search (ESCO is deep and wide)."""
    white, grey, black = 0, 1, 2
    colour: dict[str, int] = dict.fromkeys(taxonomy.concepts, white)
    cycles: list[str] = []
    for start in taxonomy.concepts:
        if colour[start] != white:
            continue
        stack: list[tuple[str, int]] = [(start, 0)]
        colour[start] = grey
        while stack:
            node, position = stack[-1]
            parents = taxonomy.concepts[node].broader
            if position < len(parents):
                stack[-1] = (node, position + 1)
                parent = parents[position]
                state = colour.get(parent)
                if state == grey:
                    cycles.append(parent)
                elif state == white:
                    colour[parent] = grey
                    stack.append((parent, 0))
            else:
                colour[node] = black
                stack.pop()
    return cycles

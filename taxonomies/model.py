"""The skills-taxonomy model: concepts, relations, role templates and the taxonomy that holds them.

Every importer (starter, ESCO, O*NET, Lightcast, generic CSV) produces these same frozen objects,
so the index, the mapper and the scorer never care where a taxonomy came from.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

ConceptStatus = Literal["active", "obsolete"]


class ConceptKind(StrEnum):
    """What a concept is: something a person can do or know, or a job."""

    SKILL = "skill"
    KNOWLEDGE = "knowledge"
    COMPETENCE = "competence"
    OCCUPATION = "occupation"


class RelationKind(StrEnum):
    """How two concepts relate; `broader` edges also live on `Concept.broader`."""

    BROADER = "broader"
    ESSENTIAL_FOR = "essential_for"
    OPTIONAL_FOR = "optional_for"
    RELATED = "related"
    CROSSWALK = "crosswalk"


SKILL_KINDS = frozenset({ConceptKind.SKILL, ConceptKind.KNOWLEDGE, ConceptKind.COMPETENCE})


@dataclass(frozen=True, kw_only=True, slots=True)
class Concept:
    """One taxonomy entry with every label it is known by.

    `id` is a URI (ESCO) or a stable code (`sp:skill/python-programming`, an O*NET-SOC code).
    `broader` lists the ids of the concepts directly above this one in the hierarchy.
    """

    id: str
    kind: ConceptKind
    preferred_label: str
    alt_labels: tuple[str, ...] = ()
    hidden_labels: tuple[str, ...] = ()
    description: str | None = None
    reuse_level: str | None = None
    broader: tuple[str, ...] = ()
    status: ConceptStatus = "active"

    def labels(self) -> tuple[str, ...]:
        """Preferred label first, then alternative and hidden labels, without duplicates."""
        seen: dict[str, None] = {}
        for label in (self.preferred_label, *self.alt_labels, *self.hidden_labels):
            if label and label not in seen:
                seen[label] = None
        return tuple(seen)


@dataclass(frozen=True, kw_only=True, slots=True)
class Relation:
    """A directed edge: `source` is essential/optional for `target`, maps to it, or is related.

    For occupation links the source is the skill and the target the occupation; for crosswalks
    the source is a foreign framework's id and the target a concept of this taxonomy.
    """

    source: str
    target: str
    kind: RelationKind
    importance: str | None = None
    weight: float | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class RoleTemplate:
    """A ready-made draft role profile: the skills a job needs (essential) or values (optional)."""

    id: str
    title: str
    alt_titles: tuple[str, ...] = ()
    description: str | None = None
    essential: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class Taxonomy:
    """A whole taxonomy release, immutable once built.

    `attribution` is the text that must be shown wherever this taxonomy's data is displayed
    (ESCO requires it). Lookup tables are derived once in `__post_init__`.
    """

    name: str
    version: str
    source: str
    licence: str
    attribution: str
    concepts: Mapping[str, Concept]
    relations: tuple[Relation, ...] = ()
    role_templates: tuple[RoleTemplate, ...] = ()
    _narrower: Mapping[str, tuple[str, ...]] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )
    _templates: Mapping[str, RoleTemplate] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        narrower: dict[str, list[str]] = {}
        for concept in self.concepts.values():
            for parent in concept.broader:
                narrower.setdefault(parent, []).append(concept.id)
        object.__setattr__(self, "_narrower", {k: tuple(v) for k, v in narrower.items()})
        object.__setattr__(self, "_templates", {t.id: t for t in self.role_templates})

    @property
    def key(self) -> str:
        """`name@version`: what scores record so a mapping can be reproduced."""
        return f"{self.name}@{self.version}"

    def concept(self, concept_id: str) -> Concept:
        """The concept with this id; KeyError names the taxonomy when it is absent."""
        try:
            return self.concepts[concept_id]
        except KeyError:
            raise KeyError(f"{concept_id!r} is not a concept of {self.key}") from None

    def get(self, concept_id: str) -> Concept | None:
        """The concept with this id, or None."""
        return self.concepts.get(concept_id)

    def narrower(self, concept_id: str) -> tuple[str, ...]:
        """Ids of the concepts directly below this one."""
        return self._narrower.get(concept_id, ())

    def broader_chain(self, concept_id: str) -> tuple[str, ...]:
        """Every ancestor id, nearest first (breadth-first over all parents, each once)."""
        chain: dict[str, None] = {}
        frontier = list(self.concept(concept_id).broader)
        while frontier:
            following: list[str] = []
            for parent in frontier:
                if parent in chain or parent == concept_id:
                    continue
                chain[parent] = None
                found = self.concepts.get(parent)
                if found is not None:
                    following.extend(found.broader)
            frontier = following
        return tuple(chain)

    def skills(self) -> Iterator[Concept]:
        """Skill, knowledge and competence concepts, in id order of insertion."""
        return (c for c in self.concepts.values() if c.kind in SKILL_KINDS)

    def occupations(self) -> Iterator[Concept]:
        """Occupation concepts."""
        return (c for c in self.concepts.values() if c.kind is ConceptKind.OCCUPATION)

    def role_template(self, template_id: str) -> RoleTemplate | None:
        """The role template with this id (occupations share their concept id), or None."""
        return self._templates.get(template_id)

    def relations_of(self, kind: RelationKind) -> Iterator[Relation]:
        """Every relation of one kind."""
        return (r for r in self.relations if r.kind is kind)

    def __len__(self) -> int:
        return len(self.concepts)

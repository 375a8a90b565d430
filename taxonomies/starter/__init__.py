"""Skillproof's own starter taxonomy: a few hundred common skills and role templates, as data.

The data lives in `taxonomies/starter/data/` (concepts.csv, roles.json, crosswalk.csv and a
MANIFEST.json) and is read with importlib.resources, so it works from a wheel as well as a checkout.
"""

from __future__ import annotations

import csv
import io
import json
from functools import cache
from importlib import resources
from typing import Any

from taxonomies.errors import InvalidTaxonomyError
from taxonomies.model import (
    Concept,
    ConceptKind,
    Relation,
    RelationKind,
    RoleTemplate,
    Taxonomy,
)
from taxonomies.validate import duplicate_ids, validate

NAME = "skillproof-starter"


def _split(cell: str | None) -> tuple[str, ...]:
    """Multi-valued cells are `|`-separated; blanks are dropped."""
    return tuple(part.strip() for part in (cell or "").split("|") if part.strip())


def _read_text(name: str) -> str:
    return resources.files(__name__).joinpath("data", name).read_text(encoding="utf-8")


def _concepts(text: str) -> list[Concept]:
    concepts = []
    for row in csv.DictReader(io.StringIO(text)):
        concepts.append(
            Concept(
                id=row["id"],
                kind=ConceptKind(row["kind"]),
                preferred_label=row["preferred_label"],
                alt_labels=_split(row["alt_labels"]),
                hidden_labels=_split(row["hidden_labels"]),
                description=row["description"] or None,
                reuse_level=row["reuse_level"] or None,
                broader=_split(row["broader"]),
            )
        )
    return concepts


def _roles(document: dict[str, Any]) -> tuple[list[Concept], list[Relation], list[RoleTemplate]]:
    """Each role is both an occupation concept (searchable by title) and a role template."""
    occupations: list[Concept] = []
    relations: list[Relation] = []
    templates: list[RoleTemplate] = []
    for role in document["roles"]:
        template = RoleTemplate(
            id=role["id"],
            title=role["title"],
            alt_titles=tuple(role.get("alt_titles", ())),
            description=role.get("description"),
            essential=tuple(role["essential"]),
            optional=tuple(role["optional"]),
        )
        templates.append(template)
        occupations.append(
            Concept(
                id=template.id,
                kind=ConceptKind.OCCUPATION,
                preferred_label=template.title,
                alt_labels=template.alt_titles,
                description=template.description,
            )
        )
        for kind, skill_ids in (
            (RelationKind.ESSENTIAL_FOR, template.essential),
            (RelationKind.OPTIONAL_FOR, template.optional),
        ):
            relations.extend(
                Relation(source=skill_id, target=template.id, kind=kind) for skill_id in skill_ids
            )
    return occupations, relations, templates


def _crosswalk(text: str) -> list[Relation]:
    return [
        Relation(
            source=row["foreign_id"],
            target=row["concept_id"],
            kind=RelationKind.CROSSWALK,
            importance=row["framework"] or None,
        )
        for row in csv.DictReader(io.StringIO(text))
    ]


@cache
def load() -> Taxonomy:
    """The starter taxonomy, validated (unique ids, resolvable references, no broader cycles)."""
    manifest = json.loads(_read_text("MANIFEST.json"))
    files = manifest["files"]
    concepts = _concepts(_read_text(files["concepts"]))
    occupations, relations, templates = _roles(json.loads(_read_text(files["roles"])))
    relations.extend(_crosswalk(_read_text(files["crosswalk"])))
    every = [*concepts, *occupations]
    duplicates = duplicate_ids(every)
    if duplicates:
        raise InvalidTaxonomyError(NAME, [f"duplicate concept id {cid}" for cid in duplicates])
    return validate(
        Taxonomy(
            name=manifest["name"],
            version=manifest["version"],
            source=manifest["source"],
            licence=manifest["licence"],
            attribution=manifest["attribution"],
            concepts={concept.id: concept for concept in every},
            relations=tuple(relations),
            role_templates=tuple(templates),
        )
    )

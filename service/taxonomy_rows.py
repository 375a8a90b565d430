"""Pure conversion between the taxonomy model and its table rows, and what those tables can hold.

Role templates have no table of their own: a template is its occupation concept plus the
essential_for/optional_for relations that point at it, and one marker row in concept_relations
says that the occupation is a template and where it sits in the taxonomy's template order.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table

from service.models import ConceptRecord, ConceptRelationRecord, TaxonomyRecord
from service.repositories.taxonomy import ROLE_TEMPLATE_MARKER
from taxonomies.model import (
    Concept,
    ConceptKind,
    Relation,
    RelationKind,
    RoleTemplate,
    Taxonomy,
)

_HEADER: Table = TaxonomyRecord.__table__  # type: ignore[attr-defined]
_CONCEPTS: Table = ConceptRecord.__table__  # type: ignore[attr-defined]
_RELATIONS: Table = ConceptRelationRecord.__table__  # type: ignore[attr-defined]
_VERSION_PART = re.compile(r"\d+|[^\W\d_]+")


class RowIds:
    """Row ids that sort in the order they were made (import start time, then a counter).

    Loading by id order gives relations and role templates back in their original order, which
    the model keeps as tuples; the random tail keeps two concurrent imports apart.
    """

    def __init__(self) -> None:
        self._prefix = f"{time.time_ns():016x}"
        self._tail = secrets.token_hex(4)
        self._count = 0

    def __call__(self) -> str:
        self._count += 1
        return f"{self._prefix}{self._count:08x}{self._tail}"


def concept_row(concept: Concept, row_id: str, owner: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": row_id,
        **owner,
        "concept_id": concept.id,
        "kind": concept.kind.value,
        "preferred_label": concept.preferred_label,
        "alt_labels": list(concept.alt_labels),
        "hidden_labels": list(concept.hidden_labels),
        "description": concept.description,
        "reuse_level": concept.reuse_level,
        "broader": list(concept.broader),
        "status": concept.status,
    }


def relation_row(relation: Relation, row_id: str, owner: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": row_id,
        **owner,
        "source": relation.source,
        "target": relation.target,
        "kind": relation.kind.value,
        "importance": relation.importance,
        "weight": relation.weight,
    }


def template_marker_row(
    template: RoleTemplate, row_id: str, owner: Mapping[str, Any]
) -> dict[str, Any]:
    return {
        "id": row_id,
        **owner,
        "source": template.id,
        "target": template.id,
        "kind": ROLE_TEMPLATE_MARKER,
        "importance": None,
        "weight": None,
    }


def column_limit(table: Table, column: str) -> int | None:
    """The declared maximum length of a string column (PostgreSQL enforces it), if any."""
    length = getattr(table.c[column].type, "length", None)
    return length if isinstance(length, int) else None


def storage_problems(taxonomy: Taxonomy) -> list[str]:
    """What the tables would refuse (over-long values) or lose (templates they cannot rebuild)."""
    problems: list[str] = []
    for column in ("name", "version", "source", "licence", "attribution"):
        limit = column_limit(_HEADER, column)
        if limit is not None and len(getattr(taxonomy, column)) > limit:
            problems.append(f"taxonomy {column} is longer than {limit} characters")
    checks = [(c, column_limit(_CONCEPTS, c)) for c in ("concept_id", "preferred_label", "kind")]
    reuse_limit = column_limit(_CONCEPTS, "reuse_level")
    for concept in taxonomy.concepts.values():
        values = (concept.id, concept.preferred_label, concept.kind.value)
        for (column, limit), value in zip(checks, values, strict=True):
            if limit is not None and len(value) > limit:
                problems.append(f"concept {concept.id[:80]} {column} is longer than {limit}")
        if reuse_limit is not None and len(concept.reuse_level or "") > reuse_limit:
            problems.append(f"concept {concept.id[:80]} reuse_level is longer than {reuse_limit}")
    end_limit = column_limit(_RELATIONS, "source")
    importance_limit = column_limit(_RELATIONS, "importance")
    for relation in taxonomy.relations:
        if end_limit is not None and max(len(relation.source), len(relation.target)) > end_limit:
            problems.append(
                f"relation {relation.source[:80]} -> {relation.target[:80]} has an end longer"
                f" than {end_limit}"
            )
        if importance_limit is not None and len(relation.importance or "") > importance_limit:
            problems.append(
                f"relation {relation.source[:80]} importance is longer than {importance_limit}"
            )
    problems.extend(_template_problems(taxonomy))
    return problems


def _template_problems(taxonomy: Taxonomy) -> Iterable[str]:
    essential, optional = template_members(taxonomy.relations)
    seen: set[str] = set()
    for template in taxonomy.role_templates:
        if template.id in seen:
            yield f"role template {template.id} occurs twice"
        seen.add(template.id)
        occupation = taxonomy.concepts.get(template.id)
        if occupation is None or occupation.kind is not ConceptKind.OCCUPATION:
            yield f"role template {template.id} has no occupation concept of its id"
        elif template_of(occupation, essential, optional) != template:
            yield (
                f"role template {template.id} differs from its occupation concept (title, alt"
                " titles, description) or from its essential_for/optional_for relations"
            )


def template_members(
    relations: Iterable[Relation],
) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """occupation id -> skill ids, essential and optional, in relation order."""
    essential: dict[str, list[str]] = {}
    optional: dict[str, list[str]] = {}
    for relation in relations:
        if relation.kind is RelationKind.ESSENTIAL_FOR:
            essential.setdefault(relation.target, []).append(relation.source)
        elif relation.kind is RelationKind.OPTIONAL_FOR:
            optional.setdefault(relation.target, []).append(relation.source)
    return essential, optional


def template_of(
    occupation: Concept, essential: Mapping[str, list[str]], optional: Mapping[str, list[str]]
) -> RoleTemplate:
    return RoleTemplate(
        id=occupation.id,
        title=occupation.preferred_label,
        alt_titles=occupation.alt_labels,
        description=occupation.description,
        # A skill listed twice for one job says nothing more, so templates keep it once.
        essential=tuple(dict.fromkeys(essential.get(occupation.id, ()))),
        optional=tuple(dict.fromkeys(optional.get(occupation.id, ()))),
    )


def concept_from_row(row: Any) -> Concept:
    return Concept(
        id=row.concept_id,
        kind=ConceptKind(row.kind),
        preferred_label=row.preferred_label,
        alt_labels=tuple(row.alt_labels),
        hidden_labels=tuple(row.hidden_labels),
        description=row.description,
        reuse_level=row.reuse_level,
        broader=tuple(row.broader),
        status="obsolete" if row.status == "obsolete" else "active",
    )


def taxonomy_from_rows(
    record: TaxonomyRecord, concept_rows: Iterable[Any], relation_rows: Iterable[Any]
) -> Taxonomy:
    """The frozen model again, from a version's row and its rows in insertion order."""
    concepts = {row.concept_id: concept_from_row(row) for row in concept_rows}
    relations: list[Relation] = []
    template_ids: list[str] = []
    # A dict lookup instead of RelationKind(value): ESCO has 130k relations to rebuild.
    kinds = {kind.value: kind for kind in RelationKind}
    for source, target, kind, importance, weight in relation_rows:
        if kind == ROLE_TEMPLATE_MARKER:
            template_ids.append(source)
            continue
        relations.append(
            Relation(
                source=source,
                target=target,
                kind=kinds[kind],
                importance=importance,
                weight=weight,
            )
        )
    essential, optional = template_members(relations)
    return Taxonomy(
        name=record.name,
        version=record.version,
        source=record.source,
        licence=record.licence,
        attribution=record.attribution,
        concepts=concepts,
        relations=tuple(relations),
        role_templates=tuple(
            template_of(concepts[tid], essential, optional)
            for tid in template_ids
            if tid in concepts
        ),
    )


def version_order(record: TaxonomyRecord) -> tuple[tuple[tuple[int, int, str], ...], datetime]:
    """Sort key, newest last: numbers compare as numbers (1.10 after 1.9), then import time."""
    parts = tuple(
        (1, int(part), "") if part.isdigit() else (0, 0, part.casefold())
        for part in _VERSION_PART.findall(record.version)
    )
    return parts, record.imported_at


def choose_version(
    records: Sequence[TaxonomyRecord], *, tenant_id: str | None, version: str | None
) -> TaxonomyRecord | None:
    """The version a lookup by name means: the tenant's own first, else the shared one."""
    owned = [r for r in records if tenant_id is not None and r.tenant_id == tenant_id]
    shared = [r for r in records if r.tenant_id is None]
    if version is not None:
        for pool in (owned, shared):
            for record in pool:
                if record.version == version:
                    return record
        return None
    pool = owned or shared
    return max(pool, key=version_order) if pool else None

"""ESCO CSV release importer: skills, skill groups, occupations and their relations.

Reads the official ESCO download as extracted (any language's `classification` files plus the
language-independent `relations` files), streaming each CSV row by row. Occupations become
occupation concepts and role templates (their essential and optional skills); skill-skill links
become `related` relations. The attribution ESCO's licence asks for travels on the Taxonomy.
"""

from __future__ import annotations

import csv
import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path

from taxonomies.errors import InvalidTaxonomyError, TaxonomySourceError
from taxonomies.model import (
    Concept,
    ConceptKind,
    ConceptStatus,
    Relation,
    RelationKind,
    RoleTemplate,
    Taxonomy,
)
from taxonomies.progress import Progress, silent
from taxonomies.rows import read_rows
from taxonomies.validate import validate

NAME = "esco"
LICENCE = "European Commission reuse policy (Decision 2011/833/EU), CC BY 4.0"
_VERSION = re.compile(r"v?(\d+\.\d+(?:\.\d+)?)")

# ESCO's CSV cells hold whole paragraphs; the default field limit (128 KiB) is enough, but some
# mirrors re-encode newlines, so rows are read with csv's own multi-line handling.
csv.field_size_limit(8 * 1024 * 1024)


def attribution(version: str) -> str:
    """The attribution text ESCO's licence asks for, with the version and our modifications."""
    return (
        f"This service uses the ESCO classification of the European Commission (ESCO v{version})."
        " Any changes to the data, such as the mapping of credentials to ESCO concepts, are"
        " Skillproof's own."
    )


def load(
    directory: Path,
    *,
    language: str = "en",
    version: str | None = None,
    progress: Progress = silent,
    with_relations: bool = True,
) -> Taxonomy:
    """Import an ESCO CSV release found anywhere under `directory`.

    `version` defaults to the `vX.Y.Z` in the directory path. Broader links to concepts the
    release does not define (ISCO groups) are dropped; the result is validated.
    """
    directory = Path(directory)
    found_version = version or _version_from(directory)
    concepts: dict[str, Concept] = {}
    for concept in _skills(_file(directory, f"skills_{language}.csv"), progress):
        concepts[concept.id] = concept
    groups = _optional_file(directory, f"skillGroups_{language}.csv")
    if groups is not None:
        for concept in _groups(groups, progress):
            concepts.setdefault(concept.id, concept)
    for concept in _occupations(_file(directory, f"occupations_{language}.csv"), progress):
        concepts[concept.id] = concept

    broader: dict[str, list[str]] = {}
    relations: list[Relation] = []
    essential: dict[str, list[str]] = {}
    optional: dict[str, list[str]] = {}
    if with_relations:
        for name, stage in (
            ("broaderRelationsSkillPillar", "ESCO skill hierarchy"),
            ("broaderRelationsOccPillar", "ESCO occupation hierarchy"),
        ):
            path = _optional_file(directory, f"{name}*.csv")
            if path is None:
                continue
            for row in read_rows(path, stage, progress):
                child, parent = row["conceptUri"], row["broaderUri"]
                if child in concepts and parent in concepts and child != parent:
                    broader.setdefault(child, []).append(parent)
        path = _optional_file(directory, "occupationSkillRelations*.csv")
        if path is not None:
            for row in read_rows(path, "ESCO occupation skills", progress):
                occupation, skill = row["occupationUri"], row["skillUri"]
                if occupation not in concepts or skill not in concepts:
                    continue
                is_essential = row["relationType"] == "essential"
                kind = RelationKind.ESSENTIAL_FOR if is_essential else RelationKind.OPTIONAL_FOR
                relations.append(
                    Relation(
                        source=skill, target=occupation, kind=kind, importance=row["relationType"]
                    )
                )
                (essential if is_essential else optional).setdefault(occupation, []).append(skill)
        path = _optional_file(directory, "skillSkillRelations*.csv")
        if path is not None:
            for row in read_rows(path, "ESCO skill relations", progress):
                source, target = row["originalSkillUri"], row["relatedSkillUri"]
                if source in concepts and target in concepts:
                    relations.append(
                        Relation(
                            source=source,
                            target=target,
                            kind=RelationKind.RELATED,
                            importance=row["relationType"] or None,
                        )
                    )
    if broader:
        concepts = {
            cid: _with_broader(concept, broader[cid]) if cid in broader else concept
            for cid, concept in concepts.items()
        }
    templates = tuple(
        RoleTemplate(
            id=concept.id,
            title=concept.preferred_label,
            alt_titles=concept.alt_labels,
            description=concept.description,
            essential=tuple(essential.get(concept.id, ())),
            optional=tuple(optional.get(concept.id, ())),
        )
        for concept in concepts.values()
        if concept.kind is ConceptKind.OCCUPATION
    )
    taxonomy = Taxonomy(
        name=NAME if language == "en" else f"{NAME}-{language}",
        version=found_version,
        source=str(directory),
        licence=LICENCE,
        attribution=attribution(found_version),
        concepts=concepts,
        relations=tuple(relations),
        role_templates=templates,
    )
    progress("ESCO validate", 0, 1)
    try:
        return validate(taxonomy)
    finally:
        progress("ESCO validate", 1, 1)


def _with_broader(concept: Concept, parents: list[str]) -> Concept:
    return dataclasses.replace(concept, broader=tuple(dict.fromkeys(parents)))


def _skills(path: Path, progress: Progress) -> Iterator[Concept]:
    for row in read_rows(path, "ESCO skills", progress):
        kind = ConceptKind.KNOWLEDGE if row["skillType"] == "knowledge" else ConceptKind.SKILL
        yield _concept(row, kind, row.get("reuseLevel") or None)


def _groups(path: Path, progress: Progress) -> Iterator[Concept]:
    for row in read_rows(path, "ESCO skill groups", progress):
        yield _concept(row, ConceptKind.SKILL, "group")


def _occupations(path: Path, progress: Progress) -> Iterator[Concept]:
    for row in read_rows(path, "ESCO occupations", progress):
        yield _concept(row, ConceptKind.OCCUPATION, row.get("code") or None)


def _concept(row: dict[str, str], kind: ConceptKind, reuse_level: str | None) -> Concept:
    status: ConceptStatus = "active" if row.get("status", "released") == "released" else "obsolete"
    return Concept(
        id=row["conceptUri"],
        kind=kind,
        preferred_label=row["preferredLabel"].strip(),
        alt_labels=_lines(row.get("altLabels")),
        hidden_labels=_lines(row.get("hiddenLabels")),
        description=(row.get("description") or row.get("definition") or "").strip() or None,
        reuse_level=reuse_level,
        status=status,
    )


def _lines(cell: str | None) -> tuple[str, ...]:
    """ESCO puts one label per line inside a quoted cell."""
    return tuple(dict.fromkeys(line.strip() for line in (cell or "").splitlines() if line.strip()))


def _file(directory: Path, pattern: str) -> Path:
    found = _optional_file(directory, pattern)
    if found is None:
        raise TaxonomySourceError(f"no {pattern} under {directory}: is this an ESCO CSV release?")
    return found


def _optional_file(directory: Path, pattern: str) -> Path | None:
    matches = sorted(directory.rglob(pattern))
    return matches[0] if matches else None


def _version_from(directory: Path) -> str:
    for part in reversed(directory.resolve().parts):
        match = _VERSION.fullmatch(part)
        if match:
            return match.group(1)
    raise InvalidTaxonomyError(NAME, [f"cannot tell the ESCO version from {directory}; pass one"])

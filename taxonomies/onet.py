"""O*NET text-database importer: occupations, skills, knowledge and technology skills.

Reads the tab-separated files of an O*NET release (`Occupation Data.txt`, `Skills.txt`,
`Knowledge.txt`, optionally `Technology Skills.txt`, `Alternate Titles.txt` and
`Content Model Reference.txt`). Skill and knowledge elements keep their content-model ids
(`2.A.1.a`); an element is essential for an occupation when its importance (IM, 1-5) is at least
3.5 and optional from 2.5, and the relation carries importance and level (LV, 0-7). Technology
examples become skills under their commodity class.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from taxonomies.errors import TaxonomySourceError
from taxonomies.model import (
    Concept,
    ConceptKind,
    Relation,
    RelationKind,
    RoleTemplate,
    Taxonomy,
)
from taxonomies.progress import Progress, silent
from taxonomies.rows import read_rows
from taxonomies.validate import validate

NAME = "onet"
LICENCE = "CC BY 4.0 (O*NET, U.S. Department of Labor, Employment and Training Administration)"
ESSENTIAL_IMPORTANCE = 3.5
OPTIONAL_IMPORTANCE = 2.5
_SLUG = re.compile(r"[^a-z0-9]+")


def attribution(version: str) -> str:
    """The credit O*NET's licence asks for."""
    return (
        f"This service includes information from the O*NET {version} Database by the U.S."
        " Department of Labor, Employment and Training Administration (USDOL/ETA), used under"
        " the CC BY 4.0 license. O*NET is a trademark of USDOL/ETA. Skillproof has modified"
        " all or some of this information; USDOL/ETA has not approved, endorsed or tested"
        " these modifications."
    )


@dataclass(kw_only=True, slots=True)
class _Rating:
    importance: float | None = None
    level: float | None = None


def load(directory: Path, *, version: str, progress: Progress = silent) -> Taxonomy:
    """Import the O*NET text files found in `directory` (release `version`, e.g. "29.0")."""
    directory = Path(directory)
    concepts: dict[str, Concept] = {}
    alternates: dict[str, list[str]] = {}
    alternate_file = _optional(directory, "Alternate Titles.txt")
    if alternate_file is not None:
        for row in _rows(alternate_file, "O*NET alternate titles", progress):
            for column in ("Alternate Title", "Short Title"):
                title = (row.get(column) or "").strip()
                if title and title != "n/a":
                    alternates.setdefault(row["O*NET-SOC Code"], []).append(title)
    for row in _rows(_required(directory, "Occupation Data.txt"), "O*NET occupations", progress):
        code = row["O*NET-SOC Code"]
        concepts[code] = Concept(
            id=code,
            kind=ConceptKind.OCCUPATION,
            preferred_label=row["Title"].strip(),
            alt_labels=tuple(dict.fromkeys(alternates.get(code, ()))),
            description=(row.get("Description") or "").strip() or None,
            reuse_level=code.split("-")[0],
        )
    model: dict[str, tuple[str, str]] = {}
    reference = _optional(directory, "Content Model Reference.txt")
    if reference is not None:
        for row in _rows(reference, "O*NET content model", progress):
            name = row["Element Name"].strip()
            model[row["Element ID"]] = (name, (row.get("Description") or "").strip())
    ratings: dict[tuple[str, str], _Rating] = {}
    for filename, kind in (
        ("Skills.txt", ConceptKind.SKILL),
        ("Knowledge.txt", ConceptKind.KNOWLEDGE),
    ):
        path = (
            _required(directory, filename)
            if kind is ConceptKind.SKILL
            else _optional(directory, filename)
        )
        if path is None:
            continue
        for row in _rows(path, f"O*NET {filename[:-4].lower()}", progress):
            element, code = row["Element ID"], row["O*NET-SOC Code"]
            if element not in concepts:
                concepts[element] = Concept(
                    id=element,
                    kind=kind,
                    preferred_label=row["Element Name"].strip(),
                    description=model.get(element, ("", ""))[1] or None,
                    broader=_content_model_parents(element, model, concepts),
                )
            if code not in concepts or (row.get("Recommend Suppress") or "N") == "Y":
                continue
            if (row.get("Not Relevant") or "N") == "Y":
                continue
            rating = ratings.setdefault((element, code), _Rating())
            value = _number(row.get("Data Value"))
            if row.get("Scale ID") == "IM":
                rating.importance = value
            elif row.get("Scale ID") == "LV":
                rating.level = value
    relations: list[Relation] = []
    essential: dict[str, list[str]] = {}
    optional: dict[str, list[str]] = {}
    for (element, code), rating in ratings.items():
        if rating.importance is None or rating.importance < OPTIONAL_IMPORTANCE:
            continue
        is_essential = rating.importance >= ESSENTIAL_IMPORTANCE
        level = f"; level {rating.level:.2f}" if rating.level is not None else ""
        relations.append(
            Relation(
                source=element,
                target=code,
                kind=RelationKind.ESSENTIAL_FOR if is_essential else RelationKind.OPTIONAL_FOR,
                importance=f"importance {rating.importance:.2f}{level}",
                weight=round((rating.importance - 1.0) / 4.0, 4),
            )
        )
        (essential if is_essential else optional).setdefault(code, []).append(element)
    technology = _optional(directory, "Technology Skills.txt")
    if technology is not None:
        for row in _rows(technology, "O*NET technology skills", progress):
            code, example = row["O*NET-SOC Code"], row["Example"].strip()
            group_id = f"onet:commodity/{row['Commodity Code']}"
            skill_id = f"onet:technology/{_SLUG.sub('-', example.lower()).strip('-')}"
            concepts.setdefault(
                group_id,
                Concept(
                    id=group_id,
                    kind=ConceptKind.KNOWLEDGE,
                    preferred_label=row["Commodity Title"].strip(),
                    reuse_level="group",
                ),
            )
            concepts.setdefault(
                skill_id,
                Concept(
                    id=skill_id,
                    kind=ConceptKind.SKILL,
                    preferred_label=example,
                    broader=(group_id,),
                    reuse_level="technology",
                ),
            )
            if code not in concepts:
                continue
            hot = (row.get("Hot Technology") or "N") == "Y"
            relations.append(
                Relation(
                    source=skill_id,
                    target=code,
                    kind=RelationKind.ESSENTIAL_FOR if hot else RelationKind.OPTIONAL_FOR,
                    importance="hot technology" if hot else "technology",
                )
            )
            (essential if hot else optional).setdefault(code, []).append(skill_id)
    templates = tuple(
        RoleTemplate(
            id=c.id,
            title=c.preferred_label,
            alt_titles=c.alt_labels,
            description=c.description,
            essential=tuple(dict.fromkeys(essential.get(c.id, ()))),
            optional=tuple(dict.fromkeys(optional.get(c.id, ()))),
        )
        for c in concepts.values()
        if c.kind is ConceptKind.OCCUPATION
    )
    return validate(
        Taxonomy(
            name=NAME,
            version=version,
            source=str(directory),
            licence=LICENCE,
            attribution=attribution(version),
            concepts=concepts,
            relations=tuple(relations),
            role_templates=templates,
        )
    )


def _content_model_parents(
    element: str, model: dict[str, tuple[str, str]], concepts: dict[str, Concept]
) -> tuple[str, ...]:
    """The element's parent in the content model ("2.A.1.a" -> "2.A.1"), added as a group."""
    parent = element.rsplit(".", 1)[0] if "." in element else ""
    if parent not in model:
        return ()
    if parent not in concepts:
        name, description = model[parent]
        concepts[parent] = Concept(
            id=parent,
            kind=ConceptKind.KNOWLEDGE,
            preferred_label=name,
            description=description or None,
            reuse_level="group",
            broader=_content_model_parents(parent, model, concepts),
        )
    return (parent,)


def _number(cell: str | None) -> float | None:
    try:
        return float(cell) if cell not in (None, "", "n/a") else None
    except ValueError:
        return None


def _rows(path: Path, stage: str, progress: Progress) -> Iterator[dict[str, str]]:
    """O*NET's text files: tab-separated, with quotes that are part of the text."""
    return read_rows(path, stage, progress, delimiter="\t", quoting=csv.QUOTE_NONE)


def _required(directory: Path, filename: str) -> Path:
    path = _optional(directory, filename)
    if path is None:
        raise TaxonomySourceError(f"no {filename!r} in {directory}: is this an O*NET text release?")
    return path


def _optional(directory: Path, filename: str) -> Path | None:
    path = directory / filename
    return path if path.is_file() else None

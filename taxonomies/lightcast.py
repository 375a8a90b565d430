"""Lightcast Open Skills importer: the skills list as JSON (API response) or JSON Lines.

Accepts the `/skills/versions/{version}/skills` response (`{"data": [skill, ...]}`), a bare JSON
array, or one skill object per line (`.jsonl`, read as a stream). Categories and subcategories
become group concepts above the skills; a skill's type (Common, Specialized, Certification) is
kept as its reuse level.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from taxonomies.errors import TaxonomySourceError
from taxonomies.model import Concept, ConceptKind, Taxonomy
from taxonomies.progress import Progress, counted, silent
from taxonomies.validate import validate

NAME = "lightcast"
LICENCE = "Lightcast Open Skills licence (CC BY 4.0 for the open skills library)"
_ALTERNATIVE_KEYS = ("alternativeNames", "alternateNames", "synonyms", "aliases")


def attribution(version: str) -> str:
    """The credit Lightcast asks for when its open skills are shown."""
    return f"Skills from the Lightcast Open Skills taxonomy (version {version}), lightcast.io."


def load(path: Path, *, version: str, progress: Progress = silent) -> Taxonomy:
    """Import a Lightcast skills file (JSON document or JSON Lines)."""
    path = Path(path)
    if not path.is_file():
        raise TaxonomySourceError(f"no Lightcast skills file at {path}")
    concepts: dict[str, Concept] = {}
    for skill in counted(_skills(path), "Lightcast skills", progress):
        concept = _concept(skill, concepts)
        if concept is not None:
            concepts[concept.id] = concept
    return validate(
        Taxonomy(
            name=NAME,
            version=version,
            source=str(path),
            licence=LICENCE,
            attribution=attribution(version),
            concepts=concepts,
        )
    )


def _skills(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8-sig") as handle:
        if path.suffix.lower() in (".jsonl", ".ndjson"):
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    item = json.loads(line)
                except json.JSONDecodeError as error:
                    raise TaxonomySourceError(f"{path}:{number}: not JSON ({error})") from error
                if isinstance(item, dict):
                    yield item
            return
        try:
            document = json.load(handle)
        except json.JSONDecodeError as error:
            raise TaxonomySourceError(f"{path}: not JSON ({error})") from error
    items = document.get("data", []) if isinstance(document, dict) else document
    if not isinstance(items, list):
        raise TaxonomySourceError(f"{path}: expected a list of skills under 'data'")
    yield from (item for item in items if isinstance(item, dict))


def _concept(skill: dict[str, Any], concepts: dict[str, Concept]) -> Concept | None:
    skill_id, name = skill.get("id"), skill.get("name")
    if not skill_id or not name:
        return None
    broader: tuple[str, ...] = ()
    category = _group(skill.get("category"), "category", (), concepts)
    if category:
        broader = (category,)
    subcategory = _group(skill.get("subcategory"), "subcategory", broader, concepts)
    if subcategory:
        broader = (subcategory,)
    alternatives: list[str] = []
    for key in _ALTERNATIVE_KEYS:
        value = skill.get(key)
        if isinstance(value, list):
            alternatives.extend(str(v).strip() for v in value if str(v).strip())
    skill_type = skill.get("type")
    type_name = skill_type.get("name") if isinstance(skill_type, dict) else None
    kind = ConceptKind.KNOWLEDGE if type_name == "Certification" else ConceptKind.SKILL
    description = skill.get("description")
    return Concept(
        id=str(skill_id),
        kind=kind,
        preferred_label=str(name).strip(),
        alt_labels=tuple(dict.fromkeys(a for a in alternatives if a != name)),
        description=str(description).strip() if description else None,
        reuse_level=str(type_name) if type_name else None,
        broader=broader,
    )


def _group(
    value: Any, level: str, broader: tuple[str, ...], concepts: dict[str, Concept]
) -> str | None:
    """The id of the category/subcategory group concept, created on first sight."""
    if not isinstance(value, dict) or value.get("id") is None or not value.get("name"):
        return None
    group_id = f"lightcast:{level}/{value['id']}"
    if group_id not in concepts:
        concepts[group_id] = Concept(
            id=group_id,
            kind=ConceptKind.SKILL,
            preferred_label=str(value["name"]).strip(),
            reuse_level="group",
            broader=broader,
        )
    return group_id

"""Generic CSV importer: one concept per row with `id,label,alt_labels,broader` columns.

Optional columns: `kind` (skill, knowledge, competence, occupation; default skill),
`description`, `hidden_labels`. Multi-valued cells are separated by `|` (or by newlines).
Rows are streamed, so large files are fine.
"""

from __future__ import annotations

from pathlib import Path

from taxonomies.errors import InvalidTaxonomyError, TaxonomySourceError
from taxonomies.model import Concept, ConceptKind, Taxonomy
from taxonomies.progress import Progress, counted, silent
from taxonomies.rows import StrictRows
from taxonomies.validate import validate

REQUIRED_COLUMNS = ("id", "label")


def load(
    path: Path,
    *,
    name: str,
    version: str,
    licence: str = "unspecified",
    attribution: str = "",
    progress: Progress = silent,
) -> Taxonomy:
    """Import a CSV taxonomy; duplicate ids and dangling `broader` ids are errors."""
    path = Path(path)
    if not path.is_file():
        raise TaxonomySourceError(f"no CSV taxonomy at {path}")
    concepts: dict[str, Concept] = {}
    duplicates: list[str] = []
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = StrictRows(handle, path)
        missing = [c for c in REQUIRED_COLUMNS if c not in reader.fieldnames]
        if missing:
            raise TaxonomySourceError(f"{path} lacks the column(s) {', '.join(missing)}")
        for count, row in enumerate(counted(reader, f"CSV {path.name}", progress), start=1):
            concept_id, label = (row.get("id") or "").strip(), (row.get("label") or "").strip()
            if not concept_id or not label:
                raise TaxonomySourceError(f"{path}: row {count + 1} has no id or label")
            if concept_id in concepts:
                duplicates.append(concept_id)
                continue
            try:
                kind = ConceptKind((row.get("kind") or "skill").strip().lower())
            except ValueError:
                raise TaxonomySourceError(
                    f"{path}: row {count + 1} has unknown kind {row.get('kind')!r}"
                ) from None
            concepts[concept_id] = Concept(
                id=concept_id,
                kind=kind,
                preferred_label=label,
                alt_labels=_many(row.get("alt_labels")),
                hidden_labels=_many(row.get("hidden_labels")),
                description=(row.get("description") or "").strip() or None,
                broader=_many(row.get("broader")),
            )
    if duplicates:
        raise InvalidTaxonomyError(name, [f"duplicate concept id {cid}" for cid in duplicates])
    return validate(
        Taxonomy(
            name=name,
            version=version,
            source=str(path),
            licence=licence,
            attribution=attribution,
            concepts=concepts,
        )
    )


def _many(cell: str | None) -> tuple[str, ...]:
    parts = (cell or "").replace("\n", "|").split("|")
    return tuple(dict.fromkeys(p.strip() for p in parts if p.strip()))

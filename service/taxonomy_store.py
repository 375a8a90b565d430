"""Taxonomies in the database: versioned bulk import, rebuild of the frozen model, overrides.

A taxonomy version is one `taxonomies` row (tenant_id NULL = the shared catalogue) with its
concept and relation rows. Re-importing the same name and version upserts its concepts and marks
those the release no longer has `obsolete`: they are never deleted, because stored scores and
their explanations still name them. Lookups are tenant-scoped: another tenant's taxonomy looks
exactly like one that does not exist (`TaxonomyNotFound`, a LookupError that callers answer 404).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from service import taxonomy_rows as rows
from service.db import SessionFactory, unit_of_work
from service.errors import BadRequest, NotFound
from service.models import MappingOverride, OccupationChoiceRecord, TaxonomyRecord, utcnow
from service.repositories import taxonomy as repo
from taxonomies.model import SKILL_KINDS, ConceptKind, Taxonomy
from taxonomies.normalize import normalize
from taxonomies.occupations import OccupationChoice

# Rows per executemany: large enough to amortise round trips, small enough for steady progress.
BATCH_SIZE = 5000

ImportProgress = Callable[[int, int], None]  # (rows written, rows to write)
_T = TypeVar("_T")


class TaxonomyNotFound(NotFound, LookupError):
    """No such taxonomy version (or tenant) visible to the caller."""


class UnknownConcept(BadRequest, ValueError):
    """An override names a concept that the taxonomy version does not have (or has retired)."""


class UnstorableTaxonomy(BadRequest, ValueError):
    """The taxonomy cannot be stored as given; `problems` lists what would be lost or refused."""

    def __init__(self, key: str, problems: Sequence[str]) -> None:
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        super().__init__(f"cannot store {key}: {'; '.join(problems[:5])}{more}")
        self.problems = tuple(problems)


@dataclass(frozen=True, kw_only=True, slots=True)
class ImportReport:
    """What one import did; `obsoleted` counts concepts retired by this import."""

    taxonomy_id: str
    key: str
    tenant_id: str | None
    new_version: bool
    concepts: int
    added: int
    updated: int
    obsoleted: int
    relations: int
    role_templates: int
    seconds: float


@dataclass(frozen=True, kw_only=True, slots=True)
class TaxonomySummary:
    """One stored version as a tenant sees it; `shadowed`: a tenant-owned one has its name."""

    id: str
    name: str
    version: str
    source: str
    licence: str
    attribution: str
    concept_count: int
    imported_at: datetime
    tenant_id: str | None
    is_default: bool
    shadowed: bool

    @property
    def shared(self) -> bool:
        return self.tenant_id is None


# --- import ---------------------------------------------------------------------------------------


async def import_taxonomy(
    sessions: SessionFactory,
    taxonomy: Taxonomy,
    *,
    tenant_id: str | None,
    progress: ImportProgress | None = None,
) -> ImportReport:
    """Store a taxonomy version in one transaction; re-importing a version updates it in place."""
    started = time.perf_counter()
    problems = rows.storage_problems(taxonomy)
    if problems:
        raise UnstorableTaxonomy(taxonomy.key, problems)
    report = progress or _silent
    total = len(taxonomy.concepts) + len(taxonomy.relations) + len(taxonomy.role_templates)
    row_id = rows.RowIds()
    async with unit_of_work(sessions) as session:
        if tenant_id is not None and await repo.get_tenant(session, tenant_id) is None:
            raise TaxonomyNotFound(f"no tenant {tenant_id}")
        record = await repo.find_version(
            session, tenant_id=tenant_id, name=taxonomy.name, version=taxonomy.version
        )
        new_version = record is None
        if record is None:
            record = await repo.add_version(
                session,
                TaxonomyRecord(tenant_id=tenant_id, name=taxonomy.name, version=taxonomy.version),
            )
            existing: dict[str, str] = {}
        else:
            await repo.lock_version(session, record.id)
            existing = await repo.concept_statuses(session, record.id)
        owner = {"tenant_id": tenant_id, "taxonomy_id": record.id}

        added = [
            rows.concept_row(concept, row_id(), owner)
            for concept in taxonomy.concepts.values()
            if concept.id not in existing
        ]
        kept = [
            rows.concept_row(concept, row_id(), owner)
            for concept in taxonomy.concepts.values()
            if concept.id in existing
        ]
        done = 0
        for batch in _batches(added):
            await repo.insert_concepts(session, batch)
            done += len(batch)
            report(done, total)
        for batch in _batches(kept):
            await repo.upsert_concepts(session, batch)
            done += len(batch)
            report(done, total)
        gone = [
            cid
            for cid, status in existing.items()
            if cid not in taxonomy.concepts and status != "obsolete"
        ]
        obsoleted = await repo.mark_obsolete(session, record.id, gone)

        if not new_version:
            await repo.delete_relations(session, record.id)
        relation_rows = [
            rows.relation_row(relation, row_id(), owner) for relation in taxonomy.relations
        ]
        relation_rows.extend(
            rows.template_marker_row(template, row_id(), owner)
            for template in taxonomy.role_templates
        )
        for batch in _batches(relation_rows):
            await repo.insert_relations(session, batch)
            done += len(batch)
            report(done, total)

        record.source = taxonomy.source
        record.licence = taxonomy.licence
        record.attribution = taxonomy.attribution
        record.concept_count = sum(1 for c in taxonomy.concepts.values() if c.status == "active")
        record.imported_at = utcnow()
        session.add(record)
        await session.flush()
    return ImportReport(
        taxonomy_id=record.id,
        key=taxonomy.key,
        tenant_id=tenant_id,
        new_version=new_version,
        concepts=len(taxonomy.concepts),
        added=len(added),
        updated=len(kept),
        obsoleted=obsoleted,
        relations=len(taxonomy.relations),
        role_templates=len(taxonomy.role_templates),
        seconds=time.perf_counter() - started,
    )


def _silent(done: int, total: int) -> None:
    """Progress that reports nothing."""


def _batches(rows: Sequence[_T]) -> Iterator[Sequence[_T]]:
    for start in range(0, len(rows), BATCH_SIZE):
        yield rows[start : start + BATCH_SIZE]


# --- load and list ------------------------------------------------------------------------------


async def load_taxonomy(
    sessions: SessionFactory,
    *,
    name: str,
    version: str | None = None,
    tenant_id: str | None = None,
) -> Taxonomy:
    """Rebuild a stored version (latest when `version` is None), obsolete concepts included.

    A tenant's own taxonomy of this name wins over the shared one; a version the tenant does
    not own is looked up in the shared catalogue.
    """
    async with sessions() as session:
        records = await repo.visible_versions(session, tenant_id=tenant_id, name=name)
        record = rows.choose_version(records, tenant_id=tenant_id, version=version)
        if record is None:
            wanted = name if version is None else f"{name}@{version}"
            raise TaxonomyNotFound(f"no taxonomy {wanted}")
        return await _rebuild(session, record)


async def current_version_id(
    sessions: SessionFactory, *, name: str, tenant_id: str | None
) -> str | None:
    """The id of the version a lookup of `name` means for this tenant, or None if none is stored."""
    async with sessions() as session:
        records = await repo.visible_versions(session, tenant_id=tenant_id, name=name)
    record = rows.choose_version(records, tenant_id=tenant_id, version=None)
    return record.id if record is not None else None


async def load_taxonomy_by_id(
    sessions: SessionFactory, *, taxonomy_id: str, tenant_id: str | None
) -> Taxonomy:
    """Rebuild the version with this id, if it is shared or the tenant's own."""
    async with sessions() as session:
        record = await repo.visible_version(session, tenant_id=tenant_id, taxonomy_id=taxonomy_id)
        if record is None:
            raise TaxonomyNotFound(f"no taxonomy {taxonomy_id}")
        return await _rebuild(session, record)


async def list_taxonomies(
    sessions: SessionFactory, *, tenant_id: str | None
) -> list[TaxonomySummary]:
    """Shared versions and the tenant's own, by name, tenant-owned first, newest version first."""
    async with sessions() as session:
        default_id = None
        if tenant_id is not None:
            tenant = await repo.get_tenant(session, tenant_id)
            if tenant is None:
                raise TaxonomyNotFound(f"no tenant {tenant_id}")
            default_id = tenant.default_taxonomy_id
        records = await repo.visible_versions(session, tenant_id=tenant_id)
    owned_names = {r.name for r in records if r.tenant_id is not None}
    records.sort(key=rows.version_order, reverse=True)
    records.sort(key=lambda r: (r.name, r.tenant_id is None))
    return [
        TaxonomySummary(
            id=r.id,
            name=r.name,
            version=r.version,
            source=r.source,
            licence=r.licence,
            attribution=r.attribution,
            concept_count=r.concept_count,
            imported_at=r.imported_at,
            tenant_id=r.tenant_id,
            is_default=r.id == default_id,
            shadowed=r.tenant_id is None and r.name in owned_names,
        )
        for r in records
    ]


async def set_default(sessions: SessionFactory, tenant_id: str, taxonomy_id: str | None) -> None:
    """Make a visible version the tenant's default taxonomy (None clears the choice)."""
    async with unit_of_work(sessions) as session:
        tenant = await repo.get_tenant(session, tenant_id)
        if tenant is None:
            raise TaxonomyNotFound(f"no tenant {tenant_id}")
        if taxonomy_id is not None:
            await _visible(session, tenant_id, taxonomy_id)
        await repo.set_default_taxonomy(session, tenant, taxonomy_id)


async def _rebuild(session: AsyncSession, record: TaxonomyRecord) -> Taxonomy:
    concept_rows = await repo.concept_rows(session, record.id)
    relation_rows = await repo.relation_rows(session, record.id)
    return rows.taxonomy_from_rows(record, concept_rows, relation_rows)


async def _visible(
    session: AsyncSession, tenant_id: str | None, taxonomy_id: str
) -> TaxonomyRecord:
    record = await repo.visible_version(session, tenant_id=tenant_id, taxonomy_id=taxonomy_id)
    if record is None:
        raise TaxonomyNotFound(f"no taxonomy {taxonomy_id}")
    return record


def _check_text(text: str, model: type[SQLModel], column: str, what: str) -> None:
    """Refuse an empty text, or one longer than its column holds."""
    if not text:
        raise BadRequest(f"{what} needs at least one word")
    limit = rows.column_limit(model.__table__, column)  # type: ignore[attr-defined]
    if limit is not None and len(text) > limit:
        raise BadRequest(f"{what} is at most {limit} characters")


async def _tenant_version(
    session: AsyncSession, tenant_id: str, taxonomy_id: str
) -> TaxonomyRecord:
    """A version the (existing) tenant may see, or TaxonomyNotFound."""
    if await repo.get_tenant(session, tenant_id) is None:
        raise TaxonomyNotFound(f"no tenant {tenant_id}")
    return await _visible(session, tenant_id, taxonomy_id)


# --- mapping overrides ----------------------------------------------------------------------------


def override_key(phrase: str) -> str:
    """The form an override phrase is stored under: the mapper's own normalisation."""
    return normalize(phrase)


async def set_override(
    sessions: SessionFactory,
    *,
    tenant_id: str,
    taxonomy_id: str,
    phrase: str,
    concept_id: str | None,
    created_by: str,
) -> str:
    """Map `phrase` to `concept_id` (None: to nothing) for this tenant; returns the stored key."""
    key = override_key(phrase)
    _check_text(key, MappingOverride, "phrase", "an override phrase")
    async with unit_of_work(sessions) as session:
        record = await _tenant_version(session, tenant_id, taxonomy_id)
        if concept_id is not None:
            found = await repo.concept_kind_and_status(session, record.id, concept_id)
            status = found[1] if found is not None else None
            if status != "active":
                state = "an obsolete" if status else "not a"
                raise UnknownConcept(
                    f"{concept_id} is {state} concept of {record.name}@{record.version}"
                )
            if found is not None and found[0] not in SKILL_KINDS:
                # Credentials certify skills; an occupation is chosen for a job title instead.
                raise UnknownConcept(
                    f"{concept_id} is a {found[0]}; a credential phrase maps to a skill,"
                    " knowledge or competence concept"
                )
        await repo.put_override(
            session,
            tenant_id=tenant_id,
            taxonomy_id=record.id,
            phrase=key,
            concept_id=concept_id,
            created_by=created_by,
        )
    return key


async def remove_override(
    sessions: SessionFactory, *, tenant_id: str, taxonomy_id: str, phrase: str
) -> bool:
    """Forget the tenant's override for `phrase`; False when there was none."""
    async with unit_of_work(sessions) as session:
        record = await _visible(session, tenant_id, taxonomy_id)
        override = await repo.find_override(
            session, tenant_id=tenant_id, taxonomy_id=record.id, phrase=override_key(phrase)
        )
        if override is None:
            return False
        await repo.delete_override(session, override)
        return True


async def overrides(
    sessions: SessionFactory, *, tenant_id: str, taxonomy_id: str
) -> dict[str, str | None]:
    """The tenant's overrides on one version: normalised phrase -> concept id (None: no skill)."""
    async with sessions() as session:
        record = await _visible(session, tenant_id, taxonomy_id)
        rows = await repo.list_overrides(session, tenant_id=tenant_id, taxonomy_id=record.id)
    return {row.phrase: row.concept_id for row in rows}


# --- occupation choices ---------------------------------------------------------------------------


async def record_occupation_choice(
    sessions: SessionFactory,
    *,
    tenant_id: str,
    taxonomy_id: str,
    title: str,
    occupation_id: str,
    created_by: str,
) -> OccupationChoiceRecord:
    """Remember that HR chose `occupation_id` for a job titled `title` (this tenant only)."""
    title = " ".join(title.split())
    _check_text(title if normalize(title) else "", OccupationChoiceRecord, "title", "a job title")
    async with unit_of_work(sessions) as session:
        record = await _tenant_version(session, tenant_id, taxonomy_id)
        found = await repo.concept_kind_and_status(session, record.id, occupation_id)
        if found is None or found[1] != "active" or found[0] != ConceptKind.OCCUPATION.value:
            what = (
                "not a concept"
                if found is None
                else "an obsolete concept"
                if found[1] != "active"
                else f"a {found[0]}, not an occupation,"
            )
            raise UnknownConcept(f"{occupation_id} is {what} of {record.name}@{record.version}")
        choice = OccupationChoiceRecord(
            tenant_id=tenant_id,
            taxonomy_id=record.id,
            title=title,
            occupation_id=occupation_id,
            created_by=created_by,
        )
        return await repo.add_occupation_choice(session, choice)


async def occupation_choices(
    sessions: SessionFactory, *, tenant_id: str, taxonomy_id: str
) -> list[OccupationChoice]:
    """The tenant's occupation choices on one version, oldest first (the latest one wins)."""
    async with sessions() as session:
        record = await _visible(session, tenant_id, taxonomy_id)
        stored = await repo.list_occupation_choices(
            session, tenant_id=tenant_id, taxonomy_id=record.id
        )
    return [OccupationChoice(title=c.title, occupation_id=c.occupation_id) for c in stored]


async def occupation_choices_stamp(
    sessions: SessionFactory, *, tenant_id: str, taxonomy_id: str
) -> tuple[int, object]:
    """A cheap marker that changes whenever the tenant adds a choice on this version."""
    async with sessions() as session:
        return await repo.occupation_choices_stamp(
            session, tenant_id=tenant_id, taxonomy_id=taxonomy_id
        )

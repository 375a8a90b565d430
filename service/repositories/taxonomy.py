"""Taxonomy versions, their concepts and relations, tenant defaults and mapping overrides."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import (
    Column,
    CursorResult,
    Executable,
    Row,
    Table,
    delete,
    func,
    insert,
    or_,
    update,
)
from sqlalchemy import select as sa_select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from service.models import (
    ConceptRecord,
    ConceptRelationRecord,
    MappingOverride,
    OccupationChoiceRecord,
    TaxonomyRecord,
    Tenant,
    new_id,
    utcnow,
)

# Role templates have no table of their own: each is its occupation concept plus the
# essential_for/optional_for relations that point at it, and one marker row of this kind (source
# and target both the template id) says that the occupation is a template and where it sits in
# the taxonomy's template order. No RelationKind has this value, so it never leaks into relations.
ROLE_TEMPLATE_MARKER = "role_template"

# Keep IN lists well under SQLite's and asyncpg's bound-parameter limits.
_IN_CHUNK = 500

_CONCEPTS: Table = ConceptRecord.__table__  # type: ignore[attr-defined]
_RELATIONS: Table = ConceptRelationRecord.__table__  # type: ignore[attr-defined]
_OVERRIDES: Table = MappingOverride.__table__  # type: ignore[attr-defined]
_UPDATABLE_CONCEPT_COLUMNS = (
    "kind",
    "preferred_label",
    "alt_labels",
    "hidden_labels",
    "description",
    "reuse_level",
    "broader",
    "status",
)


async def _core(
    session: AsyncSession, statement: Executable, rows: Sequence[Mapping[str, Any]] | None = None
) -> CursorResult[Any]:
    """Core statements run on the session's connection: same transaction, no ORM objects.

    A list of rows makes it one executemany, which is what keeps a 150k-row import fast.
    """
    connection = await session.connection()
    if rows is None:
        return await connection.execute(statement)
    return await connection.execute(statement, list(rows))


# --- taxonomy versions ----------------------------------------------------------------------


def _owned_by(tenant_id: str | None) -> Any:
    # `tenant_id = NULL` is never true in SQL: the shared catalogue needs IS NULL.
    if tenant_id is None:
        return col(TaxonomyRecord.tenant_id).is_(None)
    return col(TaxonomyRecord.tenant_id) == tenant_id


def _visible_to(tenant_id: str | None) -> Any:
    if tenant_id is None:
        return _owned_by(None)
    return or_(_owned_by(None), _owned_by(tenant_id))


async def find_version(
    session: AsyncSession, *, tenant_id: str | None, name: str, version: str
) -> TaxonomyRecord | None:
    """The version owned by exactly this tenant (None: the shared catalogue)."""
    query = select(TaxonomyRecord).where(
        _owned_by(tenant_id), TaxonomyRecord.name == name, TaxonomyRecord.version == version
    )
    return (await session.exec(query)).first()


async def visible_versions(
    session: AsyncSession, *, tenant_id: str | None, name: str | None = None
) -> list[TaxonomyRecord]:
    """Shared versions plus the tenant's own (only shared when `tenant_id` is None)."""
    query = select(TaxonomyRecord).where(_visible_to(tenant_id))
    if name is not None:
        query = query.where(TaxonomyRecord.name == name)
    query = query.order_by(col(TaxonomyRecord.name), col(TaxonomyRecord.imported_at))
    return list((await session.exec(query)).all())


async def visible_version(
    session: AsyncSession, *, tenant_id: str | None, taxonomy_id: str
) -> TaxonomyRecord | None:
    """The version with this id if it is shared or the tenant's own; another tenant's is None."""
    query = select(TaxonomyRecord).where(TaxonomyRecord.id == taxonomy_id, _visible_to(tenant_id))
    return (await session.exec(query)).first()


async def add_version(session: AsyncSession, record: TaxonomyRecord) -> TaxonomyRecord:
    session.add(record)
    await session.flush()
    return record


async def lock_version(session: AsyncSession, taxonomy_id: str) -> None:
    """Serialise re-imports of one version (PostgreSQL; SQLite's BEGIN IMMEDIATE already does)."""
    if session.get_bind().dialect.name == "postgresql":
        await _core(
            session,
            sa_select(col(TaxonomyRecord.id))
            .where(col(TaxonomyRecord.id) == taxonomy_id)
            .with_for_update(),
        )


# --- concepts ---------------------------------------------------------------------------------


async def concept_statuses(session: AsyncSession, taxonomy_id: str) -> dict[str, str]:
    """concept_id -> status for every stored concept of a version."""
    rows = await _core(
        session,
        sa_select(_CONCEPTS.c.concept_id, _CONCEPTS.c.status).where(
            _CONCEPTS.c.taxonomy_id == taxonomy_id
        ),
    )
    return {row.concept_id: row.status for row in rows}


async def insert_concepts(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> None:
    """Bulk insert (one executemany) of concept rows that are known to be new."""
    if rows:
        await _core(session, insert(_CONCEPTS), rows)


async def upsert_concepts(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> None:
    """Bulk insert-or-update on (taxonomy_id, concept_id); an existing row keeps its id."""
    if not rows:
        return
    connection = await session.connection()
    statement = _upsert(
        connection.dialect.name,
        _CONCEPTS,
        [_CONCEPTS.c.taxonomy_id, _CONCEPTS.c.concept_id],
        _UPDATABLE_CONCEPT_COLUMNS,
    )
    await connection.execute(statement, list(rows))


def _upsert(
    dialect: str, table: Table, key: Sequence[Column[Any]], updatable: Iterable[str]
) -> postgresql.Insert | sqlite.Insert:
    """INSERT ... ON CONFLICT (key) DO UPDATE: both backends take it, built by each dialect."""
    if dialect == "postgresql":
        pg = postgresql.insert(table)
        return pg.on_conflict_do_update(
            index_elements=key, set_={c: pg.excluded[c] for c in updatable}
        )
    if dialect == "sqlite":
        lite = sqlite.insert(table)
        return lite.on_conflict_do_update(
            index_elements=key, set_={c: lite.excluded[c] for c in updatable}
        )
    raise NotImplementedError(f"no upsert for the {dialect} dialect")


async def mark_obsolete(session: AsyncSession, taxonomy_id: str, concept_ids: Iterable[str]) -> int:
    """Set status=obsolete on these concepts of a version; rows are kept for old explanations."""
    ids = sorted(set(concept_ids))
    changed = 0
    for start in range(0, len(ids), _IN_CHUNK):
        result = await _core(
            session,
            update(_CONCEPTS)
            .where(
                _CONCEPTS.c.taxonomy_id == taxonomy_id,
                _CONCEPTS.c.concept_id.in_(ids[start : start + _IN_CHUNK]),
            )
            .values(status="obsolete"),
        )
        changed += int(getattr(result, "rowcount", 0) or 0)
    return changed


async def concept_rows(session: AsyncSession, taxonomy_id: str) -> Sequence[Row[Any]]:
    """Every concept row of a version in insertion order (row ids are sortable)."""
    result = await _core(
        session,
        sa_select(
            _CONCEPTS.c.concept_id,
            _CONCEPTS.c.kind,
            _CONCEPTS.c.preferred_label,
            _CONCEPTS.c.alt_labels,
            _CONCEPTS.c.hidden_labels,
            _CONCEPTS.c.description,
            _CONCEPTS.c.reuse_level,
            _CONCEPTS.c.broader,
            _CONCEPTS.c.status,
        )
        .where(_CONCEPTS.c.taxonomy_id == taxonomy_id)
        .order_by(_CONCEPTS.c.id),
    )
    return result.all()


async def count_concepts(
    session: AsyncSession, taxonomy_id: str, *, status: str | None = None
) -> int:
    query = (
        sa_select(func.count()).select_from(_CONCEPTS).where(_CONCEPTS.c.taxonomy_id == taxonomy_id)
    )
    if status is not None:
        query = query.where(_CONCEPTS.c.status == status)
    return int((await _core(session, query)).scalar_one())


async def concept_kind_and_status(
    session: AsyncSession, taxonomy_id: str, concept_id: str
) -> tuple[str, str] | None:
    """(kind, status) of one concept of a version, or None when the version has no such concept."""
    result = await _core(
        session,
        sa_select(_CONCEPTS.c.kind, _CONCEPTS.c.status).where(
            _CONCEPTS.c.taxonomy_id == taxonomy_id, _CONCEPTS.c.concept_id == concept_id
        ),
    )
    row = result.first()
    return (row.kind, row.status) if row is not None else None


# --- relations ----------------------------------------------------------------------------------


async def delete_relations(session: AsyncSession, taxonomy_id: str) -> None:
    """Drop a version's relations before its new set is written (re-import of the same version)."""
    await _core(session, delete(_RELATIONS).where(_RELATIONS.c.taxonomy_id == taxonomy_id))


async def insert_relations(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> None:
    """Bulk insert (one executemany) of relation rows."""
    if rows:
        await _core(session, insert(_RELATIONS), rows)


async def relation_rows(session: AsyncSession, taxonomy_id: str) -> Sequence[Row[Any]]:
    """Every relation row of a version (template markers included) in insertion order."""
    result = await _core(
        session,
        sa_select(
            _RELATIONS.c.source,
            _RELATIONS.c.target,
            _RELATIONS.c.kind,
            _RELATIONS.c.importance,
            _RELATIONS.c.weight,
        )
        .where(_RELATIONS.c.taxonomy_id == taxonomy_id)
        .order_by(_RELATIONS.c.id),
    )
    return result.all()


async def count_relations(session: AsyncSession, taxonomy_id: str) -> int:
    query = (
        sa_select(func.count())
        .select_from(_RELATIONS)
        .where(_RELATIONS.c.taxonomy_id == taxonomy_id, _RELATIONS.c.kind != ROLE_TEMPLATE_MARKER)
    )
    return int((await _core(session, query)).scalar_one())


# --- tenant defaults -----------------------------------------------------------------------------


async def get_tenant(session: AsyncSession, tenant_id: str) -> Tenant | None:
    return await session.get(Tenant, tenant_id)


async def set_default_taxonomy(
    session: AsyncSession, tenant: Tenant, taxonomy_id: str | None
) -> None:
    tenant.default_taxonomy_id = taxonomy_id
    session.add(tenant)
    await session.flush()


# --- mapping overrides ---------------------------------------------------------------------------


async def find_override(
    session: AsyncSession, *, tenant_id: str, taxonomy_id: str, phrase: str
) -> MappingOverride | None:
    query = select(MappingOverride).where(
        MappingOverride.tenant_id == tenant_id,
        MappingOverride.taxonomy_id == taxonomy_id,
        MappingOverride.phrase == phrase,
    )
    return (await session.exec(query)).first()


async def put_override(
    session: AsyncSession,
    *,
    tenant_id: str,
    taxonomy_id: str,
    phrase: str,
    concept_id: str | None,
    created_by: str,
) -> None:
    """Insert or replace the tenant's override of `phrase` in one statement.

    A PUT is idempotent: requests that all find no override yet cannot race to insert it, the
    later ones update the row the first made (an existing row keeps its id).
    """
    connection = await session.connection()
    statement = _upsert(
        connection.dialect.name,
        _OVERRIDES,
        [_OVERRIDES.c.tenant_id, _OVERRIDES.c.taxonomy_id, _OVERRIDES.c.phrase],
        ("concept_id", "created_by", "created_at"),
    )
    await connection.execute(
        statement.values(
            id=new_id(),
            tenant_id=tenant_id,
            taxonomy_id=taxonomy_id,
            phrase=phrase,
            concept_id=concept_id,
            created_by=created_by,
            created_at=utcnow(),
        )
    )


async def delete_override(session: AsyncSession, override: MappingOverride) -> None:
    await session.delete(override)
    await session.flush()


async def list_overrides(
    session: AsyncSession, *, tenant_id: str, taxonomy_id: str
) -> list[MappingOverride]:
    """The tenant's overrides on one taxonomy version, in phrase order."""
    query = (
        select(MappingOverride)
        .where(MappingOverride.tenant_id == tenant_id, MappingOverride.taxonomy_id == taxonomy_id)
        .order_by(col(MappingOverride.phrase))
    )
    return list((await session.exec(query)).all())


# --- occupation choices -------------------------------------------------------------------------


async def add_occupation_choice(
    session: AsyncSession, choice: OccupationChoiceRecord
) -> OccupationChoiceRecord:
    session.add(choice)
    await session.flush()
    return choice


async def list_occupation_choices(
    session: AsyncSession, *, tenant_id: str, taxonomy_id: str
) -> list[OccupationChoiceRecord]:
    """The tenant's occupation choices on one taxonomy version, oldest first."""
    query = (
        select(OccupationChoiceRecord)
        .where(
            OccupationChoiceRecord.tenant_id == tenant_id,
            OccupationChoiceRecord.taxonomy_id == taxonomy_id,
        )
        .order_by(col(OccupationChoiceRecord.created_at), col(OccupationChoiceRecord.id))
    )
    return list((await session.exec(query)).all())


async def occupation_choices_stamp(
    session: AsyncSession, *, tenant_id: str, taxonomy_id: str
) -> tuple[int, Any]:
    """(how many, when the latest was made): changes whenever a choice is added."""
    table = OccupationChoiceRecord.__table__  # type: ignore[attr-defined]
    result = await _core(
        session,
        sa_select(func.count(), func.max(table.c.created_at)).where(
            table.c.tenant_id == tenant_id, table.c.taxonomy_id == taxonomy_id
        ),
    )
    values: tuple[Any, ...] = tuple(result.one())
    return int(values[0]), values[1]

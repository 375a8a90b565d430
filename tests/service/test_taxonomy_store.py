"""Taxonomies in the database: round trip, re-import, versions, tenancy, overrides, the command."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from service import taxonomy_store as store
from service.commands import taxonomy as command
from service.db import unit_of_work
from service.mapping import SkillClaim, map_claims
from service.models import ConceptRecord, ConceptRelationRecord, TaxonomyRecord
from service.repositories import tenancy
from service.settings import Settings
from taxonomies import starter
from taxonomies.model import Concept, ConceptKind, RelationKind, RoleTemplate, Taxonomy
from taxonomies.normalize import normalize
from tests.conftest import Database

# --- helpers -------------------------------------------------------------------------------------


async def _tenant(db: Database, slug: str) -> str:
    async with unit_of_work(db.sessions) as session:
        tenant = await tenancy.add_tenant(session, slug=slug, name=slug.title())
        return tenant.id


async def _rows(db: Database, table: type[ConceptRecord | ConceptRelationRecord], tid: str) -> int:
    async with db.sessions() as session:
        query = select(func.count()).select_from(table).where(table.taxonomy_id == tid)
        return int((await session.exec(query)).scalar_one())


async def _versions(db: Database) -> int:
    async with db.sessions() as session:
        return int((await session.exec(select(func.count(TaxonomyRecord.id)))).scalar_one())


def _isolated_skill(taxonomy: Taxonomy) -> Concept:
    """A skill nothing else points at, so a release without it is still valid."""
    referenced = {r.source for r in taxonomy.relations} | {r.target for r in taxonomy.relations}
    referenced |= {parent for c in taxonomy.concepts.values() for parent in c.broader}
    return next(c for c in taxonomy.skills() if c.id not in referenced)


def _relabelled(taxonomy: Taxonomy, concept_id: str, label: str, **changes: str) -> Taxonomy:
    concepts = dict(taxonomy.concepts)
    concepts[concept_id] = dataclasses.replace(concepts[concept_id], preferred_label=label)
    return dataclasses.replace(taxonomy, concepts=concepts, **changes)  # type: ignore[arg-type]


PYTHON = "sp:skill/python-programming"
SQL = "sp:skill/sql"


# --- round trip ----------------------------------------------------------------------------------


async def test_starter_round_trips_to_an_equal_model(db: Database) -> None:
    original = starter.load()
    report = await store.import_taxonomy(db.sessions, original, tenant_id=None)
    assert report.new_version
    assert report.key == original.key
    assert (report.added, report.updated, report.obsoleted) == (len(original), 0, 0)

    loaded = await store.load_taxonomy(db.sessions, name=original.name)

    assert len(loaded) == len(original), "every concept comes back"
    for concept_id, concept in original.concepts.items():
        assert loaded.concepts[concept_id] == concept, f"{concept_id} changed on the way"
    assert loaded.relations == original.relations, "relations come back in their order"
    assert loaded.role_templates == original.role_templates, "role templates survive"
    assert loaded.concept(PYTHON).labels() == original.concept(PYTHON).labels()
    assert list(loaded.concepts) == list(original.concepts), "insertion order is kept"
    assert loaded == original
    crosswalks = list(loaded.relations_of(RelationKind.CROSSWALK))
    assert crosswalks, "crosswalk relations (foreign sources) are stored too"


async def test_progress_counts_every_row_written(db: Database) -> None:
    original = starter.load()
    seen: list[tuple[int, int]] = []
    await store.import_taxonomy(
        db.sessions, original, tenant_id=None, progress=lambda d, t: seen.append((d, t))
    )
    total = len(original) + len(original.relations) + len(original.role_templates)
    assert seen[-1] == (total, total), seen
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)


# --- re-import and versions ----------------------------------------------------------------------


async def test_reimport_of_same_version_retires_dropped_concepts(db: Database) -> None:
    original = starter.load()
    first = await store.import_taxonomy(db.sessions, original, tenant_id=None)
    dropped = _isolated_skill(original)
    release = _relabelled(original, SQL, "SQL querying")
    release = dataclasses.replace(
        release, concepts={k: v for k, v in release.concepts.items() if k != dropped.id}
    )

    second = await store.import_taxonomy(db.sessions, release, tenant_id=None)

    assert not second.new_version
    assert second.taxonomy_id == first.taxonomy_id
    assert (second.added, second.updated, second.obsoleted) == (0, len(original) - 1, 1)
    assert await _versions(db) == 1, "the same name and version is one row set"
    assert await _rows(db, ConceptRecord, first.taxonomy_id) == len(original), "nothing deleted"
    loaded = await store.load_taxonomy(db.sessions, name=original.name, version=original.version)
    assert len(loaded) == len(original), "the retired concept still explains old scores"
    assert loaded.concept(dropped.id).status == "obsolete"
    assert loaded.concept(dropped.id).preferred_label == dropped.preferred_label
    assert loaded.concept(SQL).preferred_label == "SQL querying", "kept concepts are updated"
    assert sum(c.status == "active" for c in loaded.concepts.values()) == len(original) - 1
    summary = (await store.list_taxonomies(db.sessions, tenant_id=None))[0]
    assert summary.concept_count == len(original) - 1, "the listed count is the active ones"
    relations = await _rows(db, ConceptRelationRecord, first.taxonomy_id)
    assert relations == len(original.relations) + len(original.role_templates), "not doubled"

    back = await store.import_taxonomy(db.sessions, original, tenant_id=None)
    assert back.obsoleted == 0
    reloaded = await store.load_taxonomy(db.sessions, name=original.name)
    assert reloaded.concept(dropped.id).status == "active", "a concept that returns is active"
    assert reloaded == original


async def test_versions_live_side_by_side_and_latest_is_highest(db: Database) -> None:
    original = starter.load()
    await store.import_taxonomy(db.sessions, original, tenant_id=None)
    newer = _relabelled(original, PYTHON, "Python (v1.10)", version="1.10.0")
    older = _relabelled(original, PYTHON, "Python (v1.9)", version="1.9.0")
    await store.import_taxonomy(db.sessions, newer, tenant_id=None)
    await store.import_taxonomy(db.sessions, older, tenant_id=None)

    latest = await store.load_taxonomy(db.sessions, name=original.name)
    assert latest.version == "1.10.0", "1.10.0 is newer than 1.9.0, whatever the import order"
    assert latest.concept(PYTHON).preferred_label == "Python (v1.10)"
    first = await store.load_taxonomy(db.sessions, name=original.name, version="1.0.0")
    assert first == original
    listed = [s.version for s in await store.list_taxonomies(db.sessions, tenant_id=None)]
    assert listed == ["1.10.0", "1.9.0", "1.0.0"]
    with pytest.raises(LookupError):
        await store.load_taxonomy(db.sessions, name=original.name, version="2.0.0")


# --- tenancy -------------------------------------------------------------------------------------


async def test_tenant_owned_taxonomy_shadows_the_shared_one(db: Database) -> None:
    acme, globex = await _tenant(db, "acme"), await _tenant(db, "globex")
    shared = starter.load()
    await store.import_taxonomy(db.sessions, shared, tenant_id=None)
    own = _relabelled(shared, PYTHON, "Python at Acme", version="0.1.0")
    report = await store.import_taxonomy(db.sessions, own, tenant_id=acme)

    assert (await store.load_taxonomy(db.sessions, name=shared.name, tenant_id=acme)) == own
    seen_by_globex = await store.load_taxonomy(db.sessions, name=shared.name, tenant_id=globex)
    assert seen_by_globex == shared
    assert await store.load_taxonomy(db.sessions, name=shared.name) == shared
    explicit = await store.load_taxonomy(
        db.sessions, name=shared.name, version=shared.version, tenant_id=acme
    )
    assert explicit == shared, "a version the tenant does not own comes from the shared catalogue"
    rows = await store.list_taxonomies(db.sessions, tenant_id=acme)
    assert [(r.version, r.shared, r.shadowed) for r in rows] == [
        ("0.1.0", False, False),
        ("1.0.0", True, True),
    ]
    by_id = await store.load_taxonomy_by_id(
        db.sessions, taxonomy_id=report.taxonomy_id, tenant_id=acme
    )
    assert by_id == own


async def test_another_tenant_sees_neither_taxonomy_nor_overrides(db: Database) -> None:
    acme, globex = await _tenant(db, "acme"), await _tenant(db, "globex")
    own = dataclasses.replace(starter.load(), name="acme-skills")
    mine = await store.import_taxonomy(db.sessions, own, tenant_id=acme)
    shared = await store.import_taxonomy(db.sessions, starter.load(), tenant_id=None)
    await store.set_override(
        db.sessions,
        tenant_id=acme,
        taxonomy_id=mine.taxonomy_id,
        phrase="Snake charming",
        concept_id=PYTHON,
        created_by="hr@acme.example",
    )
    await store.set_override(
        db.sessions,
        tenant_id=acme,
        taxonomy_id=shared.taxonomy_id,
        phrase="Snake charming",
        concept_id=PYTHON,
        created_by="hr@acme.example",
    )

    with pytest.raises(LookupError):
        await store.load_taxonomy(db.sessions, name="acme-skills", tenant_id=globex)
    with pytest.raises(LookupError):
        await store.load_taxonomy(db.sessions, name="acme-skills")
    with pytest.raises(LookupError):
        await store.load_taxonomy_by_id(db.sessions, taxonomy_id=mine.taxonomy_id, tenant_id=globex)
    names = {s.name for s in await store.list_taxonomies(db.sessions, tenant_id=globex)}
    assert names == {"skillproof-starter"}, "only the shared catalogue is listed for globex"
    with pytest.raises(LookupError):
        await store.overrides(db.sessions, tenant_id=globex, taxonomy_id=mine.taxonomy_id)
    with pytest.raises(LookupError):
        await store.set_override(
            db.sessions,
            tenant_id=globex,
            taxonomy_id=mine.taxonomy_id,
            phrase="x",
            concept_id=None,
            created_by="hr@globex.example",
        )
    with pytest.raises(LookupError):
        await store.set_default(db.sessions, globex, mine.taxonomy_id)
    on_shared = await store.overrides(db.sessions, tenant_id=globex, taxonomy_id=shared.taxonomy_id)
    assert on_shared == {}, "acme's overrides on a shared taxonomy stay acme's"


async def test_default_taxonomy_is_set_listed_and_cleared(db: Database) -> None:
    acme = await _tenant(db, "acme")
    report = await store.import_taxonomy(db.sessions, starter.load(), tenant_id=None)
    await store.set_default(db.sessions, acme, report.taxonomy_id)
    rows = await store.list_taxonomies(db.sessions, tenant_id=acme)
    assert [r.is_default for r in rows] == [True]
    await store.set_default(db.sessions, acme, None)
    assert [r.is_default for r in await store.list_taxonomies(db.sessions, tenant_id=acme)] == [
        False
    ]
    with pytest.raises(LookupError):
        await store.set_default(db.sessions, acme, "no-such-taxonomy")


# --- overrides -----------------------------------------------------------------------------------


async def test_overrides_round_trip_under_the_mappers_normalisation(db: Database) -> None:
    acme = await _tenant(db, "acme")
    taxonomy = starter.load()
    report = await store.import_taxonomy(db.sessions, taxonomy, tenant_id=None)
    tid = report.taxonomy_id

    key = await store.set_override(
        db.sessions,
        tenant_id=acme,
        taxonomy_id=tid,
        phrase="  Snake   Charming! ",
        concept_id=SQL,
        created_by="hr@acme.example",
    )
    await store.set_override(
        db.sessions,
        tenant_id=acme,
        taxonomy_id=tid,
        phrase="snake charming",
        concept_id=PYTHON,
        created_by="hr@acme.example",
    )
    await store.set_override(
        db.sessions,
        tenant_id=acme,
        taxonomy_id=tid,
        phrase="Team-building Games",
        concept_id=None,
        created_by="hr@acme.example",
    )
    stored = await store.overrides(db.sessions, tenant_id=acme, taxonomy_id=tid)

    assert key == normalize("Snake charming")
    assert stored == {normalize("snake charming"): PYTHON, normalize("Team-building Games"): None}
    matches = map_claims(
        [SkillClaim(text="Snake Charming", source="name")], taxonomy, overrides=stored
    )
    assert [(m.concept_id, m.method) for m in matches] == [(PYTHON, "override")]
    assert (
        map_claims(
            [SkillClaim(text="team building games", source="name")], taxonomy, overrides=stored
        )
        == []
    ), "an override to nothing makes the mapper abstain"

    with pytest.raises(store.UnknownConcept):
        await store.set_override(
            db.sessions,
            tenant_id=acme,
            taxonomy_id=tid,
            phrase="x",
            concept_id="sp:nope",
            created_by="hr@acme.example",
        )
    assert await store.remove_override(
        db.sessions, tenant_id=acme, taxonomy_id=tid, phrase="SNAKE CHARMING"
    )
    remaining = await store.overrides(db.sessions, tenant_id=acme, taxonomy_id=tid)
    assert list(remaining) == [normalize("Team-building Games")]


# --- refusals ------------------------------------------------------------------------------------


async def test_a_template_the_tables_cannot_rebuild_is_refused_before_writing(
    db: Database,
) -> None:
    original = starter.load()
    template = original.role_templates[0]
    odd = dataclasses.replace(template, title="Not the occupation's label")
    broken = dataclasses.replace(original, role_templates=(odd, *original.role_templates[1:]))
    with pytest.raises(store.UnstorableTaxonomy, match=template.id):
        await store.import_taxonomy(db.sessions, broken, tenant_id=None)
    assert await _versions(db) == 0, "nothing is written when the import is refused"


async def test_template_without_skills_and_obsolete_release_concepts_survive(db: Database) -> None:
    job = Concept(id="x:job", kind=ConceptKind.OCCUPATION, preferred_label="Job", status="active")
    old = Concept(id="x:old", kind=ConceptKind.SKILL, preferred_label="Old", status="obsolete")
    tiny = Taxonomy(
        name="tiny",
        version="1",
        source="test",
        licence="none",
        attribution="",
        concepts={job.id: job, old.id: old},
        role_templates=(RoleTemplate(id="x:job", title="Job"),),
    )
    await store.import_taxonomy(db.sessions, tiny, tenant_id=None)
    assert await store.load_taxonomy(db.sessions, name="tiny") == tiny


# --- the command ---------------------------------------------------------------------------------


def _args(**values: object) -> argparse.Namespace:
    defaults: dict[str, object] = {
        "path": None,
        "name": None,
        "version": None,
        "tenant": None,
        "format": "starter",
    }
    return argparse.Namespace(**{**defaults, **values})


async def test_command_imports_and_lists(db: Database, capsys: pytest.CaptureFixture[str]) -> None:
    await _tenant(db, "acme")
    settings = Settings(database_url=db.url, env="development")  # type: ignore[arg-type]
    code = await asyncio.to_thread(
        command.handler, _args(taxonomy_action="import", tenant="acme", version="9"), settings
    )
    assert code == 0
    out, err = capsys.readouterr()
    assert "imported skillproof-starter@9 (tenant acme)" in out
    assert "storing in the database" in err, "progress is shown on stderr"

    code = await asyncio.to_thread(
        command.handler, _args(taxonomy_action="list", tenant="acme"), settings
    )
    out, _ = capsys.readouterr()
    assert code == 0
    header, row = out.splitlines()
    assert header.split() == ["NAME", "VERSION", "CONCEPTS", "SOURCE", "OWNER", "DEFAULT"]
    assert row.split()[:3] == ["skillproof-starter", "9", "454"]
    assert row.rstrip().endswith("tenant")

    code = await asyncio.to_thread(
        command.handler, _args(taxonomy_action="list", tenant="nobody"), settings
    )
    assert code == 2
    assert "no tenant" in capsys.readouterr().err


def test_command_explains_what_an_import_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(command.CommandError) as missing:
        command.find_importer("europass")
    assert missing.value.code == 2
    assert "the europass importer is not available" in str(missing.value)

    settings = Settings(database_url="sqlite+aiosqlite://", env="development")  # type: ignore[arg-type]
    for values, phrase in (
        ({"format": "csv", "path": tmp_path, "version": "1"}, "the csv importer needs --name"),
        ({"format": "esco"}, "give the PATH of the esco release"),
        ({"format": "esco", "path": tmp_path / "nowhere"}, "does not exist"),
        ({"format": "starter", "path": tmp_path}, "give no PATH"),
    ):
        code = command.handler(_args(taxonomy_action="import", **values), settings)
        assert code == 2, values
        assert phrase in capsys.readouterr().err, values


# --- the full ESCO release -----------------------------------------------------------------------


@pytest.mark.vendor_data
@pytest.mark.slow
async def test_full_esco_release_imports_and_round_trips(db: Database, vendor_data: Path) -> None:
    from taxonomies import esco

    release = esco.load(vendor_data / "taxonomies/esco/v1.1.1")
    started = time.perf_counter()
    report = await store.import_taxonomy(db.sessions, release, tenant_id=None)
    imported = time.perf_counter() - started
    started = time.perf_counter()
    loaded = await store.load_taxonomy(db.sessions, name="esco", version="1.1.1")
    reloaded = time.perf_counter() - started
    print(
        f"\nESCO v1.1.1 on {db.backend}: import {imported:.1f} s"
        f" ({report.concepts} concepts, {report.relations} relations,"
        f" {report.role_templates} templates), load {reloaded:.1f} s"
    )

    assert report.concepts == len(release) > 17_000
    assert sum(1 for _ in release.skills()) > 13_000
    assert sum(1 for _ in release.occupations()) > 2_900
    assert report.relations == len(release.relations) > 120_000
    assert await _rows(db, ConceptRecord, report.taxonomy_id) == len(release)
    assert len(loaded) == len(release)
    assert loaded.relations == release.relations
    assert loaded.role_templates == release.role_templates
    assert loaded == release

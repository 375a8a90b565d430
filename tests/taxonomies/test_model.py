"""Taxonomy model helpers and the invariants every importer enforces."""

from __future__ import annotations

import dataclasses

import pytest

from taxonomies.errors import InvalidTaxonomyError
from taxonomies.model import (
    Concept,
    ConceptKind,
    Relation,
    RelationKind,
    RoleTemplate,
    Taxonomy,
)
from taxonomies.validate import problems, validate


def _taxonomy(concepts: list[Concept], **extra: object) -> Taxonomy:
    return Taxonomy(
        name="t",
        version="1",
        source="tests",
        licence="CC0",
        attribution="test data",
        concepts={c.id: c for c in concepts},
        **extra,  # type: ignore[arg-type]
    )


def _skill(cid: str, *broader: str) -> Concept:
    return Concept(id=cid, kind=ConceptKind.SKILL, preferred_label=cid.title(), broader=broader)


def test_hierarchy_helpers_walk_both_ways() -> None:
    taxonomy = _taxonomy(
        [_skill("root"), _skill("mid", "root"), _skill("leaf", "mid"), _skill("other", "root")]
    )
    assert taxonomy.narrower("root") == ("mid", "other")
    assert taxonomy.broader_chain("leaf") == ("mid", "root"), "nearest ancestor comes first"
    assert taxonomy.broader_chain("root") == ()
    assert [c.id for c in taxonomy.skills()] == ["root", "mid", "leaf", "other"]
    assert taxonomy.key == "t@1"


def test_concept_lookup_names_the_taxonomy_when_missing() -> None:
    taxonomy = _taxonomy([_skill("a")])
    with pytest.raises(KeyError, match="t@1"):
        taxonomy.concept("missing")
    assert taxonomy.get("missing") is None


def test_model_objects_are_frozen() -> None:
    concept = _skill("a")
    with pytest.raises(dataclasses.FrozenInstanceError):
        concept.preferred_label = "b"  # type: ignore[misc]


def test_labels_lists_preferred_first_without_duplicates() -> None:
    concept = Concept(
        id="x",
        kind=ConceptKind.SKILL,
        preferred_label="SQL",
        alt_labels=("structured query language", "SQL"),
        hidden_labels=("sequel",),
    )
    assert concept.labels() == ("SQL", "structured query language", "sequel")


def test_validation_reports_dangling_references_and_cycles() -> None:
    occupation = Concept(id="job", kind=ConceptKind.OCCUPATION, preferred_label="Job")
    taxonomy = _taxonomy(
        [_skill("a", "b"), _skill("b", "a"), _skill("c", "nowhere"), occupation],
        relations=(
            Relation(source="ghost", target="job", kind=RelationKind.ESSENTIAL_FOR),
            Relation(source="http://x/1", target="c", kind=RelationKind.CROSSWALK),
        ),
        role_templates=(RoleTemplate(id="job", title="Job", essential=("missing", "job")),),
    )
    found = problems(taxonomy)
    assert any("unknown broader concept nowhere" in p for p in found), found
    assert any("unknown concept ghost" in p for p in found), found
    assert not any("http://x/1" in p for p in found), "a crosswalk source is a foreign id"
    assert any("role template job refers to unknown concept missing" in p for p in found)
    assert any("lists occupation job as a skill" in p for p in found)
    assert any("broader cycle" in p for p in found), found
    with pytest.raises(InvalidTaxonomyError) as raised:
        validate(taxonomy)
    assert len(raised.value.problems) == len(found)


def test_a_valid_taxonomy_passes_unchanged() -> None:
    taxonomy = _taxonomy([_skill("a"), _skill("b", "a")])
    assert validate(taxonomy) is taxonomy

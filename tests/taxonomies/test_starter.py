"""The starter taxonomy shipped with Skillproof: size, coverage, shape and validity."""

from __future__ import annotations

import csv
import io
from collections import Counter
from importlib import resources

from taxonomies import starter
from taxonomies.model import ConceptKind, RelationKind
from taxonomies.validate import problems


def test_starter_loads_valid_with_manifest_metadata() -> None:
    taxonomy = starter.load()
    assert taxonomy.name == "skillproof-starter"
    assert taxonomy.version == "1.0.0"
    assert taxonomy.licence == "CC BY 4.0 Skillproof"
    assert taxonomy.attribution, "attribution is shown wherever taxonomy data is displayed"
    assert problems(taxonomy) == []


def test_starter_has_enough_skills_in_every_domain() -> None:
    taxonomy = starter.load()
    leaves = [c for c in taxonomy.skills() if c.reuse_level != "group"]
    assert len(leaves) >= 300, f"only {len(leaves)} skills"
    domains = Counter(taxonomy.broader_chain(c.id)[-1] for c in leaves if c.broader)
    for domain in (
        "data",
        "software",
        "cloud-security",
        "project-management",
        "business",
        "healthcare",
        "education",
    ):
        assert domains[f"sp:group/{domain}"] >= 15, f"{domain} has {domains[f'sp:group/{domain}']}"


def test_every_skill_is_described_labelled_and_placed() -> None:
    taxonomy = starter.load()
    for concept in taxonomy.skills():
        assert concept.kind in (ConceptKind.SKILL, ConceptKind.KNOWLEDGE), concept.id
        assert concept.description, concept.id
        assert concept.description.endswith("."), concept.id
        if concept.id.startswith("sp:skill/"):
            assert concept.alt_labels, f"{concept.id} has no alternative label"
            assert concept.broader, f"{concept.id} is not placed in the hierarchy"


def test_spelling_variants_and_acronyms_are_labels() -> None:
    taxonomy = starter.load()
    visualisation = taxonomy.concept("sp:skill/data-visualisation")
    assert "data visualization" in visualisation.alt_labels
    assert "AWS" in taxonomy.concept("sp:skill/aws").alt_labels


def test_role_templates_are_occupations_with_skill_relations() -> None:
    taxonomy = starter.load()
    assert len(taxonomy.role_templates) >= 20
    essential = Counter(r.target for r in taxonomy.relations_of(RelationKind.ESSENTIAL_FOR))
    for template in taxonomy.role_templates:
        assert 4 <= len(template.essential) <= 8, template.id
        assert 3 <= len(template.optional) <= 8, template.id
        assert taxonomy.concept(template.id).kind is ConceptKind.OCCUPATION
        assert essential[template.id] == len(template.essential)
        assert taxonomy.role_template(template.id) is template
    titles = {t.title for t in taxonomy.role_templates}
    assert {"Data analyst", "Registered nurse", "Scrum master", "Medical coder"} <= titles


def test_ids_in_data_files_are_unique() -> None:
    text = resources.files("taxonomies.starter").joinpath("data", "concepts.csv").read_text()
    ids = [row["id"] for row in csv.DictReader(io.StringIO(text))]
    assert len(ids) == len(set(ids))


def test_crosswalk_targets_resolve() -> None:
    taxonomy = starter.load()
    crosswalk = list(taxonomy.relations_of(RelationKind.CROSSWALK))
    assert crosswalk, "the starter ships a small ESCO crosswalk"
    assert all(r.target in taxonomy.concepts for r in crosswalk)

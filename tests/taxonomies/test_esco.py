"""ESCO v1.1.1 import from the shared vendor data: counts, labels, hierarchy, relations, speed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from taxonomies import esco
from taxonomies.errors import TaxonomySourceError
from taxonomies.index import LabelIndex
from taxonomies.model import ConceptKind, RelationKind, Taxonomy

PYTHON = "http://data.europa.eu/esco/skill/ccd0a1d9-afda-43d9-b901-96344886e14d"


@pytest.fixture(scope="module")
def release(vendor_data: Path) -> Taxonomy:
    return esco.load(vendor_data / "taxonomies" / "esco" / "v1.1.1")


@pytest.mark.vendor_data
def test_full_release_reports_progress_by_stage(vendor_data: Path) -> None:
    """How long it takes is bench/taxonomy_import.py's to measure, not a test's."""
    stages: set[str] = set()
    taxonomy = esco.load(
        vendor_data / "taxonomies" / "esco" / "v1.1.1",
        progress=lambda stage, done, total: stages.add(stage),
    )
    assert {"ESCO skills", "ESCO occupations", "ESCO occupation skills"} <= stages
    assert taxonomy.key == "esco@1.1.1"


@pytest.mark.vendor_data
def test_counts_match_the_release(release: Taxonomy) -> None:
    skills = [c for c in release.skills() if c.reuse_level != "group"]
    assert len(skills) == 13_896
    assert len(list(release.occupations())) == 3_007
    essential = sum(1 for _ in release.relations_of(RelationKind.ESSENTIAL_FOR))
    optional = sum(1 for _ in release.relations_of(RelationKind.OPTIONAL_FOR))
    # 67 of the 123,855 rows name a skill or occupation that the classification files lack.
    assert (essential, optional) == (64_946 - 55, 58_909 - 12)
    assert sum(len(c.alt_labels) for c in skills) == 97_483


@pytest.mark.vendor_data
def test_concepts_keep_labels_hierarchy_and_attribution(release: Taxonomy) -> None:
    python = release.concept(PYTHON)
    assert python.preferred_label == "Python (computer programming)"
    assert python.kind is ConceptKind.KNOWLEDGE
    assert python.broader, "skills hang under skill groups"
    assert all(release.get(parent) for parent in release.broader_chain(PYTHON))
    assert "ESCO classification of the European Commission" in release.attribution
    assert "v1.1.1" in release.attribution
    occupation = next(release.occupations())
    template = release.role_template(occupation.id)
    assert template is not None
    assert template.essential, "occupations carry their essential skills"


@pytest.mark.vendor_data
def test_esco_labels_are_searchable(release: Taxonomy) -> None:
    index = LabelIndex.build(release, groups=False)
    assert index.search("python")[0].concept_id == PYTHON
    assert index.search("Python (computer programming)")[0].method == "exact"


def test_missing_release_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(TaxonomySourceError, match="skills_en.csv"):
        esco.load(tmp_path / "v1.1.1")


def test_a_release_cut_short_is_refused(vendor_data: Path, tmp_path: Path) -> None:
    """A download that stopped mid-file must not import as a smaller release."""
    source = vendor_data / "taxonomies" / "esco" / "v1.1.1"
    copy = tmp_path / "v1.1.1"
    shutil.copytree(source, copy)
    [skills] = copy.rglob("skills_en.csv")
    data = skills.read_bytes()
    skills.write_bytes(data[: len(data) // 3])
    with pytest.raises(TaxonomySourceError, match="skills_en.csv: line .*cut short"):
        esco.load(copy, with_relations=False)

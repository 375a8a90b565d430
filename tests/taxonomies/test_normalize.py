"""Normalisation makes labels and credential titles comparable."""

from __future__ import annotations

import pytest

from taxonomies.normalize import AcronymMap, clean_query, normalize, strip_parentheticals


@pytest.mark.parametrize(
    ("british", "american"),
    [
        ("Data Visualisation", "data visualization"),
        ("organisational behaviour", "organizational behavior"),
        ("analyse", "analyze"),
        ("Modelling", "modeling"),
        ("paediatric anaesthesia", "pediatric anesthesia"),
        ("haematology centre", "hematology center"),
        ("licence", "license"),
        ("catalogue programme", "catalog program"),
    ],
)
def test_british_and_american_spellings_meet(british: str, american: str) -> None:
    assert normalize(british) == normalize(american) == american


def test_ise_words_that_are_not_spelling_variants_are_kept() -> None:
    assert normalize("exercise supervision advertising expertise") == (
        "exercise supervision advertising expertise"
    )


def test_unicode_case_and_punctuation() -> None:
    assert normalize("ＳＱＬ – Queries!") == "sql queries"
    assert normalize("Bloom’s taxonomy") == "blooms taxonomy"
    assert normalize("e-Learning") == normalize("elearning")


def test_programming_language_names_survive_punctuation_removal() -> None:
    assert normalize("C++ and C#") == "cplusplus and csharp"
    assert normalize("C") != normalize("C++")
    assert normalize(".NET Core") == "dotnet core"
    assert normalize("Node.js") == "nodejs"


def test_parentheticals_are_removed_but_never_everything() -> None:
    assert strip_parentheticals("Python (computer programming)") == "Python"
    assert strip_parentheticals("(ISC)") == "(ISC)"


@pytest.mark.parametrize(
    ("title", "cleaned"),
    [
        ("Introduction to Data Visualisation with Tableau", "data visualization with tableau"),
        ("AWS Certified Solutions Architect – Associate", "aws solutions architect"),
        ("Python for Everybody", "python"),
        ("Certified ScrumMaster", "scrummaster"),
        ("Infection Prevention and Control Level 2", "infection prevention and control"),
        ("Google Data Analytics Professional Certificate", "google data analytics"),
        ("Fundamentals of Agile Project Management", "agile project management"),
        ("CS101: Programming in Python (2023)", "programming in python"),
        ("Deep Learning Fundamentals", "deep learning"),
    ],
)
def test_course_title_filler_is_dropped(title: str, cleaned: str) -> None:
    assert clean_query(title) == cleaned


def test_a_title_that_is_all_filler_is_kept() -> None:
    assert clean_query("Certificate") == "certificate"


def test_acronyms_defined_by_the_labels_expand_and_collapse() -> None:
    acronyms = AcronymMap.from_label_sets(
        [("Amazon Web Services", "AWS"), ("SQL", "structured query language"), ("Excel",)]
    )
    assert acronyms.expansions == {
        "aws": "amazon web services",
        "sql": "structured query language",
    }
    assert acronyms.variants("aws lambda") == ["amazon web services lambda"]
    assert acronyms.variants("amazon web services lambda") == ["aws lambda"]
    assert acronyms.variants("excel") == []


def test_an_acronym_with_two_expansions_is_left_alone() -> None:
    acronyms = AcronymMap.from_label_sets(
        [("PM", "project management"), ("PM", "product management")]
    )
    assert "pm" not in acronyms.expansions

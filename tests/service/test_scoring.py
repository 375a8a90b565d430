"""Scoring is deterministic, explains itself, and never lets unverified evidence count."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from service.scoring import (
    Band,
    CredentialTally,
    Evidence,
    ProfileSpec,
    RequirementSpec,
    score,
)

NOW = datetime(2026, 6, 1, tzinfo=UTC)

PROFILE = ProfileSpec(
    profile_id="p1",
    name="Data Analyst",
    version=3,
    taxonomy="starter",
    taxonomy_version="1.0",
    requirements=(
        RequirementSpec(concept_id="sql", label="SQL", importance="essential"),
        RequirementSpec(
            concept_id="viz",
            label="Data visualisation",
            importance="essential",
            accepted_concepts=frozenset({"tableau"}),
        ),
        RequirementSpec(concept_id="python", label="Python", importance="optional"),
    ),
)
TALLY = CredentialTally(verified=2, rejected=0, indeterminate=0)


def evidence(concept: str, ref: str, **kw: object) -> Evidence:
    base: dict[str, object] = dict(
        concept_id=concept,
        concept_label=concept,
        mapping_confidence=1.0,
        mapping_method="alignment",
        credential_ref=ref,
        credential_name=f"badge {ref}",
        issuer_name="Northbridge",
        issuer_tier="accredited_institution",
        assessed=True,
    )
    base.update(kw)
    return Evidence(**base)  # type: ignore[arg-type]


def test_contributions_add_up_to_the_score() -> None:
    outcome = score(
        PROFILE, [evidence("sql", "a"), evidence("tableau", "b")], now=NOW, credentials=TALLY
    )
    total = sum(c.points for c in outcome.contributions)
    assert abs(total - outcome.score) <= 0.5, "the explanation must account for the whole score"
    assert outcome.gaps == (), "both essentials are evidenced (Tableau counts for visualisation)"
    assert {c.label for c in outcome.contributions if c.coverage > 0} == {
        "SQL",
        "Data visualisation",
    }


def test_same_inputs_same_score_in_any_order() -> None:
    items = [
        evidence("sql", "a"),
        evidence("python", "c", mapping_confidence=0.7),
        evidence("viz", "b"),
    ]
    first = score(PROFILE, items, now=NOW, credentials=TALLY)
    second = score(PROFILE, list(reversed(items)), now=NOW, credentials=TALLY)
    assert first.explanation() == second.explanation()


def test_more_verified_skills_never_lower_the_score() -> None:
    base = score(PROFILE, [evidence("sql", "a")], now=NOW, credentials=TALLY)
    more = score(
        PROFILE, [evidence("sql", "a"), evidence("python", "c")], now=NOW, credentials=TALLY
    )
    assert more.score >= base.score


def test_missing_essentials_are_gaps_and_block_strong() -> None:
    outcome = score(PROFILE, [evidence("python", "c")], now=NOW, credentials=TALLY)
    assert set(outcome.gaps) == {"SQL", "Data visualisation"}
    assert outcome.band is not Band.STRONG


def test_no_verified_credentials_is_insufficient_evidence_not_a_rejection() -> None:
    outcome = score(
        PROFILE,
        [],
        now=NOW,
        credentials=CredentialTally(
            verified=0, rejected=2, indeterminate=0, reasons=("proof: signature invalid",)
        ),
    )
    assert outcome.score == 0
    assert outcome.band is Band.INSUFFICIENT_EVIDENCE
    assert "never rejects" in outcome.explanation()["policy"]
    assert "not a decision" in outcome.summary


def test_expired_evidence_does_not_count() -> None:
    outcome = score(
        PROFILE,
        [evidence("sql", "a", valid_until=NOW - timedelta(days=1))],
        now=NOW,
        credentials=TALLY,
    )
    assert outcome.score == 0


def test_one_credential_counts_once_per_requirement() -> None:
    twice = score(
        PROFILE,
        [evidence("sql", "a"), evidence("sql", "a", mapping_method="lexical")],
        now=NOW,
        credentials=TALLY,
    )
    once = score(PROFILE, [evidence("sql", "a")], now=NOW, credentials=TALLY)
    assert twice.score == once.score


def test_versions_are_recorded() -> None:
    outcome = score(PROFILE, [], now=NOW, credentials=TALLY, versions={"mapping": "m1"})
    assert outcome.versions["profile"] == "p1@v3"
    assert outcome.versions["taxonomy"] == "starter@1.0"
    assert outcome.versions["mapping"] == "m1"
    assert outcome.versions["algorithm"].startswith("skillproof-scoring/")


def test_weaker_evidence_weighs_less() -> None:
    strong = evidence("sql", "a")
    weak = evidence("sql", "a", issuer_tier="unknown", assessed=None, mapping_confidence=0.6)
    assert weak.strength() < strong.strength() <= 1.0


def test_the_summary_ends_each_sentence_and_clips_long_reasons_at_a_word() -> None:
    long_reason = "proof: " + "the signature does not match the document " * 6
    tally = CredentialTally(
        verified=1,
        rejected=2,
        indeterminate=0,
        reasons=("expired: validUntil passed.", long_reason),
    )
    outcome = score(PROFILE, [evidence("sql", "c1")], now=NOW, credentials=tally)
    assert outcome.summary == (
        "Skillproof match for Data Analyst: 43/100 (partial). 1 of 3 credentials verified."
        " 2 not accepted: expired: validUntil passed; proof: the signature does not match the"
        " document the signature does not match the document the signature does not"
        " match… Evidenced skills: SQL. No verified evidence yet for: Data visualisation."
        " This score informs a human reviewer; it is not a decision."
    ), outcome.summary

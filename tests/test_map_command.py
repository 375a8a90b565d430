"""`skillproof map` and `skillproof occupations` on the starter taxonomy (lexical, no model)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from service.commands import map as map_command
from service.settings import Environment, Settings


def _run(argv: list[str], tmp_path: Path) -> int:
    parser = argparse.ArgumentParser(prog="skillproof")
    subparsers = parser.add_subparsers(required=True)
    map_command.register(subparsers)
    args = parser.parse_args(argv)
    settings = Settings(env=Environment.DEVELOPMENT, data_dir=tmp_path)
    code: int = args.handler(args, settings)
    return code


def test_map_prints_matches_and_attribution(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(["map", "Certified ScrumMaster", "--no-semantic"], tmp_path) == 0
    out = capsys.readouterr().out
    assert "sp:skill/scrum" in out
    assert "Skillproof starter skills taxonomy" in out, "attribution is shown with the data"


def test_map_batch_json_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    phrases = tmp_path / "phrases.txt"
    phrases.write_text(
        "Python for Everybody\n\nasdfgh\nIntroduction to Data Visualisation with Tableau\n",
        encoding="utf-8",
    )
    assert _run(["map", "--batch", str(phrases), "--json", "--no-semantic"], tmp_path) == 0
    captured = capsys.readouterr()
    lines = [json.loads(line) for line in captured.out.splitlines()]
    assert [line["query"] for line in lines] == [
        "Python for Everybody",
        "asdfgh",
        "Introduction to Data Visualisation with Tableau",
    ]
    assert lines[0]["matches"][0]["concept_id"] == "sp:skill/python-programming"
    assert set(lines[0]["matches"][0]) == {"concept_id", "label", "score", "method"}
    assert lines[1]["matches"] == [], "abstaining gives an empty list"
    ids = {m["concept_id"] for m in lines[2]["matches"]}
    assert {"sp:skill/data-visualisation", "sp:skill/tableau"} <= ids
    assert "semantic matching is off" in captured.err


def test_occupations_ranks_titles_and_drafts_a_profile(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["occupations", "Senior Data Analyst", "--json", "--profile", "--no-semantic"]
    assert _run(argv, tmp_path) == 0
    [line] = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert line["matches"][0]["concept_id"] == "sp:occupation/data-analyst"
    assert ["sp:skill/sql", "SQL"] in line["profile"]["essential"]


def test_an_unrelated_title_gets_no_zero_score_padding(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(["occupations", "Ward Sister", "--json", "--top", "10"], tmp_path) == 0
    [line] = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert all(match["score"] > 0 for match in line["matches"]), line["matches"]


def test_a_batch_file_that_is_not_utf8_is_refused_clearly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    phrases = tmp_path / "phrases.txt"
    phrases.write_bytes("Gesch\u00e4ftsf\u00fchrer\n".encode("latin-1"))
    assert _run(["map", "--batch", str(phrases), "--no-semantic"], tmp_path) == 2
    assert "not UTF-8" in capsys.readouterr().err


@pytest.mark.parametrize("top", ["0", "-1", "many"])
def test_top_must_be_a_positive_number(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], top: str
) -> None:
    with pytest.raises(SystemExit) as usage:
        _run(["map", "sql", "--top", top], tmp_path)
    assert usage.value.code == 2
    assert "--top" in capsys.readouterr().err


def test_missing_input_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["map"], tmp_path) == 2
    assert "--batch" in capsys.readouterr().err


def test_occupations_learn_from_a_choices_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    choices = tmp_path / "choices.csv"
    choices.write_text(
        "title,occupation_id\nAccount cum Admin Executive,sp:occupation/accountant\n",
        encoding="utf-8",
    )
    argv = ["occupations", "Account cum Admin Executive", "--json", "--no-semantic"]
    assert _run(argv, tmp_path) == 0
    [plain] = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert plain["matches"][0]["concept_id"] != "sp:occupation/accountant"
    assert _run([*argv, "--choices", str(choices)], tmp_path) == 0
    [learned] = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert learned["matches"][0] == {
        "concept_id": "sp:occupation/accountant",
        "label": "Accountant",
        "score": 1.0,
        "method": "confirmed",
    }
    bad = tmp_path / "bad.csv"
    bad.write_text("title,concept\nx,y\n", encoding="utf-8")
    assert _run([*argv, "--choices", str(bad)], tmp_path) == 2
    assert "missing column(s) occupation_id" in capsys.readouterr().err


def test_choices_of_unknown_occupations_are_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    choices = tmp_path / "choices.csv"
    choices.write_text(
        "title,occupation_id\n"
        "Bookkeeper,sp:occupation/accountant\n"
        "Ward Sister,sp:occupation/ward-sister\n",
        encoding="utf-8",
    )
    argv = ["occupations", "Bookkeeper", "--json", "--no-semantic", "--choices", str(choices)]
    assert _run(argv, tmp_path) == 0
    err = capsys.readouterr().err
    assert "1 of 2 choices name no occupation" in err
    assert "sp:occupation/ward-sister" in err

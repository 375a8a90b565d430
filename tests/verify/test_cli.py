"""`skillproof verify`: one result per input, JSON lines, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from service import cli
from service.verify.contexts import ContextStore
from tests.verify.builders import Issuer
from tests.verify.test_inputs import png_with_itxt

pytestmark = pytest.mark.vendor_data


@pytest.fixture
def configured(
    monkeypatch: pytest.MonkeyPatch, vendored_contexts_dir: Path, tmp_path: Path
) -> Path:
    """Settings from the environment, pointing at the synced context store."""
    monkeypatch.setenv("SKILLPROOF_ENV", "development")
    monkeypatch.setenv("SKILLPROOF_CONTEXTS_DIR", str(vendored_contexts_dir))
    monkeypatch.setenv("SKILLPROOF_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/cli.db")
    return tmp_path


def test_json_lines_one_per_input(
    configured: Path, vendored_contexts: ContextStore, capsys: pytest.CaptureFixture[str]
) -> None:
    issuer = Issuer.fresh(vendored_contexts)
    good = configured / "badge.json"
    good.write_text(json.dumps(issuer.sign(issuer.ob3())))
    baked = configured / "badge.png"
    baked.write_bytes(png_with_itxt(good.read_text()))
    junk = configured / "junk.json"
    junk.write_text("this is not a credential")

    code = cli.main(
        [
            "verify",
            str(good),
            str(baked),
            str(junk),
            "--json",
            "--now",
            "2026-06-01T00:00:00Z",
            "--holder",
            "a@example.com",
        ]
    )

    assert code == 0, "every input was processed, whatever the verdicts"
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["input"] for line in lines] == [str(good), str(baked), str(junk)]
    assert [line["verdict"] for line in lines] == ["verified", "verified", "rejected"]
    holder = next(c for c in lines[0]["checks"] if c["id"] == "holder")
    assert holder["outcome"] == "pass"
    assert lines[2]["checks"][0]["id"] == "parse"


def test_human_output(
    configured: Path, vendored_contexts: ContextStore, capsys: pytest.CaptureFixture[str]
) -> None:
    issuer = Issuer.fresh(vendored_contexts)
    path = configured / "badge.json"
    path.write_text(json.dumps(issuer.sign(issuer.ob3())))

    assert cli.main(["verify", str(path), "--now", "2026-06-01T00:00:00+00:00"]) == 0

    out = capsys.readouterr().out
    assert "VERIFIED" in out
    assert "achievement: Data Analysis with Python" in out


def test_unreadable_file_exits_2(configured: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["verify", str(configured / "missing.json")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_bad_now_is_a_usage_error(configured: Path) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["verify", "x.json", "--now", "last tuesday"])
    assert exit_info.value.code == 2

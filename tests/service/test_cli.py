"""`skillproof migrate`: a database that cannot be used is one clear line, not a traceback."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.cli import main


@pytest.fixture(autouse=True)
def development(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The CLI configures logging for the process; the suite's own handlers come back after."""
    monkeypatch.setenv("SKILLPROOF_ENV", "development")
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def _migrate(monkeypatch: pytest.MonkeyPatch, url: str) -> int:
    monkeypatch.setenv("SKILLPROOF_DATABASE_URL", url)
    return main(["migrate"])


def test_migrate_creates_and_upgrades_a_new_sqlite_database(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/new/folder/skillproof.db"
    assert _migrate(monkeypatch, url) == 0
    assert _migrate(monkeypatch, url) == 0, "migrating twice changes nothing"
    assert "latest schema" in capsys.readouterr().out
    assert (tmp_path / "new" / "folder" / "skillproof.db").is_file()


@pytest.mark.parametrize(
    ("url", "code", "phrase"),
    [
        ("notaurl", 2, "must start with sqlite+aiosqlite://"),
        ("mysql://user@host/db", 2, "must start with"),
        ("postgresql+asyncpg://nobody@127.0.0.1:9/none", 1, "cannot use the database"),
        ("sqlite+aiosqlite:////proc/no/such/folder/x.db", 1, "cannot create the folder"),
    ],
    ids=["not-a-url", "unsupported-driver", "nothing-listening", "folder-cannot-exist"],
)
def test_a_database_that_cannot_be_used_is_one_clear_line(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    url: str,
    code: int,
    phrase: str,
) -> None:
    assert _migrate(monkeypatch, url) == code
    err = capsys.readouterr().err
    assert phrase in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err


def test_a_file_that_is_not_a_database_is_named(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bogus = tmp_path / "notes.db"
    bogus.write_text("these are my notes, not a database\n" * 200, encoding="utf-8")
    assert _migrate(monkeypatch, f"sqlite+aiosqlite:///{bogus}") == 1
    assert "not a database" in capsys.readouterr().err

"""Onboarding an employer from the command line: tenant, API keys and ATS connections."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import sqlite3
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlmodel import col, select

from service.cli import main
from service.db import schema_head
from service.models import ApiKey, AuditEvent, Connection
from tests.conftest import Database
from tests.service.support import SECRET, Api

UNMIGRATED = "the database schema is not up to date: run `skillproof migrate`"


@pytest.fixture(autouse=True)
def development(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The CLI configures logging for the process; the suite's own handlers come back after."""
    monkeypatch.setenv("SKILLPROOF_ENV", "development")
    monkeypatch.setenv("SKILLPROOF_SECRET_KEY", SECRET)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


class Cli:
    """Runs `skillproof ...` against one database, off the test's event loop as a shell would."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
        self.monkeypatch, self.capsys = monkeypatch, capsys

    async def __call__(self, *argv: str, stdin: str = "") -> tuple[int, str, str]:
        self.monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        self.capsys.readouterr()
        code = await asyncio.to_thread(main, list(argv))
        out, err = self.capsys.readouterr()
        return code, out, err


@pytest.fixture
def cli(api: Api, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Cli:
    monkeypatch.setenv("SKILLPROOF_DATABASE_URL", str(api.runtime.settings.database_url))
    return Cli(monkeypatch, capsys)


async def _audit_actions(api: Api, tenant_id: str) -> list[str]:
    async with api.runtime.sessions() as session:
        query = select(AuditEvent).where(AuditEvent.tenant_id == tenant_id)
        return [e.action for e in (await session.exec(query.order_by(col(AuditEvent.seq)))).all()]


async def test_an_employer_is_onboarded_and_its_revoked_key_stops_working(
    api: Api, cli: Cli
) -> None:
    code, out, err = await cli("tenant", "create", "Initech Ltd", "--json")
    assert code == 0, err
    tenant = json.loads(out)
    assert tenant["slug"] == "initech-ltd"
    code, _, err = await cli("tenant", "create", "initech ltd")
    assert code == 2, "a second tenant with the same name is refused"
    assert err.strip().splitlines() == [
        f"skillproof tenant create: a tenant named 'Initech Ltd' with slug 'initech-ltd'"
        f" already exists (id {tenant['id']})"
    ]
    code, out, _ = await cli("tenant", "list", "--json")
    assert tenant["id"] in out

    code, out, err = await cli("keys", "issue", "--tenant", "initech-ltd", "--expires-days", "30")
    assert code == 0, err
    token = out.strip().splitlines()[-1]
    assert token.startswith("sp_"), out
    bearer = {"Authorization": f"Bearer {token}"}
    response = await api.client.get("/api/v1/applications", headers=bearer)
    assert response.status == 200, "the issued key authenticates against the real app"
    signed_in = await api.client.post("/login", data={"key": token}, allow_redirects=False)
    assert signed_in.status == 303

    code, out, _ = await cli("keys", "list", "--tenant", tenant["id"], "--json")
    [listed] = [json.loads(line) for line in out.splitlines()]
    assert token not in out, "a key is shown once, never listed"
    assert token.startswith(listed["prefix"])
    assert listed["revoked_at"] is None
    assert listed["expires_at"] is not None

    code, out, err = await cli("keys", "revoke", listed["id"], "--tenant", "initech-ltd")
    assert code == 0, err
    response = await api.client.get("/api/v1/applications", headers=bearer)
    assert response.status == 401, "a revoked key no longer authenticates"
    page = await api.client.get("/", allow_redirects=False)
    assert page.status == 303, "the browser session opened with the key ended with it"
    assert await _audit_actions(api, tenant["id"]) == ["issue_api_key", "revoke_api_key"]


@pytest.mark.parametrize("via", ["stdin", "env"])
async def test_an_ats_secret_is_stored_sealed_and_never_printed(
    api: Api, cli: Cli, monkeypatch: pytest.MonkeyPatch, via: str
) -> None:
    secret = f"ats-secret-{via}-Zq81xWv"
    if via == "env":
        monkeypatch.setenv("ACME_ATS_KEY", secret)
        extra, stdin = ["--secret-env", "ACME_ATS_KEY"], ""
    else:
        extra, stdin = [], secret + "\n"
    code, out, err = await cli(
        "connections",
        "add",
        "--tenant",
        "acme",
        "--kind",
        "sandbox",
        "--base-url",
        "https://ats.example.com/",
        *extra,
        stdin=stdin,
    )
    assert code == 0, err
    connection_id = out.strip()
    assert secret not in out + err, "the ATS key is never echoed"

    async with api.runtime.sessions() as session:
        row = await session.get(Connection, connection_id)
    assert row is not None
    assert row.tenant_id == api.acme.tenant_id
    assert row.secret_ciphertext is not None
    assert row.secret_key_id is not None
    assert secret.encode() not in row.secret_ciphertext, "stored sealed, not in plaintext"
    opened = api.runtime.secrets.open(
        row.secret_ciphertext,
        key_id=row.secret_key_id,
        tenant_id=row.tenant_id,
        connection_id=row.id,
    )
    assert opened == {"api_key": secret}, "the connector gets the key back"
    assert row.base_url == "https://ats.example.com"

    code, out, err = await cli("connections", "list", "--tenant", "acme", "--json")
    assert code == 0
    assert secret not in out + err
    assert [json.loads(line)["id"] for line in out.splitlines()] == [connection_id]
    code, out, err = await cli("connections", "disable", connection_id, "--tenant", "acme")
    assert code == 0, err
    async with api.runtime.sessions() as session:
        row = await session.get(Connection, connection_id)
    assert row is not None
    assert not row.enabled
    assert await _audit_actions(api, api.acme.tenant_id) == ["add_connection", "disable_connection"]


async def test_a_missing_ats_secret_is_refused(api: Api, cli: Cli) -> None:
    add = ["connections", "add", "--tenant", "acme", "--kind", "sandbox", "--base-url"]
    code, _, err = await cli(*add, "https://ats.example.com", stdin="")
    assert code == 2, err
    assert "no ATS API key" in err, err
    code, _, err = await cli(*add, "https://ats.example.com", "--secret-env", "NOT_SET_ANYWHERE")
    assert code == 2, err
    assert "NOT_SET_ANYWHERE" in err, err
    async with api.runtime.sessions() as session:
        assert not (await session.exec(select(Connection))).all(), "nothing half-made is stored"


async def test_another_tenants_keys_and_connections_are_not_found(api: Api, cli: Cli) -> None:
    async with api.runtime.sessions() as session:
        acme_key = (
            await session.exec(select(ApiKey).where(ApiKey.tenant_id == api.acme.tenant_id))
        ).one()
    code, _, err = await cli("keys", "revoke", acme_key.id, "--tenant", "globex")
    assert code == 2, err
    assert "has no API key" in err, err
    response = await api.client.get("/api/v1/applications", headers=api.auth(api.acme))
    assert response.status == 200, "acme's key survives globex's attempt to revoke it"
    code, out, _ = await cli("keys", "list", "--tenant", "globex", "--json")
    assert acme_key.id not in out
    assert acme_key.prefix not in out

    code, out, err = await cli(
        "connections",
        "add",
        "--tenant",
        "acme",
        "--kind",
        "sandbox",
        "--base-url",
        "https://ats.example.com",
        stdin="k",
    )
    assert code == 0, err
    code, _, err = await cli("connections", "disable", out.strip(), "--tenant", "globex")
    assert code == 2, err
    assert "has no connection" in err, err
    code, out, _ = await cli("connections", "list", "--tenant", "globex")
    assert "no connections" in out

    code, _, err = await cli("keys", "list", "--tenant", "no-such-employer")
    assert code == 2, "an unknown tenant is a usage error"
    assert err.strip() == (
        "skillproof keys list: no tenant 'no-such-employer': give its slug or id"
        " (see `skillproof tenant list`)"
    )


async def test_an_unmigrated_database_says_to_run_migrate(
    db: Database, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SKILLPROOF_DATABASE_URL", db.url)
    cli = Cli(monkeypatch, capsys)
    async with db.engine.begin() as connection:
        await connection.execute(text("DELETE FROM alembic_version"))
    code, _, err = await cli("tenant", "list")
    assert (code, err.strip()) == (1, f"skillproof: {UNMIGRATED}"), err

    # A schema that claims the head but lacks a table still gets the advice, not raw SQL.
    async with db.engine.begin() as connection:
        await connection.execute(
            text("INSERT INTO alembic_version (version_num) VALUES (:head)"),
            {"head": schema_head()},
        )
    await db.engine.dispose()
    if db.backend == "sqlite":
        with sqlite3.connect(db.url.removeprefix("sqlite+aiosqlite:///")) as raw:
            raw.execute("DROP TABLE api_keys")
    else:
        async with db.engine.begin() as connection:
            await connection.execute(text("DROP TABLE api_keys CASCADE"))
    code, out, err = await cli("tenant", "create", "Acme")
    assert code == 0, err
    code, _, err = await cli("keys", "list", "--tenant", "acme")
    assert (code, err.strip()) == (1, f"skillproof: {UNMIGRATED}"), err

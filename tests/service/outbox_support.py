"""Builders for outbox and scheduler tests: runtime, tenant, sandbox connection, queued matches.

Shared by the test modules and by `crash_drainer.py`, which runs a drainer in a child process,
so everything here works from plain asyncio code as well as from pytest.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import col, select

from connectors.ats.sandbox import HASH_FIELD, note_marker
from connectors.ats.sandbox_state import SandboxState
from connectors.base import AtsConnector, MatchUpdate, PushReceipt
from service.catalog import TaxonomyCatalog
from service.db import unit_of_work
from service.models import Connection, DeliveryAttempt, OutboxMessage, Tenant
from service.pipeline import payload_hash
from service.repositories import outbox as outbox_repo
from service.runtime import Runtime, open_runtime
from service.settings import Settings

# Fixed instant every test clock starts from; nothing here reads the wall clock.
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
# Long and distinctive, so a leak into a stored error is unmistakable.
SECRET_KEY = "outbox-tests-secret-key-3f9a1c7e5b2d4086a1c3e5f7"
# No in-call retries: every failure surfaces to the outbox, which is what these tests are about
# (the connector's own retries have their own tests).
CONNECTION_OPTIONS: Mapping[str, Any] = {"timeout_seconds": 5, "max_attempts": 1}


class FakeClock:
    """An injectable clock that only moves when told to."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now

    def set(self, moment: datetime) -> None:
        self.now = moment


def settings_for(database_url: str) -> Settings:
    return Settings(env="development", database_url=database_url, secret_key=SECRET_KEY)


@asynccontextmanager
async def open_test_runtime(database_url: str) -> AsyncIterator[Runtime]:
    """A real runtime on `database_url`; an empty taxonomy catalogue, since draining needs none."""
    async with open_runtime(settings_for(database_url), catalog=TaxonomyCatalog()) as runtime:
        yield runtime


@dataclass(frozen=True, kw_only=True)
class Account:
    """One tenant with one ATS connection pointing at a loopback sandbox."""

    tenant_id: str
    connection_id: str


async def seed_account(
    runtime: Runtime,
    *,
    base_url: str,
    api_key: str,
    provider: str = "sandbox",
    slug: str = "acme",
    options: Mapping[str, Any] | None = None,
    status: str = "ok",
) -> Account:
    """A tenant and its ATS connection, with the API key sealed the way the service stores it."""
    async with unit_of_work(runtime.sessions) as session:
        tenant = (await session.exec(select(Tenant).where(Tenant.slug == slug))).first()
        if tenant is None:
            tenant = Tenant(slug=slug, name=slug.title())
            session.add(tenant)
            await session.flush()
        connection = Connection(
            tenant_id=tenant.id,
            kind="ats",
            provider=provider,
            name=f"{provider} ATS",
            base_url=base_url,
            options=dict(CONNECTION_OPTIONS if options is None else options),
            status=status,
        )
        ciphertext, key_id = runtime.secrets.seal(
            {"api_key": api_key}, tenant_id=tenant.id, connection_id=connection.id
        )
        connection.secret_ciphertext = ciphertext
        connection.secret_key_id = key_id
        session.add(connection)
        return Account(tenant_id=tenant.id, connection_id=connection.id)


def match_payload(
    state: SandboxState,
    application_id: str,
    *,
    score: int = 81,
    band: str = "strong",
    computed_at: datetime = T0,
) -> dict[str, Any]:
    """A payload shaped like the one `service.pipeline` enqueues, for a sandbox application."""
    application = state.applications[int(application_id)]
    payload: dict[str, Any] = {
        "application_external_id": application_id,
        "candidate_external_id": str(application.candidate_id),
        "job_external_id": str(application.job_id),
        "score": score,
        "max_score": 100,
        "band": band,
        "summary": f"Meets 4 of 5 required skills with verified evidence (score {score}).",
        "top_skills": ["SQL", "Python", "Data modelling"],
        "gaps": ["Airflow"],
        "credentials_verified": 4,
        "credentials_rejected": 1,
        "versions": {"algorithm": "1", "profile": "3", "taxonomy": "starter-1"},
        "evidence_url": f"http://127.0.0.1:8080/evidence/token-{application_id}",
        "computed_at": computed_at.isoformat(),
    }
    payload["payload_hash"] = payload_hash(payload)
    return payload


async def enqueue_match(
    runtime: Runtime,
    account: Account,
    payload: Mapping[str, Any],
    *,
    now: datetime = T0,
) -> str:
    """Queue one match update as the pipeline does (in a unit of work); returns the message id."""
    digest = str(payload["payload_hash"])
    target = str(payload["application_external_id"])
    async with unit_of_work(runtime.sessions) as session:
        message, _ = await outbox_repo.enqueue(
            session,
            OutboxMessage(
                tenant_id=account.tenant_id,
                connection_id=account.connection_id,
                kind="match_update",
                target_ref=target,
                payload=dict(payload),
                payload_hash=digest,
                idempotency_key=f"{account.connection_id}:{target}:{digest}",
                next_attempt_at=now,
                created_at=now,
                updated_at=now,
            ),
        )
        return message.id


async def enqueue_for(
    runtime: Runtime,
    account: Account,
    state: SandboxState,
    application_ids: list[str],
    *,
    now: datetime = T0,
) -> dict[str, str]:
    """One queued match per application; returns application id -> message id."""
    queued = {}
    for application_id in application_ids:
        payload = match_payload(state, application_id)
        queued[application_id] = await enqueue_match(runtime, account, payload, now=now)
    return queued


async def load_message(runtime: Runtime, message_id: str) -> OutboxMessage:
    async with runtime.sessions() as session:
        message = await session.get(OutboxMessage, message_id)
    assert message is not None, f"outbox message {message_id} vanished"
    return message


async def all_messages(runtime: Runtime) -> list[OutboxMessage]:
    async with runtime.sessions() as session:
        return list((await session.exec(select(OutboxMessage))).all())


async def attempts_of(runtime: Runtime, message_id: str) -> list[DeliveryAttempt]:
    async with runtime.sessions() as session:
        return list(
            (
                await session.exec(
                    select(DeliveryAttempt)
                    .where(DeliveryAttempt.outbox_id == message_id)
                    .order_by(col(DeliveryAttempt.attempt))
                )
            ).all()
        )


async def all_attempts(runtime: Runtime) -> list[DeliveryAttempt]:
    async with runtime.sessions() as session:
        return list((await session.exec(select(DeliveryAttempt))).all())


async def load_connection(runtime: Runtime, account: Account) -> Connection:
    async with runtime.sessions() as session:
        connection = await session.get(Connection, account.connection_id)
    assert connection is not None
    return connection


def markers_on(state: SandboxState, application_id: str) -> list[str]:
    """The Skillproof markers of every note on a sandbox application, oldest first."""
    notes = state.applications[int(application_id)].notes
    return [note.body.rsplit("\n", 1)[-1] for note in notes if "[sp:" in note.body]


def assert_shows(state: SandboxState, payload: Mapping[str, Any]) -> None:
    """The sandbox application shows `payload`: its fields, and exactly one note for its hash."""
    application_id = str(payload["application_external_id"])
    fields_ = state.applications[int(application_id)].custom_fields
    assert fields_.get(HASH_FIELD) == payload["payload_hash"], (
        f"application {application_id} custom fields do not hold the pushed payload: {fields_}"
    )
    assert fields_.get("skillproof_score") == payload["score"]
    assert fields_.get("skillproof_band") == payload["band"]
    markers = markers_on(state, application_id)
    wanted = note_marker(str(payload["payload_hash"]))
    assert markers.count(wanted) == 1, (
        f"application {application_id} must carry exactly one note {wanted}, has {markers}"
    )


# Seams for tests that need to pause or kill a drainer between its steps --------------------

PushHook = Callable[[MatchUpdate, Callable[[], Awaitable[PushReceipt]]], Awaitable[PushReceipt]]


class HookedConnector:
    """Wraps a real connector so a test can act around `push_match` (pause, count, crash)."""

    def __init__(self, inner: AtsConnector, hook: PushHook) -> None:
        self._inner = inner
        self._hook = hook
        self.kind = inner.kind

    async def push_match(self, update: MatchUpdate, *, idempotency_key: str) -> PushReceipt:
        return await self._hook(
            update, lambda: self._inner.push_match(update, idempotency_key=idempotency_key)
        )

    async def aclose(self) -> None:
        await self._inner.aclose()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@dataclass(kw_only=True)
class HookedRuntime(Runtime):
    """A runtime whose connectors are wrapped: `on_connector` runs before each is built."""

    hook: PushHook
    on_connector: Callable[[], None] = field(default=lambda: None)

    @classmethod
    def around(
        cls, runtime: Runtime, hook: PushHook, on_connector: Callable[[], None] | None = None
    ) -> HookedRuntime:
        shared = {f.name: getattr(runtime, f.name) for f in fields(Runtime)}
        return cls(**shared, hook=hook, on_connector=on_connector or (lambda: None))

    def connector_for(self, connection: Connection) -> AtsConnector:
        self.on_connector()
        return HookedConnector(super().connector_for(connection), self.hook)  # type: ignore[return-value]


class Gate:
    """Holds a push until released, and tells the test when one is waiting."""

    def __init__(self) -> None:
        self.waiting = asyncio.Event()
        self.released = asyncio.Event()
        self.pushes: list[str] = []

    async def __call__(
        self, update: MatchUpdate, push: Callable[[], Awaitable[PushReceipt]]
    ) -> PushReceipt:
        self.pushes.append(update.application_external_id)
        self.waiting.set()
        await self.released.wait()
        return await push()

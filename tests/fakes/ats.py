"""Fake ATS pairs for tests: a loopback sandbox ATS plus the connector that talks to it.

`SandboxHarness` is the (connector, fake server) pair the connector contract suite runs
against; pipeline tests can use it too, or just `seed_applications` on a `SandboxState`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from connectors.ats.sandbox import SandboxAtsConnector
from connectors.ats.sandbox_server import (
    CredentialSeed,
    FaultPlan,
    SandboxState,
    create_sandbox_app,
)
from connectors.base import AtsConnector, ConnectorConfig

SANDBOX_API_KEY = "sandbox-key-5b0e1f7c9a2d"
BASE_TIME = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

ServerFactory = Callable[[web.Application], Awaitable[TestServer]]


class SleepRecorder:
    """Stands in for asyncio.sleep: records each requested delay and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        await asyncio.sleep(0)


def sample_credential(n: int = 1) -> CredentialSeed:
    """A small JSON credential; connectors pass it through, so its content is arbitrary."""
    document = {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "name": f"Sample badge {n}",
    }
    return CredentialSeed(media_type="application/json", content=json.dumps(document).encode())


def seed_applications(
    state: SandboxState,
    count: int,
    *,
    start: datetime = BASE_TIME,
    step: timedelta = timedelta(minutes=1),
    credentials: Iterable[CredentialSeed] = (),
) -> list[str]:
    """Add `count` applications to one job, the i-th updated at start + i*step; returns ids."""
    job = state.add_job(name="Data Engineer", department="Engineering", updated_at=start)
    seeds = tuple(credentials)
    ids = []
    for i in range(count):
        candidate = state.add_candidate(
            first_name=f"Candidate{i}",
            last_name="Example",
            emails=[f"c{i}@example.org"],
            verified_emails=[f"c{i}@example.org"] if i % 2 == 0 else [],
        )
        application = state.add_application(
            candidate_id=candidate.id, job_id=job.id, updated_at=start + i * step, credentials=seeds
        )
        ids.append(str(application.id))
    return ids


class SandboxHarness:
    """The sandbox ATS served on 127.0.0.1 and a `SandboxAtsConnector` pointed at it."""

    id = "sandbox"
    api_key = SANDBOX_API_KEY
    # Contract operations -> the sandbox routes that serve them (for scripting faults).
    routes: Mapping[str, str] = {
        "list_applications": "GET /v1/applications",
        "list_jobs": "GET /v1/jobs",
        "read_application": "GET /v1/applications/{id}",
        "post_note": "POST /v1/applications/{id}/notes",
        "set_fields": "PATCH /v1/applications/{id}/custom_fields",
    }

    def __init__(self) -> None:
        self.state = SandboxState()
        self.faults = FaultPlan(hang_seconds=0.5, retry_after=1)
        self.server: TestServer | None = None

    async def start(self, aiohttp_server: ServerFactory) -> None:
        app = create_sandbox_app(api_keys=[self.api_key], state=self.state, faults=self.faults)
        self.server = await aiohttp_server(app)

    @property
    def base_url(self) -> str:
        assert self.server is not None, "start() the harness first"
        return str(self.server.make_url("/"))

    def connector(
        self,
        session: aiohttp.ClientSession,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        options: Mapping[str, Any] | None = None,
        sleep: SleepRecorder | None = None,
    ) -> AtsConnector:
        config = ConnectorConfig(
            base_url=base_url or self.base_url,
            secrets={"api_key": api_key or self.api_key},
            options={"page_size": 50, "timeout_seconds": 0.2, **(options or {})},
        )
        return SandboxAtsConnector(config, session, sleep=sleep or SleepRecorder())

    def seed_applications(self, count: int, **kwargs: Any) -> list[str]:
        return seed_applications(self.state, count, **kwargs)

    def seed_job(self, title: str) -> str:
        return str(self.state.add_job(name=title, department="Engineering").id)

    def script(self, operation: str, *faults: int | str) -> None:
        self.faults.add(self.routes[operation], *faults)  # type: ignore[arg-type]

    def faults_pending(self) -> int:
        return self.faults.pending()

    def clear_faults(self) -> None:
        self.faults.scripts.clear()

    def notes(self, application_id: str) -> list[str]:
        return [n.body for n in self.state.applications[int(application_id)].notes]

    def fields(self, application_id: str) -> Mapping[str, Any]:
        return dict(self.state.applications[int(application_id)].custom_fields)

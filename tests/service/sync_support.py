"""Builders for sync tests: a loopback sandbox ATS, its clock, seeded data and database views.

The sandbox runs as a real aiohttp server on 127.0.0.1 with a scripted `FaultPlan`; the
database is read back into plain projections, so a test compares what Skillproof stored with
what the ATS served without caring about generated ids.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from sqlalchemy.orm import aliased
from sqlmodel import col, select

from connectors.ats.sandbox_server import (
    CredentialSeed,
    FaultPlan,
    SandboxState,
    create_sandbox_app,
)
from connectors.ats.sandbox_state import SandboxCandidate
from service.db import unit_of_work
from service.models import (
    Application,
    Candidate,
    CandidateIdentifier,
    Connection,
    Job,
    RawCredential,
    SyncRun,
    VerificationRecord,
)
from service.repositories import runs as runs_repo
from service.repositories import tenancy
from service.runtime import Runtime
from service.sync import RESOURCE

SANDBOX_KEY = "sbx-sync-key-7f3a9c21d4e8b650"
BASE_TIME = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
APPLICATIONS_ROUTE = "GET /v1/applications"
# Fast, bounded retries: three attempts a few milliseconds apart instead of up to 1.5 s.
FAST_RETRIES: Mapping[str, Any] = {"backoff_base": 0.005, "backoff_cap": 0.01, "max_attempts": 3}


class SandboxClock:
    """The sandbox's notion of now; tests move it so `updated_at` values are exact."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> datetime:
        self.now += delta
        return self.now


def new_sandbox_state() -> tuple[SandboxState, SandboxClock]:
    clock = SandboxClock(BASE_TIME + timedelta(days=1))
    return SandboxState(clock=clock), clock


def credential_bytes(application: int, n: int) -> bytes:
    """A distinct JSON credential per (application, n), pretty-printed with non-ASCII text.

    The layout (indentation, key order, UTF-8 "ë", trailing newline) is deliberate: a store that
    re-serialised the document would change its bytes and therefore its sha256.
    """
    document = {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "name": f"Badge {application}-{n} für Zoë",
        "issuer": {"id": "did:example:issuer", "name": "Example Academy"},
        "proof": {"type": "DataIntegrityProof", "proofValue": "zNotARealSignature"},
    }
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode()


def credential_seed(application: int, n: int) -> CredentialSeed:
    return CredentialSeed(media_type="application/json", content=credential_bytes(application, n))


def seed_sandbox(
    state: SandboxState,
    count: int,
    *,
    credentials_per_application: int = 2,
    step: timedelta = timedelta(minutes=1),
) -> list[int]:
    """`count` applications over two jobs, the i-th updated at BASE_TIME + i*step.

    Even candidates have a verified email, odd ones an unverified one; the last application
    is a second one by candidate 0 (to the other job), so candidates must be deduplicated.
    Returns the application ids in `updated_at` order.
    """
    jobs = [
        state.add_job(name="Data Engineer", department="Engineering", updated_at=BASE_TIME),
        state.add_job(name="Analytics Lead", department="Data", updated_at=BASE_TIME),
    ]
    candidates: list[SandboxCandidate] = []
    ids = []
    for i in range(count):
        if i == count - 1 and i > 0:
            candidate = candidates[0]
        else:
            email = f"c{i}@example.org"
            candidate = state.add_candidate(
                first_name=f"Candidate{i}",
                last_name="Example",
                emails=[email],
                verified_emails=[email] if i % 2 == 0 else [],
                updated_at=BASE_TIME,
            )
            candidates.append(candidate)
        application = state.add_application(
            candidate_id=candidate.id,
            job_id=jobs[i % 2].id,
            updated_at=BASE_TIME + i * step,
            credentials=[credential_seed(i, n) for n in range(credentials_per_application)],
        )
        ids.append(application.id)
    return ids


@dataclass(frozen=True, kw_only=True)
class Sandbox:
    state: SandboxState
    faults: FaultPlan
    base_url: str


@asynccontextmanager
async def serve_sandbox(
    state: SandboxState,
    faults: FaultPlan | None = None,
    *,
    middlewares: Iterable[Any] = (),
) -> AsyncIterator[Sandbox]:
    """Serve the sandbox ATS on 127.0.0.1; `middlewares` wrap it from the outside."""
    plan = faults if faults is not None else FaultPlan()
    app = create_sandbox_app(api_keys=[SANDBOX_KEY], state=state, faults=plan)
    for position, middleware in enumerate(middlewares):
        # Outermost: they see each request before the sandbox's own auth and fault middlewares.
        app.middlewares.insert(position, middleware)
    async with serve(app) as base_url:
        yield Sandbox(state=state, faults=plan, base_url=base_url)


@asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[str]:
    """Serve `app` on a free 127.0.0.1 port; yields its base URL (ending in a slash)."""
    # A short shutdown: a request parked on a "timeout" fault must not hold up the test.
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        yield f"http://127.0.0.1:{port}/"
    finally:
        await runner.cleanup()


async def add_connection(
    runtime: Runtime,
    tenant_id: str,
    base_url: str,
    *,
    api_key: str = SANDBOX_KEY,
    options: Mapping[str, Any] | None = None,
) -> str:
    """A sandbox ATS connection with its API key sealed as the service stores it."""
    async with unit_of_work(runtime.sessions) as session:
        connection = await tenancy.add_connection(
            session,
            Connection(
                tenant_id=tenant_id,
                kind="ats",
                provider="sandbox",
                name="Sandbox ATS",
                base_url=base_url,
                options={"page_size": 5, "timeout_seconds": 10, **FAST_RETRIES, **(options or {})},
            ),
        )
        await reseal(runtime, connection, api_key)
        return connection.id


async def reseal(runtime: Runtime, connection: Connection, api_key: str) -> None:
    """Store `api_key` as the connection's secret (what an admin does when rotating it)."""
    connection.secret_ciphertext, connection.secret_key_id = runtime.secrets.seal(
        {"api_key": api_key}, tenant_id=connection.tenant_id, connection_id=connection.id
    )


# --- what the database holds ----------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Projection:
    """Synced data keyed by the ATS's ids: comparable with what the sandbox holds."""

    candidates: Mapping[str, str]  # candidate id -> display name
    jobs: Mapping[str, str]  # job id -> title
    applications: Mapping[str, tuple[str, str, str, datetime | None]]
    # (application id, sha256) -> (media type, bytes)
    credentials: Mapping[tuple[str, str], tuple[str, bytes]]
    emails: frozenset[tuple[str, str, bool]]  # (candidate id, address, verified)


def sandbox_projection(state: SandboxState) -> Projection:
    """What an uninterrupted sync of `state` must store."""
    applications = state.applications.values()
    candidate_ids = {a.candidate_id for a in applications}
    job_ids = {a.job_id for a in applications}
    candidates = {i: state.candidates[i] for i in candidate_ids}
    return Projection(
        candidates={str(i): f"{c.first_name} {c.last_name}".strip() for i, c in candidates.items()},
        jobs={str(i): state.jobs[i].name for i in job_ids},
        applications={
            str(a.id): (str(a.candidate_id), str(a.job_id), a.status, a.updated_at)
            for a in applications
        },
        credentials={
            (str(a.id), hashlib.sha256(x.content).hexdigest()): (x.media_type, x.content)
            for a in applications
            for x in a.attachments
        },
        emails=frozenset(
            (str(i), e.value.lower(), e.verified) for i, c in candidates.items() for e in c.emails
        ),
    )


@dataclass(frozen=True, kw_only=True)
class Stored:
    """Everything a sync wrote for one connection, with row ids (to prove nothing was replaced)."""

    projection: Projection
    row_ids: frozenset[str]
    raw: Mapping[tuple[str, str], RawCredential]
    cursor: str | None


async def stored(runtime: Runtime, tenant_id: str, connection_id: str) -> Stored:
    async with runtime.sessions() as session:
        candidates = (
            await session.exec(select(Candidate).where(Candidate.connection_id == connection_id))
        ).all()
        jobs = (await session.exec(select(Job).where(Job.connection_id == connection_id))).all()
        applications = (
            await session.exec(
                select(Application).where(Application.connection_id == connection_id)
            )
        ).all()
        candidate_refs = {c.id: c.external_ref or "" for c in candidates}
        job_refs = {j.id: j.external_ref or "" for j in jobs}
        app_refs = {a.id: a.external_ref or "" for a in applications}
        raws = (
            await session.exec(
                select(RawCredential).where(col(RawCredential.application_id).in_(app_refs))
            )
        ).all()
        identifiers = (
            await session.exec(
                select(CandidateIdentifier).where(
                    col(CandidateIdentifier.candidate_id).in_(candidate_refs)
                )
            )
        ).all()
        cursor = await runs_repo.get_cursor(
            session, tenant_id=tenant_id, connection_id=connection_id, resource=RESOURCE
        )
    raw = {(app_refs[r.application_id or ""], r.sha256): r for r in raws}
    projection = Projection(
        candidates={c.external_ref or "": c.display_name for c in candidates},
        jobs={j.external_ref or "": j.title for j in jobs},
        applications={
            a.external_ref or "": (
                candidate_refs.get(a.candidate_id, "?"),
                job_refs.get(a.job_id, "?"),
                a.status,
                a.remote_updated_at,
            )
            for a in applications
        },
        credentials={key: (r.media_type, r.content) for key, r in raw.items()},
        emails=frozenset(
            (candidate_refs[i.candidate_id], i.value, i.verified)
            for i in identifiers
            if i.kind == "email"
        ),
    )
    row_ids = frozenset(
        [*(c.id for c in candidates), *(j.id for j in jobs), *app_refs, *(r.id for r in raws)]
    )
    return Stored(projection=projection, row_ids=row_ids, raw=raw, cursor=cursor)


async def consistency_problems(runtime: Runtime, tenant_id: str) -> list[str]:
    """Half-written data: credentials without their application, applications without parents."""
    problems: list[str] = []
    owner = aliased(Application)
    async with runtime.sessions() as session:
        raws = (
            await session.exec(
                select(RawCredential, owner)
                .join(owner, col(owner.id) == col(RawCredential.application_id), isouter=True)
                .where(RawCredential.tenant_id == tenant_id)
            )
        ).all()
        for raw, application in raws:
            if application is None:
                problems.append(f"raw credential {raw.id} has no application")
            elif application.candidate_id != raw.candidate_id:
                problems.append(f"raw credential {raw.id} belongs to another candidate")
        rows = (
            await session.exec(
                select(Application, Candidate, Job)
                .join(Candidate, col(Candidate.id) == col(Application.candidate_id), isouter=True)
                .join(Job, col(Job.id) == col(Application.job_id), isouter=True)
                .where(Application.tenant_id == tenant_id)
            )
        ).all()
        for application, candidate, job in rows:
            if candidate is None:
                problems.append(f"application {application.id} has no candidate")
            if job is None:
                problems.append(f"application {application.id} has no job")
    return problems


async def unverified_credentials(runtime: Runtime, tenant_id: str) -> list[str]:
    """Stored raw credentials that no verification result covers (never evaluated)."""
    async with runtime.sessions() as session:
        verified = select(VerificationRecord.raw_credential_id).where(
            VerificationRecord.tenant_id == tenant_id
        )
        rows = (
            await session.exec(
                select(RawCredential.source_ref).where(
                    RawCredential.tenant_id == tenant_id,
                    col(RawCredential.id).not_in(verified),
                )
            )
        ).all()
    return sorted(r or "" for r in rows)


async def verdicts(runtime: Runtime, tenant_id: str) -> dict[str, set[str]]:
    """sha256 of each stored raw credential -> the verdicts recorded for it."""
    async with runtime.sessions() as session:
        rows = (
            await session.exec(
                select(RawCredential.sha256, VerificationRecord.verdict)
                .join(
                    VerificationRecord,
                    col(VerificationRecord.raw_credential_id) == col(RawCredential.id),
                )
                .where(RawCredential.tenant_id == tenant_id)
            )
        ).all()
    found: dict[str, set[str]] = {}
    for digest, verdict in rows:
        found.setdefault(digest, set()).add(verdict)
    return found


async def get_run(runtime: Runtime, run_id: str) -> SyncRun:
    async with runtime.sessions() as session:
        run = await runs_repo.get_run(session, run_id)
    assert run is not None, f"sync run {run_id} was not recorded"
    return run


async def runs_of(runtime: Runtime, connection_id: str) -> list[SyncRun]:
    async with runtime.sessions() as session:
        return list(
            (
                await session.exec(
                    select(SyncRun)
                    .where(SyncRun.connection_id == connection_id)
                    .order_by(col(SyncRun.started_at), col(SyncRun.id))
                )
            ).all()
        )


async def get_connection(runtime: Runtime, tenant_id: str, connection_id: str) -> Connection:
    async with runtime.sessions() as session:
        connection = await tenancy.get_connection(
            session, tenant_id=tenant_id, connection_id=connection_id
        )
    assert connection is not None
    return connection


def page_of(state: SandboxState, page: int, size: int) -> list[str]:
    """The sandbox application ids on `page` (1-based) of an unfiltered listing."""
    ordered = sorted(state.applications.values(), key=lambda a: (a.updated_at, a.id))
    return [str(a.id) for a in ordered[(page - 1) * size : page * size]]


class RequestLog:
    """Records every request the sandbox receives (method and path with query)."""

    def __init__(self) -> None:
        self.requests: list[str] = []

    def middleware(self) -> Any:
        @web.middleware
        async def record(request: web.Request, handler: Any) -> web.StreamResponse:
            self.requests.append(f"{request.method} {request.path_qs}")
            response: web.StreamResponse = await handler(request)
            return response

        return record

    def listing_pages(self) -> list[str]:
        """The path and query of each applications listing request, in order."""
        return [
            r.removeprefix("GET ")
            for r in self.requests
            if r.partition("?")[0] == APPLICATIONS_ROUTE
        ]

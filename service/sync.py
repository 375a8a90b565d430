"""One sync run for one ATS connection: pull -> ingest -> evaluate (verify ... enqueue).

Each page of applications is written in its own transaction and evaluated; only then does
the cursor move past it, so a run that fails or crashes half-way resumes where it stopped,
re-reads at most one page and leaves nothing stored but unevaluated. Every error ends the run
with a recorded reason; stored data is never touched by a failure.

Every run re-reads a short overlap before its cursor (and an ATS may list an application
again), so an application is only evaluated when its inputs changed: each finished
evaluation stores the fingerprint of what it read on the application (see
`service.evaluation_inputs`), and an application whose current inputs hash to the same value
is counted as `unchanged` and left alone, writing nothing. The fingerprint is set only in
the transaction that commits an evaluation's results, so an application stored by a run that
then failed or died still differs from its marker (a new credential, or no marker at all) and
the next run, which reads that page again, evaluates it. Time-driven changes (expiry,
revocation) are not the sync's business: see `service.revalidation`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from connectors.base import ApplicationRef, AtsConnector, JobRef
from connectors.errors import AuthError, ConnectorError
from service.db import unit_of_work
from service.errors import ServiceError
from service.ingest import recognise
from service.logs import bind, redact
from service.models import SyncRun
from service.pipeline import evaluate_if_changed
from service.repositories import applications as app_repo
from service.repositories import credentials as cred_repo
from service.repositories import runs as runs_repo
from service.repositories import tenancy
from service.runtime import Runtime

log = logging.getLogger(__name__)

RESOURCE = "applications"
# Re-read a little before the cursor: remote clocks and commit order are not exact.
CURSOR_OVERLAP = timedelta(minutes=2)
ABANDONED_AFTER = timedelta(hours=1)


@dataclass(kw_only=True)
class SyncReport:
    run_id: str
    status: str = "running"
    applications: int = 0
    credentials_stored: int = 0
    credentials_refused: int = 0
    evaluated: int = 0
    unchanged: int = 0  # pulled again, but nothing its evaluation reads had changed
    enqueued: int = 0
    error: str | None = None
    application_ids: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {
            "applications": self.applications,
            "credentials_stored": self.credentials_stored,
            "credentials_refused": self.credentials_refused,
            "evaluated": self.evaluated,
            "unchanged": self.unchanged,
            "enqueued": self.enqueued,
        }


async def sync_connection(
    runtime: Runtime, *, tenant_id: str, connection_id: str, now: datetime | None = None
) -> SyncReport:
    started = now or datetime.now(UTC)
    async with unit_of_work(runtime.sessions) as session:
        connection = await tenancy.get_connection(
            session, tenant_id=tenant_id, connection_id=connection_id
        )
        if connection is None:
            raise LookupError(f"connection {connection_id} not found")
        # A run whose process died (killed, redeployed) never finished; say so rather than
        # leave it "running" for ever. A live run of this connection is far younger.
        await runs_repo.close_abandoned_runs(
            session,
            tenant_id=tenant_id,
            connection_id=connection_id,
            started_before=started - ABANDONED_AFTER,
            now=started,
        )
        run = await runs_repo.add_run(
            session, SyncRun(tenant_id=tenant_id, connection_id=connection_id, started_at=started)
        )
        cursor = await runs_repo.get_cursor(
            session, tenant_id=tenant_id, connection_id=connection_id, resource=RESOURCE
        )
    report = SyncReport(run_id=run.id)
    since = datetime.fromisoformat(cursor) - CURSOR_OVERLAP if cursor else None
    with bind(tenant=tenant_id, connection=connection_id, run=run.id):
        try:
            connector = runtime.connector_for(connection)
            try:
                await _pull(
                    runtime,
                    connector,
                    report,
                    tenant_id=tenant_id,
                    connection_id=connection_id,
                    since=since,
                    now=started,
                    evaluate_at=now,
                )
            finally:
                await connector.aclose()
            report.status = "ok"
            if connection.status != "ok" or connection.last_error is not None:
                # The credentials work again: let the scheduler pick the connection up.
                await _mark_connection(runtime, tenant_id, connection_id, "ok", None)
        except ConnectorError as exc:
            report.status = "failed"
            report.error = redact(str(exc))
            log.warning("sync failed: %s", report.error)
            if isinstance(exc, AuthError):
                await _mark_connection(
                    runtime, tenant_id, connection_id, "auth_failed", report.error
                )
        except Exception as exc:
            # Anything else (a database refusing odd remote data, a bug) must still close the
            # run. Its message may quote SQL parameters, which hold personal data, so only the
            # type is stored; the traceback goes to the log.
            report.status = "failed"
            report.error = f"internal error ({type(exc).__name__}); see the service log"
            log.exception("sync failed unexpectedly")
        await _finish(runtime, report, now=now)
    log.info("sync %s: %s %s", run.id, report.status, report.counts())
    return report


async def _pull(
    runtime: Runtime,
    connector: AtsConnector,
    report: SyncReport,
    *,
    tenant_id: str,
    connection_id: str,
    since: datetime | None,
    now: datetime,
    evaluate_at: datetime | None,
) -> None:
    job_ids: dict[str, str] = {}
    async for job_page in connector.iter_jobs():
        async with unit_of_work(runtime.sessions) as session:
            for job in job_page.items:
                job_ids[job.external_id] = await _store_job(
                    session, job, tenant_id=tenant_id, connection_id=connection_id
                )
    async for page in connector.iter_applications(since=since):
        newest: datetime | None = None
        page_ids: list[str] = []
        # Jobs the listing did not include are fetched before the write transaction opens:
        # on SQLite that transaction holds the write lock, which must never wait on the ATS.
        missing = {i.job_external_id for i in page.items} - job_ids.keys()
        extra_jobs = [await connector.get_job(ref) for ref in sorted(missing)]
        async with unit_of_work(runtime.sessions) as session:
            for job in extra_jobs:
                job_ids[job.external_id] = await _store_job(
                    session, job, tenant_id=tenant_id, connection_id=connection_id
                )
            for item in page.items:
                application_id = await _ingest_application(
                    runtime,
                    session,
                    report,
                    item,
                    tenant_id=tenant_id,
                    connection_id=connection_id,
                    job_id=job_ids[item.job_external_id],
                )
                if application_id not in page_ids:
                    page_ids.append(application_id)
                if application_id not in report.application_ids:
                    report.application_ids.append(application_id)
                report.applications += 1
                if newest is None or item.updated_at > newest:
                    newest = item.updated_at
        # Evaluate the page before the cursor moves past it: if the run fails or the process
        # dies first, the next run reads this page again instead of never evaluating it.
        for application_id in page_ids:
            evaluation = await evaluate_if_changed(
                runtime,
                tenant_id=tenant_id,
                application_id=application_id,
                now=evaluate_at or datetime.now(UTC),
            )
            if evaluation is None:
                report.unchanged += 1
                continue
            report.evaluated += 1
            report.enqueued += int(evaluation.enqueued)
        if newest is not None:
            async with unit_of_work(runtime.sessions) as session:
                await runs_repo.set_cursor(
                    session,
                    tenant_id=tenant_id,
                    connection_id=connection_id,
                    resource=RESOURCE,
                    cursor=newest.isoformat(),
                    now=now,
                )


async def _store_job(
    session: AsyncSession, job: JobRef, *, tenant_id: str, connection_id: str
) -> str:
    row = await app_repo.upsert_job(
        session,
        tenant_id=tenant_id,
        connection_id=connection_id,
        external_ref=job.external_id,
        title=job.title[:300],
        status=job.status[:32],
    )
    return row.id


async def _ingest_application(
    runtime: Runtime,
    session: AsyncSession,
    report: SyncReport,
    item: ApplicationRef,
    *,
    tenant_id: str,
    connection_id: str,
    job_id: str,
) -> str:
    ref = item.candidate
    candidate = await app_repo.upsert_candidate(
        session,
        tenant_id=tenant_id,
        connection_id=connection_id,
        external_ref=ref.external_id,
        display_name=f"{ref.first_name} {ref.last_name}".strip()[:300],
    )
    verified = {e.lower() for e in ref.verified_emails}
    for email in {*ref.emails, *ref.verified_emails}:
        await app_repo.set_identifier(
            session,
            tenant_id=tenant_id,
            candidate_id=candidate.id,
            kind="email",
            value=email,
            verified=email.lower() in verified,
            source="ats",
        )
    for did in ref.dids:
        await app_repo.set_identifier(
            session,
            tenant_id=tenant_id,
            candidate_id=candidate.id,
            kind="did",
            value=did,
            verified=True,
            source="ats",
        )
    application = await app_repo.upsert_application(
        session,
        tenant_id=tenant_id,
        connection_id=connection_id,
        external_ref=item.external_id,
        candidate_id=candidate.id,
        job_id=job_id,
        status=item.status[:32],
        remote_updated_at=item.updated_at,
    )
    for credential in item.credentials:
        try:
            submission = recognise(
                credential.payload,
                declared=credential.media_type,
                max_bytes=runtime.settings.max_credential_bytes,
            )
        except ServiceError as exc:
            report.credentials_refused += 1
            log.warning("credential %s refused: %s", credential.external_id, exc.detail)
            continue
        _, is_new = await cred_repo.store_raw(
            session,
            tenant_id=tenant_id,
            candidate_id=candidate.id,
            application_id=application.id,
            source="ats",
            source_ref=credential.external_id,
            media_type=submission.media_type,
            content=submission.content,
        )
        report.credentials_stored += int(is_new)
    return application.id


async def _mark_connection(
    runtime: Runtime, tenant_id: str, connection_id: str, status: str, error: str | None
) -> None:
    async with unit_of_work(runtime.sessions) as session:
        connection = await tenancy.get_connection(
            session, tenant_id=tenant_id, connection_id=connection_id
        )
        if connection is not None:
            connection.status = status
            connection.last_error = error
            session.add(connection)


async def _finish(runtime: Runtime, report: SyncReport, *, now: datetime | None) -> None:
    async with unit_of_work(runtime.sessions) as session:
        run = await runs_repo.get_run(session, report.run_id)
        if run is not None:
            run.status = report.status
            run.counts = report.counts()
            run.error = report.error
            run.finished_at = now or datetime.now(UTC)
            session.add(run)

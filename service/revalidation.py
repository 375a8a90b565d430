"""Re-validation: applications still in play are verified and scored again once a day or so.

A fingerprint of the inputs (`service.evaluation_inputs`) cannot see time: a credential
expires, or its issuer revokes it on a status list, and nothing stored here changes. So the
scheduler re-evaluates every application still in play (its status is not a closed one, its
connection is not disabled) whose last finished evaluation is older than
SKILLPROOF_REVALIDATE_AFTER_HOURS, and every application stored but never evaluated (an
evaluation that crashed or failed). Applications without credentials are left alone once
evaluated: nothing of theirs can expire.

The work is bounded and isolated: at most SKILLPROOF_REVALIDATE_BATCH_SIZE applications per
tenant per run, the longest unchecked first, so one tenant's backlog never starves another,
and every read and write is scoped by the tenant's own id. One application failing is logged
and the run goes on; it stays due, so the next run tries it again.

The evaluation is the ordinary one (`service.pipeline`): a score that changed is queued in the
same transaction as the match, and the outbox dedupes against the latest message for the
application, so an unchanged score is not pushed again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from service.logs import bind
from service.pipeline import evaluate_application
from service.repositories import applications as app_repo
from service.runtime import Runtime

log = logging.getLogger(__name__)

# Application statuses after which a score no longer informs anyone (Greenhouse: hired,
# rejected, converted; Lever: archived; others: closed, withdrawn). Compared lower-cased.
CLOSED_STATUSES = frozenset({"archived", "closed", "converted", "hired", "rejected", "withdrawn"})


@dataclass(kw_only=True)
class RevalidationReport:
    tenants: int = 0
    evaluated: int = 0
    enqueued: int = 0
    failed: int = 0


async def revalidate(runtime: Runtime, *, now: datetime | None = None) -> RevalidationReport:
    """Re-evaluate one bounded batch of due applications per tenant."""
    report = RevalidationReport()
    settings = runtime.settings
    if settings.revalidate_after_hours <= 0:
        return report
    at = now or datetime.now(UTC)
    cutoff = at - timedelta(hours=settings.revalidate_after_hours)
    async with runtime.sessions() as session:
        tenant_ids = await app_repo.tenants_due_for_revalidation(
            session, evaluated_before=cutoff, closed_statuses=CLOSED_STATUSES
        )
    for tenant_id in tenant_ids:
        report.tenants += 1
        with bind(tenant=tenant_id):
            await _revalidate_tenant(runtime, report, tenant_id=tenant_id, cutoff=cutoff, now=at)
    if report.tenants:
        log.info(
            "re-validation: %d evaluated, %d queued for the ATS, %d failed, over %d tenants",
            report.evaluated,
            report.enqueued,
            report.failed,
            report.tenants,
        )
    return report


async def _revalidate_tenant(
    runtime: Runtime,
    report: RevalidationReport,
    *,
    tenant_id: str,
    cutoff: datetime,
    now: datetime,
) -> None:
    async with runtime.sessions() as session:
        application_ids = await app_repo.due_for_revalidation(
            session,
            tenant_id=tenant_id,
            evaluated_before=cutoff,
            closed_statuses=CLOSED_STATUSES,
            limit=runtime.settings.revalidate_batch_size,
        )
    for application_id in application_ids:
        try:
            evaluation = await evaluate_application(
                runtime, tenant_id=tenant_id, application_id=application_id, now=now
            )
        except Exception:
            # One application (or one tenant's data) must not stop the others; it stays due.
            report.failed += 1
            log.exception("re-validation of application %s failed", application_id)
            continue
        report.evaluated += 1
        report.enqueued += int(evaluation.enqueued)

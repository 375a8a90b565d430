"""Drain the outbox: claim due pushes under a lease, push, record the attempt, back off or give up.

Delivery is at-least-once; the connector makes each effect idempotent (set fields, marked
notes). A drainer that dies mid-push leaves its rows `inflight` until the lease runs out, and
then any drainer picks them up again: nothing is lost, nothing is pushed twice in effect. A
drainer that stops early without dying (a database error, cancellation) hands the rows it
claimed but never pushed straight back, their attempt uncounted.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.exc import DBAPIError, OperationalError

from connectors.base import MatchUpdate, PushReceipt
from connectors.errors import AuthError, ConnectorError, PermanentError, TransientError
from service.db import unit_of_work
from service.logs import bind, redact
from service.models import DeliveryAttempt, OutboxMessage
from service.repositories import audit, tenancy
from service.repositories import outbox as repo
from service.runtime import Runtime
from service.security.secrets import SecretDecryptionError

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 12
MAX_AGE = timedelta(days=3)
BASE_DELAY = 2.0
MAX_DELAY = 15 * 60.0
DEFAULT_LEASE = timedelta(minutes=2)

Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(kw_only=True)
class DrainReport:
    claimed: int = 0
    done: int = 0
    retried: int = 0
    dead: int = 0
    lost_lease: int = 0
    outcomes: list[str] = field(default_factory=list)


def backoff(attempt: int, retry_after: float | None, *, rng: random.Random | None = None) -> float:
    """Seconds to wait: capped full-jitter backoff, but never sooner than a given Retry-After.

    Connectors fill `retry_after` with their own short suggestion when the server gave none,
    so it is a floor: taken alone it would retry a down ATS every few seconds and dead-letter
    the message within a minute.
    """
    ceiling = min(MAX_DELAY, BASE_DELAY * (2 ** max(0, attempt - 1)))
    delay = (rng or random).uniform(0.0, ceiling)  # noqa: S311 - jitter, not security
    if retry_after is not None:
        delay = max(delay, retry_after)
    return min(MAX_DELAY, delay)


def update_from_payload(payload: dict[str, Any]) -> MatchUpdate:
    return MatchUpdate(
        application_external_id=str(payload["application_external_id"]),
        candidate_external_id=str(payload["candidate_external_id"]),
        job_external_id=str(payload["job_external_id"]),
        score=int(payload["score"]),
        max_score=int(payload.get("max_score", 100)),
        band=str(payload["band"]),
        summary=str(payload["summary"]),
        top_skills=tuple(payload.get("top_skills", ())),
        gaps=tuple(payload.get("gaps", ())),
        credentials_verified=int(payload.get("credentials_verified", 0)),
        credentials_rejected=int(payload.get("credentials_rejected", 0)),
        evidence_url=payload.get("evidence_url"),
        versions={str(k): str(v) for k, v in dict(payload.get("versions", {})).items()},
        computed_at=datetime.fromisoformat(str(payload["computed_at"])),
        payload_hash=str(payload["payload_hash"]),
    )


async def drain(
    runtime: Runtime,
    *,
    owner: str,
    clock: Clock = _utcnow,
    batch: int = 20,
    lease: timedelta = DEFAULT_LEASE,
) -> DrainReport:
    report = DrainReport()
    async with unit_of_work(runtime.sessions) as session:
        claimed = await repo.claim_due(session, owner=owner, now=clock(), lease=lease, limit=batch)
        work = [
            (
                m.id,
                m.tenant_id,
                m.connection_id,
                dict(m.payload),
                m.idempotency_key,
                m.attempts,
                m.created_at,
            )
            for m in claimed
        ]
    report.claimed = len(work)
    # Claimed, attempt counted, but not yet handed to the ATS: what an early stop gives back.
    unsent = {item[0] for item in work}
    in_hand: str | None = None
    try:
        for message_id, tenant_id, connection_id, payload, key, attempts, created_at in work:
            in_hand = message_id
            async with unit_of_work(runtime.sessions) as session:
                held = await repo.renew_lease(
                    session, message_id=message_id, owner=owner, now=clock(), lease=lease
                )
            if not held:
                # The batch outlived our lease and another drainer has the row: pushing it too
                # could race that drainer's push (two notes). Hands off.
                unsent.discard(message_id)
                report.lost_lease += 1
                continue
            with bind(tenant=tenant_id, connection=connection_id, outbox=message_id):
                await _deliver(
                    runtime,
                    report,
                    unsent,
                    owner=owner,
                    clock=clock,
                    message_id=message_id,
                    tenant_id=tenant_id,
                    connection_id=connection_id,
                    payload=payload,
                    key=key,
                    attempts=attempts,
                    created_at=created_at,
                )
    except BaseException as exc:
        # A message that may itself be what broke the batch keeps its lease, which spaces out
        # its retries; handing it back would put it at the head of every next batch.
        suspect = in_hand if not _environmental(exc) else None
        await _hand_back(
            runtime, owner=owner, clock=clock, message_ids=unsent - {suspect}, cause=exc
        )
        raise
    return report


def _environmental(exc: BaseException) -> bool:
    """The database or the process failed (locked, connection lost, cancelled), not a message."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, OperationalError | asyncio.CancelledError)


async def _hand_back(
    runtime: Runtime, *, owner: str, clock: Clock, message_ids: set[str], cause: BaseException
) -> None:
    """Best effort: release `message_ids` at once; if the database still fails, leave the leases
    to expire as after a crash, and say so once (the caller re-raises the cause with its trace)."""
    if not message_ids:
        return
    try:
        async with unit_of_work(runtime.sessions) as session:
            released = await repo.release(
                session, message_ids=sorted(message_ids), owner=owner, now=clock()
            )
    except Exception as exc:  # noqa: BLE001 - the original failure is the one to report
        log.warning(
            "drain stopped (%s); %d claimed messages could not be handed back (%s) and wait"
            " for their lease to expire",
            type(cause).__name__,
            len(message_ids),
            type(exc).__name__,
        )
        return
    log.warning(
        "drain stopped (%s); handed back %d claimed messages that were never pushed",
        type(cause).__name__,
        released,
    )


async def _deliver(
    runtime: Runtime,
    report: DrainReport,
    unsent: set[str],
    *,
    owner: str,
    clock: Clock,
    message_id: str,
    tenant_id: str,
    connection_id: str,
    payload: dict[str, Any],
    key: str,
    attempts: int,
    created_at: datetime,
) -> None:
    started = clock()
    receipt: PushReceipt | None = None
    error: ConnectorError | None = None
    async with runtime.sessions() as session:
        connection = await tenancy.get_connection(
            session, tenant_id=tenant_id, connection_id=connection_id
        )
    if connection is None or not connection.enabled:
        error = PermanentError("the ATS connection was removed or disabled")
    else:
        try:
            connector = runtime.connector_for(connection)
        except SecretDecryptionError as exc:
            # The stored credentials cannot be opened (secret key rotated away): a human fixes it.
            error = AuthError(f"the stored ATS credentials cannot be opened: {exc}")
        except LookupError as exc:
            error = PermanentError(str(exc))
        else:
            try:
                update = update_from_payload(payload)
                # From here the ATS may act on it: never hand it back, only settle or let the
                # lease run out (the retry then finds the marked effect, not a second one).
                unsent.discard(message_id)
                receipt = await connector.push_match(update, idempotency_key=key)
            except ConnectorError as exc:
                error = exc
            finally:
                await connector.aclose()
    finished = clock()
    async with unit_of_work(runtime.sessions) as session:
        message = await repo.get_for_owner(session, message_id=message_id, owner=owner)
        if message is None:
            # Our lease ran out and another drainer owns the row now: its attempt decides.
            unsent.discard(message_id)
            report.lost_lease += 1
            return
        outcome = _settle(
            message, receipt, error, now=finished, attempts=attempts, created_at=created_at
        )
        report.outcomes.append(outcome)
        if message.status == "done":
            report.done += 1
        elif message.status == "dead":
            report.dead += 1
        else:
            report.retried += 1
        await repo.add_attempt(
            session,
            DeliveryAttempt(
                tenant_id=tenant_id,
                outbox_id=message_id,
                attempt=attempts,
                outcome=outcome,
                detail=(message.last_error or receipt_detail(receipt))[:2000],
                started_at=started,
                finished_at=finished,
            ),
        )
        auth_failed = isinstance(error, AuthError)
        if connection is not None and (auth_failed or connection.status == "auth_failed"):
            stored = await tenancy.get_connection(
                session, tenant_id=tenant_id, connection_id=connection_id
            )
            if stored is not None and (auth_failed or receipt is not None):
                # A push that went through proves the credentials work again.
                stored.status = "auth_failed" if auth_failed else "ok"
                stored.last_error = message.last_error if auth_failed else None
                session.add(stored)
        await audit.append(
            session,
            tenant_id=tenant_id,
            actor="system",
            action="push",
            object_type="outbox",
            object_id=message_id,
            details={"outcome": outcome, "attempt": attempts},
            at=finished,
        )
    unsent.discard(message_id)
    log.info("push %s: %s (attempt %d)", message_id, outcome, attempts)


def receipt_detail(receipt: PushReceipt | None) -> str:
    return f"remote ref {receipt.remote_ref}" if receipt else ""


def _settle(
    message: OutboxMessage,
    receipt: PushReceipt | None,
    error: ConnectorError | None,
    *,
    now: datetime,
    attempts: int,
    created_at: datetime,
) -> str:
    message.lease_owner = None
    message.lease_until = None
    message.updated_at = now
    if receipt is not None:
        message.status = "done"
        message.remote_ref = receipt.remote_ref
        message.last_error = None
        return receipt.outcome
    assert error is not None
    message.last_error = redact(str(error))[:2000]
    too_old = now - created_at > MAX_AGE
    # Credentials wait for a human (up to MAX_AGE); counting those attempts would dead-letter
    # everything queued behind a revoked key within hours.
    out_of_attempts = attempts >= MAX_ATTEMPTS and not isinstance(error, AuthError)
    if isinstance(error, PermanentError) or out_of_attempts or too_old:
        message.status = "dead"
        return "permanent" if isinstance(error, PermanentError) else "gave_up"
    retry_after = error.retry_after if isinstance(error, TransientError) else None
    if isinstance(error, AuthError):
        # Credentials need a human; keep the message and look again much later.
        retry_after = MAX_DELAY
    message.status = "retry"
    message.next_attempt_at = now + timedelta(seconds=backoff(attempts, retry_after))
    return "auth" if isinstance(error, AuthError) else "transient"

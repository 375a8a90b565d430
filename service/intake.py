"""Credentials submitted for an application: recognise, store the exact bytes, then evaluate."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from service.db import unit_of_work
from service.errors import BadRequest, NotFound
from service.fetch import FetchError
from service.ingest import Submission, recognise
from service.pipeline import Evaluation, evaluate_application
from service.repositories import applications as app_repo
from service.repositories import audit
from service.repositories import credentials as cred_repo
from service.runtime import Runtime

log = logging.getLogger(__name__)


async def submit_credential(
    runtime: Runtime,
    *,
    tenant_id: str,
    application_id: str,
    body: bytes,
    content_type: str | None,
    actor: str,
    now: datetime | None = None,
) -> tuple[str, bool, Evaluation]:
    """Store one credential for an application and re-evaluate it.

    Returns (raw credential id, whether it was new, evaluation). Refusals raise 4xx errors
    before anything is written.
    """
    limit = runtime.settings.max_credential_bytes
    submission = recognise(body, declared=content_type, max_bytes=limit)
    source, source_ref = "upload", None
    if submission.url is not None:
        submission, source_ref = (
            await _fetch_submission(runtime, submission.url, limit),
            submission.url,
        )
        source = "url"
    async with unit_of_work(runtime.sessions) as session:
        application = await app_repo.get_application(
            session, tenant_id=tenant_id, application_id=application_id
        )
        if application is None:
            raise NotFound(f"application {application_id} not found")
        raw, is_new = await cred_repo.store_raw(
            session,
            tenant_id=tenant_id,
            candidate_id=application.candidate_id,
            application_id=application.id,
            source=source,
            source_ref=source_ref,
            media_type=submission.media_type,
            content=submission.content,
        )
        await audit.append(
            session,
            tenant_id=tenant_id,
            actor=actor,
            action="credential_received",
            object_type="raw_credential",
            object_id=raw.id,
            details={
                "sha256": raw.sha256,
                "media_type": raw.media_type,
                "source": source,
                "new": is_new,
            },
            at=now or datetime.now(UTC),
        )
    evaluation = await evaluate_application(
        runtime, tenant_id=tenant_id, application_id=application_id, now=now or datetime.now(UTC)
    )
    return raw.id, is_new, evaluation


async def _fetch_submission(runtime: Runtime, url: str, limit: int) -> Submission:
    try:
        document = await runtime.fetcher.fetch(url, max_bytes=limit)
    except FetchError as exc:
        raise BadRequest(f"cannot fetch {url}: {exc}") from exc
    if document.status != 200:
        raise BadRequest(f"cannot fetch {url}: the server answered HTTP {document.status}")
    fetched = recognise(document.body, declared=document.content_type, max_bytes=limit)
    if fetched.url is not None:
        raise BadRequest(f"{url} points to another URL, not to a credential")
    return fetched

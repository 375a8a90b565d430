"""Read models for the API and the pages: plain JSON-safe dicts, always scoped to one tenant."""

from __future__ import annotations

import json
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from service import taxonomy_rows
from service.errors import NotFound
from service.models import MatchResult
from service.repositories import applications as app_repo
from service.repositories import credentials as cred_repo
from service.repositories import matches as match_repo
from service.repositories import outbox as outbox_repo
from service.repositories import profiles as profile_repo
from service.repositories import runs as runs_repo
from service.repositories import taxonomy as taxonomy_repo
from service.repositories import tenancy
from service.runtime import Runtime
from taxonomies import esco


async def application_list(
    runtime: Runtime, *, tenant_id: str, limit: int = 100, offset: int = 0
) -> list[dict[str, Any]]:
    async with runtime.sessions() as session:
        rows = await app_repo.list_applications(
            session, tenant_id=tenant_id, limit=limit, offset=offset
        )
        items = []
        for application in rows:
            candidate = await app_repo.get_candidate(
                session, tenant_id=tenant_id, candidate_id=application.candidate_id
            )
            job = await app_repo.get_job(session, tenant_id=tenant_id, job_id=application.job_id)
            match = await match_repo.latest_for_application(
                session, tenant_id=tenant_id, application_id=application.id
            )
            items.append(
                {
                    "id": application.id,
                    "external_ref": application.external_ref,
                    "candidate": candidate.display_name if candidate else None,
                    "job": job.title if job else None,
                    "status": application.status,
                    "score": match.score if match else None,
                    "band": match.band if match else None,
                    "computed_at": match.computed_at.isoformat() if match else None,
                }
            )
    return items


async def application_detail(
    runtime: Runtime, *, tenant_id: str, application_id: str
) -> dict[str, Any]:
    async with runtime.sessions() as session:
        application = await app_repo.get_application(
            session, tenant_id=tenant_id, application_id=application_id
        )
        if application is None:
            raise NotFound(f"application {application_id} not found")
        candidate = await app_repo.get_candidate(
            session, tenant_id=tenant_id, candidate_id=application.candidate_id
        )
        job = await app_repo.get_job(session, tenant_id=tenant_id, job_id=application.job_id)
        raws = await cred_repo.raw_for_application(
            session, tenant_id=tenant_id, application_id=application.id
        )
        verifications = await cred_repo.latest_verifications(
            session, tenant_id=tenant_id, raw_ids=[r.id for r in raws]
        )
        match = await match_repo.latest_for_application(
            session, tenant_id=tenant_id, application_id=application.id
        )
        match_view = await _match_view(runtime, session, match) if match else None
        pushes = await outbox_repo.pending_for_application(
            session, tenant_id=tenant_id, target_ref=application.id
        )
    credentials = []
    for raw in raws:
        verification = verifications.get(raw.id)
        credentials.append(
            {
                "id": raw.id,
                "sha256": raw.sha256,
                "media_type": raw.media_type,
                "source": raw.source,
                "received_at": raw.received_at.isoformat(),
                "verdict": verification.verdict if verification else None,
                "format": verification.format if verification else None,
                "issuer": verification.issuer_name or verification.issuer_id
                if verification
                else None,
                "checks": verification.checks if verification else [],
                "name": _credential_name(
                    verification.result if verification else {}, raw.content, raw.media_type
                ),
            }
        )
    return {
        "id": application.id,
        "external_ref": application.external_ref,
        "status": application.status,
        "candidate": {"id": candidate.id, "name": candidate.display_name} if candidate else None,
        "job": {"id": job.id, "title": job.title} if job else None,
        "credentials": credentials,
        "match": match_view,
        "pushes": [
            {
                "id": p.id,
                "status": p.status,
                "attempts": p.attempts,
                "last_error": p.last_error,
                "remote_ref": p.remote_ref,
            }
            for p in pushes
        ],
    }


def _credential_name(result: dict[str, Any], content: bytes, media_type: str) -> str | None:
    """A label for people. For a credential that failed verification it is read from the
    unverified document, shown as what the credential claims to be, and never scored."""
    achievements = result.get("achievements") or []
    if achievements:
        return str(achievements[0].get("name"))
    if media_type != "application/json":
        return None
    try:
        document = json.loads(content)
        subject = document.get("credentialSubject") or {}
        if isinstance(subject, list):
            subject = subject[0] if subject else {}
        achievement = subject.get("achievement") or {}
        name = achievement.get("name") or document.get("name")
    except (ValueError, AttributeError, TypeError):
        return None
    return str(name)[:300] if isinstance(name, str) else None


async def match_for_evidence(runtime: Runtime, *, tenant_id: str, match_id: str) -> dict[str, Any]:
    """The application behind a signed evidence link, with its latest match.

    The ATS keeps the link it was first given, while every re-validation stores a new match (with
    an unchanged score nothing new is pushed). Showing the linked match would show a result older
    than the dashboard's, so the newest one is shown, marked `rechecked` with the linked one's
    time. Both lookups are scoped to the tenant the link was signed for.
    """
    async with runtime.sessions() as session:
        linked = await match_repo.get_match(session, tenant_id=tenant_id, match_id=match_id)
        if linked is None:
            raise NotFound("this evidence is no longer available")
        linked_view = await _match_view(runtime, session, linked)
    try:
        detail = await application_detail(
            runtime, tenant_id=tenant_id, application_id=linked.application_id
        )
    except NotFound as exc:
        raise NotFound("this evidence is no longer available") from exc
    latest = detail["match"]
    if latest is None or latest["id"] == linked.id:
        detail["match"] = linked_view
    else:
        latest["rechecked"] = {
            "linked_match_id": linked.id,
            "linked_computed_at": linked_view["computed_at"],
        }
    return detail


async def _match_view(
    runtime: Runtime, session: AsyncSession, match: MatchResult
) -> dict[str, Any]:
    return {
        "id": match.id,
        "score": match.score,
        "band": match.band,
        "explanation": match.explanation,
        "versions": match.versions,
        "attribution": await _attribution(
            runtime, session, tenant_id=match.tenant_id, taxonomy=match.versions.get("taxonomy")
        ),
        "computed_at": match.computed_at.isoformat(),
    }


async def _attribution(
    runtime: Runtime, session: AsyncSession, *, tenant_id: str, taxonomy: object
) -> str | None:
    """The text the scored taxonomy asks to be shown wherever its data is (ESCO's licence does):
    a score's explanation is made of its concept labels. `taxonomy` is the `name@version` the
    score was computed with; that version's stored text wins, then the bundled one's."""
    name, _, version = str(taxonomy or "").partition("@")
    if not name:
        return None
    records = await taxonomy_repo.visible_versions(session, tenant_id=tenant_id, name=name)
    record = taxonomy_rows.choose_version(records, tenant_id=tenant_id, version=version or None)
    if record is not None and record.attribution:
        return record.attribution
    bundled = runtime.catalog.get(name)
    if bundled is not None and bundled.taxonomy.version == version:
        return bundled.taxonomy.attribution or None
    if name == esco.NAME and version:
        return esco.attribution(version)  # a version since removed still came from ESCO
    return None


async def job_list(runtime: Runtime, *, tenant_id: str) -> list[dict[str, Any]]:
    async with runtime.sessions() as session:
        jobs = await app_repo.list_jobs(session, tenant_id=tenant_id)
        profiles = {
            p.job_id: p for p in await profile_repo.list_profiles(session, tenant_id=tenant_id)
        }
        items = []
        for job in jobs:
            profile = profiles.get(job.id)
            requirements: list[dict[str, Any]] = []
            if profile is not None:
                current = await profile_repo.current_version(session, profile=profile)
                if current is not None:
                    requirements = [
                        {
                            "concept_id": r.concept_id,
                            "label": r.label,
                            "importance": r.importance,
                            "weight": r.weight,
                        }
                        for r in current[1]
                    ]
            items.append(
                {
                    "id": job.id,
                    "external_ref": job.external_ref,
                    "title": job.title,
                    "status": job.status,
                    "role_profile": {
                        "id": profile.id,
                        "name": profile.name,
                        "version": profile.current_version,
                        "requirements": requirements,
                    }
                    if profile
                    else None,
                }
            )
    return items


async def connection_list(runtime: Runtime, *, tenant_id: str) -> list[dict[str, Any]]:
    async with runtime.sessions() as session:
        connections = await tenancy.list_connections(session, tenant_id=tenant_id)
        runs = await runs_repo.recent_runs(session, tenant_id=tenant_id, limit=50)
    last_run: dict[str, Any] = {}
    for run in runs:
        last_run.setdefault(run.connection_id, run)
    return [
        {
            "id": c.id,
            "kind": c.kind,
            "provider": c.provider,
            "name": c.name,
            "base_url": c.base_url,
            "enabled": c.enabled,
            "status": c.status,
            "last_error": c.last_error,
            "has_secret": c.secret_ciphertext is not None,
            "last_run": {
                "id": r.id,
                "status": r.status,
                "counts": r.counts,
                "started_at": r.started_at.isoformat(),
            }
            if (r := last_run.get(c.id))
            else None,
        }
        for c in connections
    ]


async def outbox_summary(runtime: Runtime, *, tenant_id: str) -> dict[str, Any]:
    async with runtime.sessions() as session:
        counts = await outbox_repo.counts_by_status(session, tenant_id=tenant_id)
        messages = await outbox_repo.list_messages(session, tenant_id=tenant_id, limit=50)
    return {
        "counts": counts,
        "messages": [
            {
                "id": m.id,
                "target_ref": m.target_ref,
                "status": m.status,
                "attempts": m.attempts,
                "last_error": m.last_error,
                "remote_ref": m.remote_ref,
                "next_attempt_at": m.next_attempt_at.isoformat(),
            }
            for m in messages
        ],
    }

"""The sandbox ATS's API handlers: Harvest-style JSON, Link paging, custom fields and notes.

Routes (the server's middleware requires Basic auth on all of them):

GET   /v1/jobs                              paged with per_page/page and RFC 8288 Link
GET   /v1/jobs/{id}
GET   /v1/applications?updated_after=ISO    paged; candidate and credentials embedded
GET   /v1/applications/{id}
GET   /v1/candidates/{id}
PATCH /v1/applications/{id}/custom_fields   sets values (idempotent)
GET   /v1/applications/{id}/notes           paged
POST  /v1/applications/{id}/notes           appends a note (not idempotent)
GET   /v1/_pushes                           every write received, for tests
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Sequence
from typing import Any, TypeVar

from aiohttp import web

from connectors.ats.sandbox_state import (
    PushRecord,
    SandboxApplication,
    SandboxCandidate,
    SandboxJob,
    SandboxState,
    iso,
    parse_iso,
)

__all__ = ["PAGE_SIZE_MAX", "STATE", "add_api_routes", "push_json"]

T = TypeVar("T")
NOTE_VISIBILITIES = frozenset({"admin_only", "private", "public"})

STATE = web.AppKey("sandbox_state", SandboxState)
PAGE_SIZE_MAX = web.AppKey("sandbox_page_size_max", int)


def add_api_routes(app: web.Application) -> None:
    """Register every /v1 route on `app` (which must hold STATE and PAGE_SIZE_MAX)."""
    app.router.add_get("/v1/jobs", _list_jobs)
    app.router.add_get(r"/v1/jobs/{id:\d+}", _get_job)
    app.router.add_get("/v1/applications", _list_applications)
    app.router.add_get(r"/v1/applications/{id:\d+}", _get_application)
    app.router.add_get(r"/v1/candidates/{id:\d+}", _get_candidate)
    app.router.add_patch(r"/v1/applications/{id:\d+}/custom_fields", _set_custom_fields)
    app.router.add_get(r"/v1/applications/{id:\d+}/notes", _list_notes)
    app.router.add_post(r"/v1/applications/{id:\d+}/notes", _add_note)
    app.router.add_get("/v1/_pushes", _list_pushes)


def _reject(status: int, message: str) -> web.HTTPException:
    cls = web.HTTPUnprocessableEntity if status == 422 else web.HTTPNotFound
    return cls(text=json.dumps({"message": message}), content_type="application/json")


def _int_param(request: web.Request, name: str, default: int, upper: int) -> int:
    text = request.query.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise _reject(422, f"{name} must be an integer") from None
    if value < 1:
        raise _reject(422, f"{name} must be at least 1")
    return min(value, upper)


def _paged(request: web.Request, items: Sequence[T]) -> tuple[Sequence[T], dict[str, str]]:
    """Slice `items` by per_page/page and build the Link header (next, prev, last)."""
    per_page = _int_param(request, "per_page", 100, request.app[PAGE_SIZE_MAX])
    page = _int_param(request, "page", 1, 1_000_000)
    last = max(1, math.ceil(len(items) / per_page))
    links = []
    if page < last:
        links.append(f'<{request.url.update_query(page=page + 1)}>; rel="next"')
    if page > 1:
        links.append(f'<{request.url.update_query(page=min(page - 1, last))}>; rel="prev"')
    links.append(f'<{request.url.update_query(page=last)}>; rel="last"')
    start = (page - 1) * per_page
    return items[start : start + per_page], {"Link": ", ".join(links)}


def _job_json(job: SandboxJob) -> dict[str, Any]:
    return {
        "id": job.id,
        "name": job.name,
        "status": job.status,
        "notes": job.description,
        "departments": [{"name": job.department}] if job.department else [],
        "created_at": iso(job.created_at),
        "updated_at": iso(job.updated_at),
    }


def _candidate_json(state: SandboxState, candidate: SandboxCandidate) -> dict[str, Any]:
    return {
        "id": candidate.id,
        "first_name": candidate.first_name,
        "last_name": candidate.last_name,
        "email_addresses": [
            {"value": e.value, "type": e.type, "verified": e.verified} for e in candidate.emails
        ],
        "application_ids": [
            a.id for a in state.applications.values() if a.candidate_id == candidate.id
        ],
        "custom_fields": {"dids": list(candidate.dids)},
        "created_at": iso(candidate.created_at),
        "updated_at": iso(candidate.updated_at),
    }


def _application_json(state: SandboxState, application: SandboxApplication) -> dict[str, Any]:
    job = state.jobs[application.job_id]
    return {
        "id": application.id,
        "candidate_id": application.candidate_id,
        "status": application.status,
        "applied_at": iso(application.applied_at),
        "updated_at": iso(application.updated_at),
        "last_activity_at": iso(application.updated_at),
        "jobs": [{"id": job.id, "name": job.name}],
        "candidate": _candidate_json(state, state.candidates[application.candidate_id]),
        "attachments": [
            {
                "id": a.id,
                "filename": a.filename,
                "type": "credential",
                "content_type": a.media_type,
                "content": base64.b64encode(a.content).decode("ascii"),
                "created_at": iso(a.created_at),
            }
            for a in application.attachments
        ],
        "custom_fields": dict(application.custom_fields),
    }


def push_json(push: PushRecord) -> dict[str, Any]:
    return {
        "id": push.id,
        "method": push.method,
        "path": push.path,
        "headers": push.headers,
        "body": push.body,
        "outcome": push.outcome,
        "received_at": iso(push.received_at),
    }


def _found(mapping: dict[int, T], request: web.Request, what: str) -> T:
    item = mapping.get(int(request.match_info["id"]))
    if item is None:
        raise _reject(404, f"{what} not found")
    return item


async def _list_jobs(request: web.Request) -> web.Response:
    jobs = sorted(request.app[STATE].jobs.values(), key=lambda j: j.id)
    page, headers = _paged(request, jobs)
    return web.json_response([_job_json(j) for j in page], headers=headers)


async def _get_job(request: web.Request) -> web.Response:
    return web.json_response(_job_json(_found(request.app[STATE].jobs, request, "Job")))


async def _list_applications(request: web.Request) -> web.Response:
    state = request.app[STATE]
    applications = list(state.applications.values())
    since_text = request.query.get("updated_after")
    if since_text is not None:
        try:
            since = parse_iso(since_text)
        except ValueError:
            raise _reject(422, "updated_after must be an ISO 8601 timestamp") from None
        # At or after: a sync that resumes from its last high-water mark misses nothing.
        applications = [a for a in applications if a.updated_at >= since]
    applications.sort(key=lambda a: (a.updated_at, a.id))
    page, headers = _paged(request, applications)
    return web.json_response([_application_json(state, a) for a in page], headers=headers)


async def _get_application(request: web.Request) -> web.Response:
    state = request.app[STATE]
    return web.json_response(
        _application_json(state, _found(state.applications, request, "Application"))
    )


async def _get_candidate(request: web.Request) -> web.Response:
    state = request.app[STATE]
    return web.json_response(_candidate_json(state, _found(state.candidates, request, "Candidate")))


async def _json_body(request: web.Request) -> Any:
    try:
        return await request.json()
    except ValueError:
        raise _reject(422, "body must be JSON") from None


async def _set_custom_fields(request: web.Request) -> web.Response:
    application = _found(request.app[STATE].applications, request, "Application")
    body = await _json_body(request)
    fields = body.get("custom_fields") if isinstance(body, dict) else None
    if not isinstance(fields, list) or not all(
        isinstance(f, dict) and isinstance(f.get("name_key"), str) for f in fields
    ):
        raise _reject(422, "custom_fields must be a list of {name_key, value}")
    for item in fields:
        if item.get("delete_value") == "true":
            application.custom_fields.pop(item["name_key"], None)
        elif item.get("value") is None or item.get("value") == "":
            # As in Harvest: blank values are refused; clearing takes delete_value "true".
            raise _reject(422, f"{item['name_key']}: use delete_value to clear a field")
        else:
            application.custom_fields[item["name_key"]] = item["value"]
    return web.json_response({"id": application.id, "custom_fields": application.custom_fields})


async def _list_notes(request: web.Request) -> web.Response:
    application = _found(request.app[STATE].applications, request, "Application")
    page, headers = _paged(request, application.notes)
    notes = [
        {"id": n.id, "body": n.body, "visibility": n.visibility, "created_at": iso(n.created_at)}
        for n in page
    ]
    return web.json_response(notes, headers=headers)


async def _add_note(request: web.Request) -> web.Response:
    state = request.app[STATE]
    application = _found(state.applications, request, "Application")
    body = await _json_body(request)
    text = body.get("body") if isinstance(body, dict) else None
    visibility = body.get("visibility", "public") if isinstance(body, dict) else None
    if not isinstance(text, str) or not text.strip():
        raise _reject(422, "body is required")
    if visibility not in NOTE_VISIBILITIES:
        raise _reject(422, f"visibility must be one of {sorted(NOTE_VISIBILITIES)}")
    note = state.add_note(application.id, body=text, visibility=visibility)
    return web.json_response(
        {
            "id": note.id,
            "body": note.body,
            "visibility": note.visibility,
            "created_at": iso(note.created_at),
        },
        status=201,
    )


async def _list_pushes(request: web.Request) -> web.Response:
    return web.json_response([push_json(p) for p in request.app[STATE].pushes])

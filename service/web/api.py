"""JSON API handlers: parse, call the service, respond. No SQL here."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from aiohttp import BodyPartReader, web

from service import taxonomy_store, trust, views
from service.catalog import LoadedTaxonomy
from service.errors import BadRequest, NotFound, PayloadTooLarge
from service.intake import submit_credential
from service.sync import sync_connection
from service.verify import Holder
from service.web.auth import authenticate
from service.web.keys import METRICS, RUNTIME
from taxonomies.model import ConceptKind, Taxonomy
from taxonomies.occupations import draft_role_profile


async def _read_body(request: web.Request) -> bytes:
    limit = request.app[RUNTIME].settings.max_credential_bytes
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(
            f"credential is {request.content_length} bytes; the limit is {limit} bytes"
        )
    # StreamReader.read(n) returns what has arrived so far, not n bytes: read to the end (or
    # past the limit), or a large upload would be stored cut short under its own SHA-256.
    body = bytearray()
    while chunk := await request.content.read(limit + 1 - len(body)):
        body.extend(chunk)
        if len(body) > limit:
            raise PayloadTooLarge(f"credential is larger than the limit of {limit} bytes")
    return bytes(body)


async def post_credential(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    runtime = request.app[RUNTIME]
    content_type: str | None = request.content_type
    if request.content_type.startswith("multipart/"):  # a file picked in a browser form
        body, content_type = await _multipart_file(request)
    else:
        body = await _read_body(request)
    raw_id, is_new, evaluation = await submit_credential(
        runtime,
        tenant_id=principal.tenant_id,
        application_id=request.match_info["application_id"],
        body=body,
        content_type=content_type,
        actor=f"api_key:{principal.api_key_id}",
    )
    for _, result in evaluation.results:
        request.app[METRICS].credentials.labels(result.verdict.value).inc()
    stored = next((r for rid, r in evaluation.results if rid == raw_id), None)
    return web.json_response(
        {
            "credential_id": raw_id,
            "new": is_new,
            "verification": stored.to_json() if stored else None,
            "match": evaluation.outcome.explanation() if evaluation.outcome else None,
        },
        status=201 if is_new else 200,
    )


async def list_applications(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    limit = _int_param(request, "limit", 100, maximum=500)
    offset = _int_param(request, "offset", 0, maximum=10**9)
    items = await views.application_list(
        request.app[RUNTIME], tenant_id=principal.tenant_id, limit=limit, offset=offset
    )
    return web.json_response({"applications": items, "limit": limit, "offset": offset})


async def get_application(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    detail = await views.application_detail(
        request.app[RUNTIME],
        tenant_id=principal.tenant_id,
        application_id=request.match_info["application_id"],
    )
    return web.json_response(detail)


async def evaluate(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    runtime = request.app[RUNTIME]
    application_id = request.match_info["application_id"]
    await views.application_detail(
        runtime, tenant_id=principal.tenant_id, application_id=application_id
    )  # 404 for other tenants
    from service.pipeline import evaluate_application

    evaluation = await evaluate_application(
        runtime,
        tenant_id=principal.tenant_id,
        application_id=application_id,
        now=datetime.now(UTC),
    )
    return web.json_response(
        {
            "match": evaluation.outcome.explanation() if evaluation.outcome else None,
            "enqueued": evaluation.enqueued,
        }
    )


async def list_jobs(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    return web.json_response(
        {"jobs": await views.job_list(request.app[RUNTIME], tenant_id=principal.tenant_id)}
    )


async def list_connections(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    return web.json_response(
        {
            "connections": await views.connection_list(
                request.app[RUNTIME], tenant_id=principal.tenant_id
            )
        }
    )


async def sync_now(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    try:
        report = await sync_connection(
            request.app[RUNTIME],
            tenant_id=principal.tenant_id,
            connection_id=request.match_info["connection_id"],
        )
    except LookupError as exc:
        raise NotFound("connection not found") from exc
    return web.json_response(
        {
            "run_id": report.run_id,
            "status": report.status,
            "counts": report.counts(),
            "error": report.error,
        }
    )


async def outbox_status(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    return web.json_response(
        await views.outbox_summary(request.app[RUNTIME], tenant_id=principal.tenant_id)
    )


async def verify_credential(request: web.Request) -> web.Response:
    """Verify without storing anything: JSON, JWT as text, or a multipart image upload."""
    principal = await authenticate(request)
    runtime = request.app[RUNTIME]
    holder = Holder(
        emails=tuple(request.query.getall("holder_email", [])),
        dids=tuple(request.query.getall("holder_did", [])),
    )
    media_type: str | None = request.content_type
    if request.content_type.startswith("multipart/"):
        body, media_type = await _multipart_file(request)
    else:
        body = await _read_body(request)
    if not body.strip():
        raise BadRequest("empty body: send a credential as JSON, a JWT, or an image upload")
    result = await runtime.verifier.verify(
        body,
        now=datetime.now(UTC),
        holder=holder if holder.emails or holder.dids else None,
        policy=await trust.policy_for(runtime, tenant_id=principal.tenant_id),
        media_type=media_type,
    )
    request.app[METRICS].credentials.labels(result.verdict.value).inc()
    return web.json_response(result.to_json())


async def _multipart_file(request: web.Request) -> tuple[bytes, str | None]:
    limit = request.app[RUNTIME].settings.max_credential_bytes
    try:
        reader = await request.multipart()
        async for part in reader:
            if not isinstance(part, BodyPartReader) or part.filename is None:
                continue
            chunks = bytearray()
            while chunk := await part.read_chunk():
                chunks.extend(chunk)
                if len(chunks) > limit:
                    raise PayloadTooLarge(f"upload is larger than the limit of {limit} bytes")
            return bytes(chunks), part.headers.get("Content-Type")
    except ValueError as error:  # how aiohttp reports a malformed multipart body
        raise BadRequest(f"malformed multipart body: {error}") from error
    raise BadRequest("multipart body has no file part")


def _int_param(request: web.Request, name: str, default: int, *, maximum: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise BadRequest(f"{name} must be an integer") from exc
    if not 0 <= value <= maximum:
        raise BadRequest(f"{name} must be between 0 and {maximum}")
    return value


async def list_trusted_issuers(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    issuers = await trust.list_issuers(request.app[RUNTIME], tenant_id=principal.tenant_id)
    return web.json_response({"issuers": issuers})


async def add_trusted_issuer(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    body = await _json_body(request)
    entry = await trust.add_issuer(
        request.app[RUNTIME],
        tenant_id=principal.tenant_id,
        body=body,
        actor=f"api_key:{principal.api_key_id}",
    )
    return web.json_response(entry, status=201)


async def remove_trusted_issuer(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    await trust.remove_issuer(
        request.app[RUNTIME],
        tenant_id=principal.tenant_id,
        entry_id=request.match_info["entry_id"],
        actor=f"api_key:{principal.api_key_id}",
    )
    return web.Response(status=204)


async def list_taxonomies(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    runtime = request.app[RUNTIME]
    stored = await taxonomy_store.list_taxonomies(runtime.sessions, tenant_id=principal.tenant_id)
    items = [
        {
            "id": t.id,
            "name": t.name,
            "version": t.version,
            "source": t.source,
            "licence": t.licence,
            "attribution": t.attribution,
            "concepts": t.concept_count,
            "shared": t.shared,
            "default": t.is_default,
        }
        for t in stored
    ]
    stored_names = {t.name for t in stored}
    for name in runtime.catalog.names():
        if name not in stored_names:
            bundled = runtime.catalog.get(name)
            assert bundled is not None
            items.append(
                {
                    "id": None,
                    "name": name,
                    "version": bundled.taxonomy.version,
                    "source": bundled.taxonomy.source,
                    "licence": bundled.taxonomy.licence,
                    "attribution": bundled.taxonomy.attribution,
                    "concepts": len(bundled.taxonomy),
                    "shared": True,
                    "default": False,
                }
            )
    return web.json_response({"taxonomies": items})


async def search_taxonomy(request: web.Request) -> web.Response:
    """Autocomplete over a taxonomy's preferred, alternative and hidden labels."""
    principal = await authenticate(request)
    query = request.query.get("q", "").strip()
    if not query:
        raise BadRequest("q is required: the text to search for")
    if len(query) > 200:
        raise BadRequest("q is limited to 200 characters")
    limit = _int_param(request, "limit", 10, maximum=50)
    loaded = await _resolved(request, principal.tenant_id)
    hits = loaded.index.search(query, top_k=limit)
    return web.json_response(
        {
            "taxonomy": _taxonomy_json(loaded.taxonomy),
            "query": query,
            "results": [
                {
                    "concept_id": h.concept_id,
                    "label": h.label,
                    "matched_label": h.matched_label,
                    "score": round(h.score, 4),
                }
                for h in hits
            ],
        }
    )


async def search_occupations(request: web.Request) -> web.Response:
    """Occupations for a job title, best first, learning from this tenant's earlier choices."""
    principal = await authenticate(request)
    runtime = request.app[RUNTIME]
    title = " ".join(request.query.get("title", "").split())
    if not title:
        raise BadRequest("title is required: the job title to find occupations for")
    if len(title) > 200:
        raise BadRequest("title is limited to 200 characters")
    limit = _int_param(request, "limit", 10, maximum=50)
    loaded = await _resolved(request, principal.tenant_id)
    search = await runtime.catalog.title_search(
        runtime.sessions, loaded, tenant_id=principal.tenant_id
    )
    hits = await asyncio.to_thread(search.search, title, top_k=limit)
    return web.json_response(
        {
            "taxonomy": _taxonomy_json(loaded.taxonomy),
            "title": title,
            "learned_from": search.learned,
            "results": [
                {
                    "concept_id": h.concept_id,
                    "label": h.label,
                    "score": round(h.score, 4),
                    "method": h.method,
                }
                for h in hits
            ],
        }
    )


async def post_occupation_choice(request: web.Request) -> web.Response:
    """HR chose an occupation for a job title: {"title": ..., "occupation_id": ...}."""
    principal = await authenticate(request)
    runtime = request.app[RUNTIME]
    body = await _json_body(request)
    title, occupation_id = body.get("title"), body.get("occupation_id")
    if not isinstance(title, str) or not isinstance(occupation_id, str):
        raise BadRequest('expected {"title": "...", "occupation_id": "..."}')
    version_id = await _stored_version(request, principal.tenant_id)
    choice = await taxonomy_store.record_occupation_choice(
        runtime.sessions,
        tenant_id=principal.tenant_id,
        taxonomy_id=version_id,
        title=title,
        occupation_id=occupation_id,
        created_by=f"api_key:{principal.api_key_id}",
    )
    return web.json_response(
        {
            "id": choice.id,
            "title": choice.title,
            "occupation_id": choice.occupation_id,
            "taxonomy_id": version_id,
        },
        status=201,
    )


async def draft_profile(request: web.Request) -> web.Response:
    """What the taxonomy says an occupation needs: a draft role profile for HR to edit."""
    principal = await authenticate(request)
    occupation_id = request.query.get("occupation_id", "").strip()
    if not occupation_id:
        raise BadRequest("occupation_id is required")
    loaded = await _resolved(request, principal.tenant_id)
    concept = loaded.taxonomy.concepts.get(occupation_id)
    if concept is None or concept.kind is not ConceptKind.OCCUPATION:
        raise NotFound(f"no occupation {occupation_id} in {loaded.taxonomy.key}")
    profile = draft_role_profile(loaded.taxonomy, occupation_id)
    return web.json_response(
        {
            "taxonomy": _taxonomy_json(loaded.taxonomy),
            "occupation_id": profile.occupation_id,
            "title": profile.title,
            "description": profile.description,
            "requirements": [
                {
                    "concept_id": r.concept_id,
                    "label": r.label,
                    "essential": r.essential,
                    "weight": r.weight,
                }
                for r in profile.requirements
            ],
        }
    )


async def _json_body(request: web.Request) -> dict[str, object]:
    """The request's JSON object, or a 400 saying what was wrong with it."""
    try:
        body = await request.json()
    except ValueError as exc:
        raise BadRequest("body must be JSON") from exc
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    if _has_nul(body):
        raise BadRequest("body contains a NUL character (\\u0000), which no field accepts")
    return body


def _has_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(item) for item in value)
    return False


async def _resolved(request: web.Request, tenant_id: str) -> LoadedTaxonomy:
    """The taxonomy named in the path, as this tenant sees it, or 404."""
    runtime = request.app[RUNTIME]
    name = request.match_info["name"]
    loaded = await runtime.catalog.resolve(runtime.sessions, name=name, tenant_id=tenant_id)
    if loaded is None:
        raise NotFound(f"no taxonomy {name}")
    return loaded


async def _stored_version(request: web.Request, tenant_id: str) -> str:
    """The id of the stored version the tenant sees under the path's taxonomy name, or 404."""
    name = request.match_info["name"]
    version_id = await taxonomy_store.current_version_id(
        request.app[RUNTIME].sessions, name=name, tenant_id=tenant_id
    )
    if version_id is None:
        raise NotFound(f"no stored taxonomy {name}")
    return version_id


def _taxonomy_json(taxonomy: Taxonomy) -> dict[str, str]:
    return {
        "name": taxonomy.name,
        "version": taxonomy.version,
        "attribution": taxonomy.attribution,
    }


async def put_override(request: web.Request) -> web.Response:
    """HR confirms or corrects how a phrase maps: {"phrase": ..., "concept_id": id | null}."""
    principal = await authenticate(request)
    runtime = request.app[RUNTIME]
    body = await _json_body(request)
    phrase = body.get("phrase")
    if not isinstance(phrase, str):
        raise BadRequest('expected {"phrase": "...", "concept_id": "..." or null}')
    if "concept_id" not in body:
        raise BadRequest(
            "concept_id is required: a concept id, or null to stop the phrase from mapping"
        )
    concept_id = body["concept_id"]
    if concept_id is not None and not isinstance(concept_id, str):
        raise BadRequest("concept_id must be a concept id or null (meaning: never map this)")
    version_id = await _stored_version(request, principal.tenant_id)
    key = await taxonomy_store.set_override(
        runtime.sessions,
        tenant_id=principal.tenant_id,
        taxonomy_id=version_id,
        phrase=phrase,
        concept_id=concept_id,
        created_by=f"api_key:{principal.api_key_id}",
    )
    return web.json_response({"phrase": key, "concept_id": concept_id, "taxonomy_id": version_id})

"""Identical writes arriving at once: one change is stored, every answer is a clear one, no 500."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import ClientResponse
from sqlmodel import func, select

from service.models import AuditEvent, MappingOverride, RawCredential, TrustedIssuer
from service.runtime import Runtime
from tests.service.support import Api

PARALLEL = 6


async def _at_once(send: Callable[[], Awaitable[ClientResponse]]) -> list[tuple[int, Any]]:
    """Fire PARALLEL identical requests together; (status, JSON body) of each, in order."""
    responses: list[ClientResponse] = await asyncio.gather(*(send() for _ in range(PARALLEL)))
    return [(r.status, await r.json()) for r in responses]


async def _count(runtime: Runtime, model: type[Any], *where: Any) -> int:
    async with runtime.sessions() as session:
        query = select(func.count()).select_from(model)
        if where:
            query = query.where(*where)
        return int((await session.exec(query)).one())


async def test_the_same_new_credential_posted_at_once_is_stored_once(api: Api) -> None:
    body = json.dumps(
        {
            "@context": ["https://www.w3.org/ns/credentials/v2"],
            "type": ["VerifiableCredential", "OpenBadgeCredential"],
            "issuer": "did:example:issuer",
            "credentialSubject": {"description": "posted six times at once"},
        }
    ).encode()

    async def send() -> ClientResponse:
        return await api.client.post(
            f"/api/v1/applications/{api.acme.application_id}/credentials",
            data=body,
            headers={**api.auth(api.acme), "Content-Type": "application/json"},
        )

    answers = await _at_once(send)
    statuses = sorted(status for status, _ in answers)
    assert statuses == [200] * (PARALLEL - 1) + [201], answers
    assert sorted(payload["new"] for _, payload in answers) == [False] * (PARALLEL - 1) + [True]
    assert len({payload["credential_id"] for _, payload in answers}) == 1, answers
    assert await _count(api.runtime, RawCredential) == 1
    received = await _count(api.runtime, AuditEvent, AuditEvent.action == "credential_received")
    assert received == PARALLEL, "every submission is on the record, new or not"


async def test_the_same_override_put_at_once_is_idempotent(api: Api) -> None:
    from service.taxonomy_store import import_taxonomy
    from taxonomies import starter

    stored = await import_taxonomy(api.runtime.sessions, starter.load(), tenant_id=None)
    body = {"phrase": "Racey phrase", "concept_id": "sp:skill/spreadsheet-analysis"}

    async def send() -> ClientResponse:
        return await api.client.put(
            "/api/v1/taxonomies/skillproof-starter/overrides", json=body, headers=api.auth(api.acme)
        )

    answers = await _at_once(send)
    assert [status for status, _ in answers] == [200] * PARALLEL, answers
    assert all(payload["concept_id"] == body["concept_id"] for _, payload in answers), answers
    rows = await _count(
        api.runtime,
        MappingOverride,
        MappingOverride.tenant_id == api.acme.tenant_id,
        MappingOverride.taxonomy_id == stored.taxonomy_id,
    )
    assert rows == 1


async def test_the_same_override_changed_at_once_keeps_one_row(api: Api) -> None:
    """Racing PUTs with different answers all succeed; the one row holds one of them."""
    from service.taxonomy_store import import_taxonomy, overrides
    from taxonomies import starter

    stored = await import_taxonomy(api.runtime.sessions, starter.load(), tenant_id=None)
    choices = ["sp:skill/spreadsheet-analysis", "sp:skill/sql", None]
    responses = await asyncio.gather(
        *(
            api.client.put(
                "/api/v1/taxonomies/skillproof-starter/overrides",
                json={"phrase": "Racey phrase", "concept_id": choices[n % len(choices)]},
                headers=api.auth(api.acme),
            )
            for n in range(PARALLEL)
        )
    )
    assert [r.status for r in responses] == [200] * PARALLEL, [await r.text() for r in responses]
    mine = await overrides(
        api.runtime.sessions, tenant_id=api.acme.tenant_id, taxonomy_id=stored.taxonomy_id
    )
    assert list(mine) == ["racey phrase"]
    assert mine["racey phrase"] in choices


async def test_the_same_trusted_issuer_added_at_once_is_one_entry(api: Api) -> None:
    entry = {"issuer_id": "did:key:z6MkRace", "tier": "professional_body", "name": "Guild"}

    async def send() -> ClientResponse:
        return await api.client.post(
            "/api/v1/trusted-issuers", json=entry, headers=api.auth(api.acme)
        )

    answers = await _at_once(send)
    statuses = sorted(status for status, _ in answers)
    assert statuses == [201] + [409] * (PARALLEL - 1), answers
    conflicts = [payload for status, payload in answers if status == 409]
    assert all("already in the trust registry" in p["detail"] for p in conflicts), conflicts
    assert await _count(api.runtime, TrustedIssuer) == 1
    trusted = await _count(api.runtime, AuditEvent, AuditEvent.action == "trust_issuer")
    assert trusted == 1, "only the entry that was stored is on the record"

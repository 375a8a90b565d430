"""The tenant's issuer trust registry: which bodies stand behind which issuer identifiers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from service.db import unit_of_work
from service.errors import BadRequest, Conflict, NotFound
from service.repositories import audit, tenancy
from service.runtime import Runtime
from service.verify import VerifyPolicy
from service.verify.result import IssuerTier

TIERS = tuple(t.value for t in IssuerTier)


async def policy_for(runtime: Runtime, *, tenant_id: str) -> VerifyPolicy:
    """The verification policy for one tenant: its trust registry and the configured skew."""
    async with runtime.sessions() as session:
        rows = await tenancy.trusted_issuers(session, tenant_id=tenant_id)
    return VerifyPolicy(
        trusted_issuers={row.issuer_id: IssuerTier(row.tier) for row in rows},
        clock_skew=timedelta(seconds=runtime.settings.clock_skew_seconds),
    )


async def list_issuers(runtime: Runtime, *, tenant_id: str) -> list[dict[str, Any]]:
    async with runtime.sessions() as session:
        rows = await tenancy.trusted_issuers(session, tenant_id=tenant_id)
    return [
        {"id": r.id, "issuer_id": r.issuer_id, "name": r.name, "tier": r.tier, "notes": r.notes}
        for r in sorted(rows, key=lambda r: (r.name, r.issuer_id))
    ]


async def add_issuer(runtime: Runtime, *, tenant_id: str, body: Any, actor: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadRequest("expected a JSON object with issuer_id, tier, and optional name, notes")
    issuer_id, tier = body.get("issuer_id"), body.get("tier")
    if not isinstance(issuer_id, str) or not issuer_id.strip() or len(issuer_id) > 2000:
        raise BadRequest("issuer_id must be the issuer's DID or URL")
    if tier not in TIERS:
        raise BadRequest(f"tier must be one of: {', '.join(TIERS)}")
    name, notes = body.get("name", ""), body.get("notes", "")
    if not isinstance(name, str) or not isinstance(notes, str):
        raise BadRequest("name and notes must be strings")
    async with unit_of_work(runtime.sessions) as session:
        row = await tenancy.add_trusted_issuer(
            session,
            tenant_id=tenant_id,
            issuer_id=issuer_id.strip(),
            name=name[:500],
            tier=str(tier),
            notes=notes[:2000],
        )
        if row is None:
            raise Conflict(f"{issuer_id} is already in the trust registry")
        await audit.append(
            session,
            tenant_id=tenant_id,
            actor=actor,
            action="trust_issuer",
            object_type="trusted_issuer",
            object_id=row.id,
            details={"issuer_id": row.issuer_id, "tier": row.tier},
            at=datetime.now(UTC),
        )
    return {
        "id": row.id,
        "issuer_id": row.issuer_id,
        "name": row.name,
        "tier": row.tier,
        "notes": row.notes,
    }


async def remove_issuer(runtime: Runtime, *, tenant_id: str, entry_id: str, actor: str) -> None:
    async with unit_of_work(runtime.sessions) as session:
        removed = await tenancy.remove_trusted_issuer(
            session, tenant_id=tenant_id, entry_id=entry_id
        )
        if removed is None:
            raise NotFound("no such trusted issuer")
        await audit.append(
            session,
            tenant_id=tenant_id,
            actor=actor,
            action="untrust_issuer",
            object_type="trusted_issuer",
            object_id=entry_id,
            details={"issuer_id": removed},
            at=datetime.now(UTC),
        )

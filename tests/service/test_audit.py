"""The audit log is hash-chained: any edit or removal is detected."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import text

from service.db import unit_of_work
from service.repositories import audit, tenancy
from tests.conftest import Database


async def test_chain_detects_tampering(db: Database) -> None:
    at = datetime(2026, 6, 1, tzinfo=UTC)
    async with unit_of_work(db.sessions) as session:
        tenant = await tenancy.add_tenant(session, slug="acme", name="Acme")
        for n in range(3):
            await audit.append(
                session,
                tenant_id=tenant.id,
                actor="system",
                action="score",
                object_type="application",
                object_id=f"a{n}",
                details={"score": n},
                at=at,
            )
    async with db.sessions() as session:
        assert await audit.verify_chain(session, tenant_id=tenant.id)
    async with unit_of_work(db.sessions) as session:
        await (await session.connection()).execute(
            text("UPDATE audit_events SET actor = 'mallory' WHERE seq = 2")
        )
    async with db.sessions() as session:
        assert not await audit.verify_chain(session, tenant_id=tenant.id), (
            "an edited audit event must break the chain"
        )

"""Tenants, users, API keys and connections."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from service.db import insert_or_existing
from service.models import ApiKey, Connection, Tenant, TrustedIssuer, User


async def tenant_by_slug(session: AsyncSession, slug: str) -> Tenant | None:
    return (await session.exec(select(Tenant).where(Tenant.slug == slug))).first()


async def get_tenant(session: AsyncSession, tenant_id: str) -> Tenant | None:
    return await session.get(Tenant, tenant_id)


async def list_tenants(session: AsyncSession) -> list[Tenant]:
    query = select(Tenant).order_by(col(Tenant.created_at), col(Tenant.slug))
    return list((await session.exec(query)).all())


async def add_tenant(session: AsyncSession, *, slug: str, name: str) -> Tenant:
    tenant = Tenant(slug=slug, name=name)
    session.add(tenant)
    await session.flush()
    return tenant


async def add_user(
    session: AsyncSession, *, tenant_id: str, email: str, name: str, role: str
) -> User:
    user = User(tenant_id=tenant_id, email=email.lower(), name=name, role=role)
    session.add(user)
    await session.flush()
    return user


async def add_api_key(
    session: AsyncSession,
    *,
    tenant_id: str,
    name: str,
    prefix: str,
    key_hash: str,
    role: str,
    expires_at: datetime | None = None,
) -> ApiKey:
    key = ApiKey(
        tenant_id=tenant_id,
        name=name,
        prefix=prefix,
        key_hash=key_hash,
        role=role,
        expires_at=expires_at,
    )
    session.add(key)
    await session.flush()
    return key


async def api_key_by_prefix(session: AsyncSession, prefix: str) -> ApiKey | None:
    return (await session.exec(select(ApiKey).where(ApiKey.prefix == prefix))).first()


async def api_key_by_id(session: AsyncSession, key_id: str) -> ApiKey | None:
    return await session.get(ApiKey, key_id)


async def list_api_keys(session: AsyncSession, *, tenant_id: str) -> list[ApiKey]:
    query = (
        select(ApiKey)
        .where(ApiKey.tenant_id == tenant_id)
        .order_by(col(ApiKey.created_at), col(ApiKey.id))
    )
    return list((await session.exec(query)).all())


async def add_connection(session: AsyncSession, connection: Connection) -> Connection:
    session.add(connection)
    await session.flush()
    return connection


async def get_connection(
    session: AsyncSession, *, tenant_id: str, connection_id: str
) -> Connection | None:
    return (
        await session.exec(
            select(Connection).where(
                Connection.tenant_id == tenant_id, Connection.id == connection_id
            )
        )
    ).first()


async def list_connections(
    session: AsyncSession, *, tenant_id: str | None = None, kind: str | None = None
) -> list[Connection]:
    query = select(Connection).order_by(col(Connection.created_at), col(Connection.id))
    if tenant_id is not None:
        query = query.where(Connection.tenant_id == tenant_id)
    if kind is not None:
        query = query.where(Connection.kind == kind)
    return list((await session.exec(query)).all())


async def trusted_issuers(session: AsyncSession, *, tenant_id: str) -> list[TrustedIssuer]:
    return list(
        (
            await session.exec(select(TrustedIssuer).where(TrustedIssuer.tenant_id == tenant_id))
        ).all()
    )


async def add_trusted_issuer(
    session: AsyncSession, *, tenant_id: str, issuer_id: str, name: str, tier: str, notes: str = ""
) -> TrustedIssuer | None:
    """Add an issuer to the tenant's registry; None when the registry already has it.

    The unique (tenant_id, issuer_id) key decides, so two requests adding the same issuer at
    once store one entry; the refused insert is undone in its own savepoint and the caller's
    transaction stays usable.
    """
    row = TrustedIssuer(tenant_id=tenant_id, issuer_id=issuer_id, name=name, tier=tier, notes=notes)

    async def holder() -> TrustedIssuer | None:
        query = select(TrustedIssuer).where(
            TrustedIssuer.tenant_id == tenant_id, TrustedIssuer.issuer_id == issuer_id
        )
        return (await session.exec(query)).first()

    stored, new = await insert_or_existing(session, row, holder)
    return stored if new else None


async def remove_trusted_issuer(
    session: AsyncSession, *, tenant_id: str, entry_id: str
) -> str | None:
    """Delete one registry entry of this tenant; returns its issuer id, or None if not found."""
    row = (
        await session.exec(
            select(TrustedIssuer).where(
                TrustedIssuer.tenant_id == tenant_id, TrustedIssuer.id == entry_id
            )
        )
    ).first()
    if row is None:
        return None
    await session.delete(row)
    await session.flush()
    return row.issuer_id

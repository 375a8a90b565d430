"""Builders shared by service tests: settings, a seeded tenant, an app client."""

from __future__ import annotations

import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlmodel.ext.asyncio.session import AsyncSession

from service.db import unit_of_work
from service.repositories import applications as app_repo
from service.repositories import credentials as cred_repo
from service.repositories import tenancy
from service.runtime import Runtime
from service.security import apikeys
from service.settings import Settings

SECRET = "test-secret-key-" + "s" * 32


def make_settings(database_url: str, tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "env": "development",
        "database_url": database_url,
        "secret_key": SECRET,
        "contexts_dir": tmp_path / "contexts",
        "data_dir": tmp_path / "var",
        "base_url": "http://skillproof.test",
        # Label vectors depend only on a taxonomy version: share them across tests and runs.
        "cache_dir": Path(tempfile.gettempdir()) / "skillproof-test-cache",
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@dataclass(frozen=True, kw_only=True)
class SeededTenant:
    tenant_id: str
    api_key: str
    application_id: str
    candidate_id: str
    job_id: str


async def seed_tenant(
    runtime: Runtime, slug: str, *, email: str = "ada@example.com"
) -> SeededTenant:
    async with unit_of_work(runtime.sessions) as session:
        tenant = await tenancy.add_tenant(session, slug=slug, name=slug.title())
        key = apikeys.generate(pepper=runtime.settings.secret_key.get_secret_value())
        await tenancy.add_api_key(
            session,
            tenant_id=tenant.id,
            name="test",
            prefix=key.prefix,
            key_hash=key.key_hash,
            role="admin",
        )
        candidate = await app_repo.upsert_candidate(
            session,
            tenant_id=tenant.id,
            connection_id=None,
            external_ref=None,
            display_name="Ada Lovelace",
        )
        await app_repo.set_identifier(
            session,
            tenant_id=tenant.id,
            candidate_id=candidate.id,
            kind="email",
            value=email,
            verified=True,
            source="test",
        )
        job = await app_repo.upsert_job(
            session,
            tenant_id=tenant.id,
            connection_id=None,
            external_ref=None,
            title="Data Analyst",
        )
        application = await app_repo.upsert_application(
            session,
            tenant_id=tenant.id,
            connection_id=None,
            external_ref=None,
            candidate_id=candidate.id,
            job_id=job.id,
            status="active",
            remote_updated_at=None,
        )
    return SeededTenant(
        tenant_id=tenant.id,
        api_key=key.token,
        application_id=application.id,
        candidate_id=candidate.id,
        job_id=job.id,
    )


async def store_upload(session: AsyncSession, seeded: SeededTenant, content: bytes) -> None:
    """A credential the candidate uploaded to the seeded application, stored, not evaluated."""
    await cred_repo.store_raw(
        session,
        tenant_id=seeded.tenant_id,
        candidate_id=seeded.candidate_id,
        application_id=seeded.application_id,
        source="upload",
        source_ref=None,
        media_type="application/json",
        content=content,
    )


def baked_png(*chunks: tuple[bytes, bytes]) -> bytes:
    """A PNG made of these (type, data) chunks and IEND: enough for a baked-badge reader."""
    out = b"\x89PNG\r\n\x1a\n"
    for kind, data in (*chunks, (b"IEND", b"")):
        crc = zlib.crc32(kind + data).to_bytes(4, "big")
        out += len(data).to_bytes(4, "big") + kind + data + crc
    return out


@dataclass
class Api:
    """The app under test, its runtime and two seeded tenants (the `api` fixture)."""

    client: TestClient[web.Request, web.Application]
    runtime: Runtime
    acme: SeededTenant
    globex: SeededTenant

    def auth(self, tenant: SeededTenant) -> dict[str, str]:
        return {"Authorization": f"Bearer {tenant.api_key}"}

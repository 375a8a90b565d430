"""Fixtures shared by the service tests: the app on a seeded database, with two tenants."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from service.app import create_app
from service.runtime import open_runtime
from tests.conftest import Database
from tests.service.support import Api, make_settings, seed_tenant


@pytest.fixture
async def api(db: Database, tmp_path: Path, aiohttp_client: object) -> AsyncIterator[Api]:
    settings = make_settings(db.url, tmp_path, max_credential_bytes=200_000)
    async with open_runtime(settings) as runtime:
        acme = await seed_tenant(runtime, "acme")
        globex = await seed_tenant(runtime, "globex")
        client = await aiohttp_client(create_app(settings, runtime=runtime))  # type: ignore[operator]
        yield Api(client=client, runtime=runtime, acme=acme, globex=globex)

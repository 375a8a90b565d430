"""Fixtures for connector tests: a client session with short timeouts."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from connectors.http import make_session


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    client = make_session(total_timeout=2, connect_timeout=1)
    yield client
    await client.close()

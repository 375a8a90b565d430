"""Runs the standard connector contract against every (connector, fake server) pair."""

from __future__ import annotations

from typing import Any

import pytest

from tests.connectors.contract import AtsConnectorContract
from tests.fakes.ats import SandboxHarness, ServerFactory

HARNESSES: list[type[Any]] = [SandboxHarness]


@pytest.fixture(params=HARNESSES, ids=lambda harness: harness.id)
async def harness(request: pytest.FixtureRequest, aiohttp_server: ServerFactory) -> Any:
    pair = request.param()
    await pair.start(aiohttp_server)
    return pair


class TestAtsConnectorContract(AtsConnectorContract):
    """Every ATS connector passes the same tests."""

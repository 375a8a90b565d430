"""Fixtures for the verification engine: pinned contexts, a fake web on loopback HTTPS, a clock."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from service.fetch import GuardedFetcher
from service.verify import CheckId, Outcome, VerificationResult, Verifier
from service.verify.contexts import ContextStore, sync_from_mirror
from service.verify.dids import did_web_url
from tests.fakes.network import FakeNetwork, StaticSite

# The acceptance manifest's fixed clock.
NOW = datetime(2026, 6, 1, tzinfo=UTC)


class MonotonicClock:
    """The verifier's cache and back-off clock; it only moves when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> MonotonicClock:
    return MonotonicClock()


class FakeWeb:
    """Production host names served by loopback HTTPS fakes, one StaticSite per host."""

    def __init__(self, network: FakeNetwork, fetcher: GuardedFetcher) -> None:
        self.network = network
        self.fetcher = fetcher
        self.sites: dict[str, StaticSite] = {}

    async def host(self, name: str) -> StaticSite:
        """The site answering https://<name>/ (started on first use)."""
        if name not in self.sites:
            site = StaticSite()
            await self.network.serve(site.app(), name)
            self.sites[name] = site
        return self.sites[name]

    async def publish(self, url: str, body: bytes | str | Any, content_type: str = "") -> None:
        """Serve `body` (bytes, text or JSON-able) at the https URL."""
        host, _, path = url.removeprefix("https://").partition("/")
        if isinstance(body, bytes | str):
            data = body.encode() if isinstance(body, str) else body
            media = content_type or "application/json"
        else:
            data = json.dumps(body).encode()
            media = content_type or "application/json"
        site = await self.host(host)
        site.add("/" + path.split("#", 1)[0], data, media)

    async def publish_did_web(self, did: str, document: Any) -> None:
        await self.publish(did_web_url(did), document, "application/did+json")

    @property
    def requests(self) -> list[str]:
        return [
            f"{host}{request.path}"
            for host, site in self.sites.items()
            for request in site.requests
        ]


@pytest.fixture(scope="session")
def vendored_contexts_dir(vendor_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A context store folder synced from the vendor mirror."""
    directory = tmp_path_factory.mktemp("contexts")
    report = sync_from_mirror(directory, vendor_data / "credentials")
    assert report.ok, f"context sync from the vendor mirror failed: {report}"
    return directory


@pytest.fixture(scope="session")
def vendored_contexts(vendored_contexts_dir: Path) -> ContextStore:
    return ContextStore(vendored_contexts_dir)


@pytest.fixture
def bundled_contexts(tmp_path: Path) -> ContextStore:
    """Only the contexts pyld bundles (VC 1.1/2.0, DID, ed25519-2020): no vendor data needed."""
    return ContextStore(tmp_path / "no-synced-contexts")


@pytest.fixture
async def web() -> AsyncIterator[FakeWeb]:
    async with FakeNetwork() as network, network.fetcher() as fetcher:
        yield FakeWeb(network, fetcher)


@pytest.fixture
def verifier(vendored_contexts: ContextStore, web: FakeWeb) -> Verifier:
    return Verifier(contexts=vendored_contexts, fetcher=web.fetcher)


def make_verifier(
    contexts: ContextStore, fetcher: GuardedFetcher, clock: MonotonicClock, **options: Any
) -> Verifier:
    """A verifier whose caches and back-off follow `clock` (options as for Verifier)."""
    return Verifier(contexts=contexts, fetcher=fetcher, clock=clock, **options)


@pytest.fixture
def clocked_verifier(
    vendored_contexts: ContextStore, web: FakeWeb, clock: MonotonicClock
) -> Verifier:
    """A verifier on the fake web with the default settings, its caches aged by `clock`."""
    return make_verifier(vendored_contexts, web.fetcher, clock)


def check_result(result: VerificationResult, check_id: CheckId) -> tuple[Outcome, str]:
    """The outcome and detail of one check of `result` (which must have run it)."""
    check = result.check(check_id)
    assert check is not None, f"no {check_id} check in {result.checks}"
    return check.outcome, check.detail


def controller_document(controller: str, multikeys: Iterable[str]) -> dict[str, Any]:
    """A controller document publishing Ed25519 Multikeys for assertions."""
    methods = [
        {
            "id": f"{controller}#{key}",
            "type": "Multikey",
            "controller": controller,
            "publicKeyMultibase": key,
        }
        for key in multikeys
    ]
    return {
        "@context": ["https://www.w3.org/ns/cid/v1"],
        "id": controller,
        "verificationMethod": methods,
        "assertionMethod": [m["id"] for m in methods],
    }

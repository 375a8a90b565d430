"""Stale-if-error for issuer keys, and the back-off after a failed fetch, against loopback fakes.

A candidate must not be marked down because the issuer's web host hiccupped while its key
document was being refreshed: the document fetched and parsed earlier answers (and the proof
says so), within the same bound as status lists. Rotation still works (a fresh document replaces
the copy), and a 404, 410 or unusable document drops it. After a transient failure a URL is not
fetched again for a minute, so an outage costs one fetch timeout, not one per credential.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from service.verify import CheckId, Outcome, Verdict, VerificationResult, Verifier
from service.verify.backoff import DEFAULT_BACKOFF_SECONDS as BACKOFF
from service.verify.contexts import ContextStore
from service.verify.issuing import sign_eddsa_rdfc_2022
from service.verify.keys import ed25519_to_multikey
from tests.fakes.network import StaticSite, serve_https
from tests.verify.builders import STATUS_URL, Issuer, eddsa_jwt
from tests.verify.conftest import (
    NOW,
    FakeWeb,
    MonotonicClock,
    check_result,
    controller_document,
    make_verifier,
)

pytestmark = pytest.mark.vendor_data

HOST = "keys.issuer.example"
DID = f"did:web:{HOST}"
DID_PATH = "/.well-known/did.json"
DID_URL = f"https://{HOST}{DID_PATH}"
FRESH = 300.0  # the verifier's default freshness for key documents
DAY = 24 * 3600.0
COPY = "used the copy fetched at 2026-06-01T00:00:00Z"


class DidWebIssuer:
    """An issuer whose Ed25519 keys are published in its did:web document."""

    def __init__(self, contexts: ContextStore) -> None:
        self.contexts = contexts
        self.base = Issuer.fresh(contexts)
        self.base.did = DID

    @staticmethod
    def method(key: Ed25519PrivateKey) -> str:
        return f"{DID}#{ed25519_to_multikey(key.public_key())}"

    def document(self, *keys: Ed25519PrivateKey) -> bytes:
        multikeys = [ed25519_to_multikey(key.public_key()) for key in keys]
        return json.dumps(controller_document(DID, multikeys)).encode()

    def sign(self, key: Ed25519PrivateKey) -> dict[str, Any]:
        return sign_eddsa_rdfc_2022(
            self.base.ob3(),
            private_key=key,
            verification_method=self.method(key),
            created=NOW - timedelta(days=3),
            loader=self.contexts,
        )


@pytest.fixture
def issuer(vendored_contexts: ContextStore) -> DidWebIssuer:
    return DidWebIssuer(vendored_contexts)


@pytest.fixture
async def site(web: FakeWeb) -> StaticSite:
    return await web.host(HOST)


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def publish(site: StaticSite, issuer: DidWebIssuer, *keys: Ed25519PrivateKey) -> None:
    site.add(DID_PATH, issuer.document(*keys), "application/did+json")


def publish_and_sign(
    site: StaticSite, issuer: DidWebIssuer, key: Ed25519PrivateKey
) -> dict[str, Any]:
    """Publish `key` in the issuer's did:web document; return a credential signed with it."""
    publish(site, issuer, key)
    return issuer.sign(key)


def key_host_fails(
    site: StaticSite, clock: MonotonicClock, *, after: float, status: int = 503
) -> None:
    """Move the cache clock on by `after` seconds, then have the did:web document fail."""
    clock.advance(after)
    site.status(DID_PATH, status)


def proof(result: VerificationResult) -> tuple[Outcome, str]:
    return check_result(result, CheckId.PROOF)


# -- the host fails after freshness expiry ----------------------------------------------------


@pytest.mark.parametrize("status", [503, 500, 429])
async def test_key_host_error_after_freshness_uses_the_kept_document(
    site: StaticSite,
    issuer: DidWebIssuer,
    key: Ed25519PrivateKey,
    clocked_verifier: Verifier,
    clock: MonotonicClock,
    status: int,
) -> None:
    credential = publish_and_sign(site, issuer, key)
    before = await clocked_verifier.verify(credential, now=NOW)
    key_host_fails(site, clock, after=FRESH + 5 * 60, status=status)

    during = await clocked_verifier.verify(credential, now=NOW)

    assert before.verdict is Verdict.VERIFIED, before.checks
    assert site.paths == [DID_PATH, DID_PATH], "the expired document must be fetched again"
    assert during.verdict is Verdict.VERIFIED, (
        f"an HTTP {status} from the key's host must not change the verdict: {during.checks}"
    )
    outcome, detail = proof(during)
    assert outcome is Outcome.PASS
    assert f"valid eddsa-rdfc-2022 signature by {issuer.method(key)}" in detail, detail
    assert f"unreachable now (did:web document {DID_URL} answered HTTP {status})" in detail, detail
    assert f"{COPY}, 10 min old" in detail, detail


async def test_key_host_refusing_connections_uses_the_kept_document(
    web: FakeWeb,
    issuer: DidWebIssuer,
    key: Ed25519PrivateKey,
    clocked_verifier: Verifier,
    clock: MonotonicClock,
) -> None:
    site = StaticSite()
    credential = publish_and_sign(site, issuer, key)
    async with serve_https(site.app(), web.network.ca.server_context([HOST])) as port:
        web.network.resolver.add(HOST, port)
        before = await clocked_verifier.verify(credential, now=NOW)
    clock.advance(3 * 3600)  # the server is gone: its port now refuses connections

    during = await clocked_verifier.verify(credential, now=NOW)

    assert before.verdict is Verdict.VERIFIED, before.checks
    assert during.verdict is Verdict.VERIFIED, during.checks
    _, detail = proof(during)
    assert f"could not connect to {HOST}" in detail, detail
    assert f"{COPY}, 3 h old" in detail, detail


async def test_vc_jwt_key_host_down_uses_the_kept_document(
    site: StaticSite,
    issuer: DidWebIssuer,
    key: Ed25519PrivateKey,
    clocked_verifier: Verifier,
    clock: MonotonicClock,
) -> None:
    publish(site, issuer, key)
    issuer.base.key = key
    token = eddsa_jwt(
        issuer.base, issuer.base.ob3(), header={"typ": "vc+jwt", "kid": issuer.method(key)}
    )
    before = await clocked_verifier.verify(token, now=NOW)
    key_host_fails(site, clock, after=FRESH + 1, status=502)

    during = await clocked_verifier.verify(token, now=NOW)

    assert before.verdict is Verdict.VERIFIED, before.checks
    assert during.verdict is Verdict.VERIFIED, during.checks
    _, detail = proof(during)
    assert "valid EdDSA signature" in detail, detail
    assert "answered HTTP 502" in detail, detail
    assert COPY in detail, detail


OB20 = "1edtech-digital-credentials-public-validator/inspector-vc/src/test/resources/ob20"


async def test_ob2_issuer_host_down_uses_the_kept_key_badge_and_profile(
    vendor_data: Path,
    web: FakeWeb,
    clocked_verifier: Verifier,
    clock: MonotonicClock,
) -> None:
    """A signed OB 2.0 assertion: key, badge class and issuer profile are all on the issuer."""
    folder = vendor_data / "credentials" / OB20
    for file in sorted((folder / "assets").iterdir()):
        await web.publish(f"https://example.org/{file.name}", file.read_bytes())
    token = (folder / "simple.jwt").read_text().strip()
    before = await clocked_verifier.verify(token, now=NOW)
    for path in ("/key1.json", "/robotics-badge.json", "/organization.json"):
        web.sites["example.org"].status(path, 503)
    clock.advance(60)

    during = await clocked_verifier.verify(token, now=NOW)

    assert before.verdict is Verdict.VERIFIED, before.checks
    assert during.verdict is Verdict.VERIFIED, (
        f"the issuer's host answering 503 must not change the verdict: {during.checks}"
    )
    outcome, detail = proof(during)
    assert outcome is Outcome.PASS
    assert "valid RS256 signature by http://example.org/key1.json" in detail, detail
    assert "signing key unreachable now" in detail, detail
    assert f"{COPY}, 1 min old" in detail, detail
    assert "issuer profile unreachable now" in detail, detail


# -- the bound ----------------------------------------------------------------------------------


async def test_kept_document_older_than_the_bound_is_not_used(
    site: StaticSite,
    issuer: DidWebIssuer,
    key: Ed25519PrivateKey,
    clocked_verifier: Verifier,  # default bound: 24 h
    clock: MonotonicClock,
) -> None:
    credential = publish_and_sign(site, issuer, key)
    await clocked_verifier.verify(credential, now=NOW)
    key_host_fails(site, clock, after=DAY - 60)

    just_inside = await clocked_verifier.verify(credential, now=NOW)
    clock.advance(61)
    beyond = await clocked_verifier.verify(credential, now=NOW)

    assert just_inside.verdict is Verdict.VERIFIED, just_inside.checks
    assert beyond.verdict is Verdict.INDETERMINATE, (
        f"a copy older than the bound must not stand in: {beyond.checks}"
    )
    outcome, detail = proof(beyond)
    assert outcome is Outcome.UNKNOWN
    assert "answered HTTP 503" in detail, detail
    assert "is 24 h old, more than the 24 h a copy may stand in" in detail, detail


async def test_zero_stale_if_error_keeps_keys_only_while_fresh(
    vendored_contexts: ContextStore,
    web: FakeWeb,
    site: StaticSite,
    issuer: DidWebIssuer,
    key: Ed25519PrivateKey,
    clock: MonotonicClock,
) -> None:
    credential = publish_and_sign(site, issuer, key)
    verifier = make_verifier(vendored_contexts, web.fetcher, clock, status_stale_if_error=0)
    await verifier.verify(credential, now=NOW)
    site.status(DID_PATH, 503)

    fresh = await verifier.verify(credential, now=NOW)
    clock.advance(FRESH + 1)
    stale = await verifier.verify(credential, now=NOW)

    assert fresh.verdict is Verdict.VERIFIED, "a fresh document needs no fetch"
    assert stale.verdict is Verdict.INDETERMINATE, stale.checks
    _, detail = proof(stale)
    assert detail == (
        f"key for the eddsa-rdfc-2022 proof not available: did:web document {DID_URL}"
        " answered HTTP 503"
    )


# -- rotation, and answers that are not outages ----------------------------------------------


async def test_rotated_document_replaces_the_kept_copy(
    site: StaticSite,
    issuer: DidWebIssuer,
    clocked_verifier: Verifier,
    clock: MonotonicClock,
) -> None:
    old_key, new_key = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    publish(site, issuer, old_key)
    old_credential, new_credential = issuer.sign(old_key), issuer.sign(new_key)
    assert (await clocked_verifier.verify(old_credential, now=NOW)).verdict is Verdict.VERIFIED
    clock.advance(FRESH + 1)
    publish(site, issuer, new_key)  # the issuer rotates: the old key is withdrawn

    new_signed = await clocked_verifier.verify(new_credential, now=NOW)
    old_signed = await clocked_verifier.verify(old_credential, now=NOW)
    key_host_fails(site, clock, after=FRESH + 1)
    new_during_outage = await clocked_verifier.verify(new_credential, now=NOW)
    old_during_outage = await clocked_verifier.verify(old_credential, now=NOW)

    assert new_signed.verdict is Verdict.VERIFIED, new_signed.checks
    assert old_signed.verdict is Verdict.REJECTED, old_signed.checks
    assert "does not publish the verification method" in proof(old_signed)[1]
    assert new_during_outage.verdict is Verdict.VERIFIED, (
        f"the kept copy is the rotated document: {new_during_outage.checks}"
    )
    assert COPY in proof(new_during_outage)[1]
    assert old_during_outage.verdict is Verdict.REJECTED, (
        f"a withdrawn key must not come back from an older copy: {old_during_outage.checks}"
    )
    outcome, detail = proof(old_during_outage)
    assert outcome is Outcome.FAIL
    assert "does not publish the verification method" in detail, detail
    assert COPY in detail, detail


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("404", "does not exist (HTTP 404)"),
        ("410", "does not exist (HTTP 410)"),
        ("another DID", "it must equal"),
        ("html page", "refused"),
    ],
)
async def test_answers_that_are_not_outages_drop_the_kept_copy(
    site: StaticSite,
    issuer: DidWebIssuer,
    key: Ed25519PrivateKey,
    clocked_verifier: Verifier,
    clock: MonotonicClock,
    answer: str,
    expected: str,
) -> None:
    credential = publish_and_sign(site, issuer, key)
    await clocked_verifier.verify(credential, now=NOW)
    key_host_fails(site, clock, after=FRESH + 1)
    outage = await clocked_verifier.verify(credential, now=NOW)
    clock.advance(FRESH + 1)
    if answer in ("404", "410"):
        site.status(DID_PATH, int(answer))
    elif answer == "another DID":
        document = json.loads(issuer.document(key))
        document["id"] = "did:web:attacker.example"
        site.add(DID_PATH, json.dumps(document).encode(), "application/did+json")
    else:
        site.add(DID_PATH, b"<html>maintenance</html>", "text/html")

    answered = await clocked_verifier.verify(credential, now=NOW)
    key_host_fails(site, clock, after=FRESH + 1)
    outage_again = await clocked_verifier.verify(credential, now=NOW)

    assert outage.verdict is Verdict.VERIFIED, f"the 503 before is an outage: {outage.checks}"
    assert answered.verdict is Verdict.REJECTED, (
        f"{answer} is the server's answer, not an outage: {answered.checks}"
    )
    assert expected in proof(answered)[1], proof(answered)
    assert "used the copy" not in proof(answered)[1]
    assert outage_again.verdict is Verdict.INDETERMINATE, (
        f"after {answer} the old document no longer speaks for the issuer: {outage_again.checks}"
    )
    assert "used the copy" not in proof(outage_again)[1]


# -- back-off -----------------------------------------------------------------------------------


async def test_key_document_is_not_fetched_again_within_the_backoff(
    site: StaticSite,
    issuer: DidWebIssuer,
    key: Ed25519PrivateKey,
    clocked_verifier: Verifier,
    clock: MonotonicClock,
) -> None:
    credential = publish_and_sign(site, issuer, key)
    await clocked_verifier.verify(credential, now=NOW)
    key_host_fails(site, clock, after=FRESH + 1)

    first = await clocked_verifier.verify(credential, now=NOW)
    fetched_by_first = len(site.requests)
    clock.advance(BACKOFF - 1)
    second = await clocked_verifier.verify(credential, now=NOW)
    fetched_by_second = len(site.requests) - fetched_by_first
    publish(site, issuer, key)  # the host is back
    clock.advance(2)
    after_window = await clocked_verifier.verify(credential, now=NOW)

    assert fetched_by_first == 2, site.paths
    assert fetched_by_second == 0, f"within the back-off nothing is fetched: {site.paths}"
    assert first.verdict is Verdict.VERIFIED, first.checks
    assert second.verdict is Verdict.VERIFIED, second.checks
    _, detail = proof(second)
    assert f"did:web document {DID_URL} answered HTTP 503 59 s ago" in detail, detail
    assert "not retried within 1 min of a failure" in detail, detail
    assert COPY in detail, detail
    assert len(site.requests) == 3, f"after the back-off it is fetched again: {site.paths}"
    assert after_window.verdict is Verdict.VERIFIED, after_window.checks
    assert "used the copy" not in proof(after_window)[1], "the fresh document answers now"


async def test_backoff_without_a_kept_copy_is_indeterminate_at_once(
    site: StaticSite,
    issuer: DidWebIssuer,
    key: Ed25519PrivateKey,
    clocked_verifier: Verifier,
) -> None:
    site.status(DID_PATH, 503)
    credential = issuer.sign(key)

    first = await clocked_verifier.verify(credential, now=NOW)
    second = await clocked_verifier.verify(credential, now=NOW)

    assert site.paths == [DID_PATH], "the second verification must not fetch again"
    for result in (first, second):
        assert result.verdict is Verdict.INDETERMINATE, result.checks
        outcome, detail = proof(result)
        assert outcome is Outcome.UNKNOWN
        assert f"{DID_URL} answered HTTP 503" in detail, detail
    assert "not retried within 1 min of a failure" in proof(second)[1]


async def test_backoff_spares_the_fetch_timeout(
    vendored_contexts: ContextStore,
    web: FakeWeb,
    site: StaticSite,
    issuer: DidWebIssuer,
    key: Ed25519PrivateKey,
    clock: MonotonicClock,
) -> None:
    """Re-scoring many credentials of one issuer during an outage waits out one timeout."""
    credential = publish_and_sign(site, issuer, key)
    timeout = 1.0
    policy = web.network.loopback_policy(total_timeout=timeout, read_timeout=timeout)
    async with web.network.fetcher(policy) as fetcher:
        verifier = make_verifier(vendored_contexts, fetcher, clock)
        await verifier.verify(credential, now=NOW)
        clock.advance(FRESH + 1)
        site.slow_drip(DID_PATH, interval=0.1, chunks=50)

        first = await verifier.verify(credential, now=NOW)
        requests = len(site.requests)
        second = await verifier.verify(credential, now=NOW)

    assert first.verdict is Verdict.VERIFIED, first.checks
    assert second.verdict is Verdict.VERIFIED, second.checks
    # The first check hit the timeout; the second answers from the back-off without a request,
    # so it cannot wait for the timeout again.
    assert "took longer than" in proof(first)[1], proof(first)
    assert len(site.requests) == requests, "the second check must not fetch"
    assert "not retried within 1 min of a failure" in proof(second)[1], proof(second)
    assert "took longer than" in proof(second)[1], proof(second)


async def test_status_list_is_not_fetched_again_within_the_backoff(
    vendored_contexts: ContextStore,
    web: FakeWeb,
    clocked_verifier: Verifier,
    clock: MonotonicClock,
) -> None:
    issuer = Issuer.fresh(vendored_contexts)
    status_site = await web.host("status.issuer.example")
    list_path = STATUS_URL.removeprefix("https://status.issuer.example")
    status_site.add(list_path, json.dumps(issuer.status_list(revoked=[])).encode())
    credential = issuer.sign(issuer.ob3(status_index=7))
    await clocked_verifier.verify(credential, now=NOW)
    clock.advance(FRESH + 1)
    status_site.status(list_path, 503)

    first = await clocked_verifier.verify(credential, now=NOW)
    clock.advance(BACKOFF / 2)
    second = await clocked_verifier.verify(credential, now=NOW)
    requests_within = len(status_site.requests)
    clock.advance(BACKOFF / 2 + 1)
    after_window = await clocked_verifier.verify(credential, now=NOW)

    assert requests_within == 2, f"within the back-off nothing is fetched: {status_site.paths}"
    assert len(status_site.requests) == 3, f"then the list is fetched again: {status_site.paths}"
    for result in (first, second, after_window):
        assert result.verdict is Verdict.VERIFIED, result.checks
    _, status_detail = check_result(second, CheckId.STATUS)
    assert "not retried within 1 min of a failure" in status_detail, status_detail
    assert "used the copy verified at" in status_detail, status_detail

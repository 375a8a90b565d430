"""Stale-if-error for status lists, against loopback HTTPS fakes and a clock moved by hand.

A candidate must not be marked down because an issuer's server hiccupped: when a status list
cannot be refreshed for a transient reason (5xx, 429, refused connection, timeout), the copy
verified earlier answers (and the check says so), within a bounded age. A 404, a list that no
longer verifies or a refusal by the fetch guard is an answer, not an outage: it is never papered
over with the old copy.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from service.verify import CheckId, Outcome, Verdict, VerificationResult, Verifier
from service.verify.contexts import ContextStore
from service.verify.issuing import encode_status_list, status_entry
from service.verify.kept import KeptCopies, KeptCopy, KeyedLocks
from tests.fakes.network import StaticSite, serve_https
from tests.verify.builders import STATUS_URL, Issuer
from tests.verify.conftest import NOW, FakeWeb, MonotonicClock, check_result, make_verifier

pytestmark = pytest.mark.vendor_data

STATUS_HOST = "status.issuer.example"
LIST_PATH = "/lists/1"
FRESH = 300.0  # the verifier's default freshness ceiling
DAY = 24 * 3600.0


@pytest.fixture
def issuer(vendored_contexts: ContextStore) -> Issuer:
    return Issuer.fresh(vendored_contexts)


@pytest.fixture
async def site(web: FakeWeb) -> StaticSite:
    return await web.host(STATUS_HOST)


@pytest.fixture
def credential(issuer: Issuer) -> dict[str, Any]:
    """A credential of `issuer` whose status is entry 7 of the list at STATUS_URL."""
    return issuer.sign(issuer.ob3(status_index=7))


def publish_list(
    site: StaticSite,
    issuer: Issuer,
    revoked: list[int],
    headers: dict[str, str] | None = None,
    **options: Any,
) -> None:
    """Serve the issuer's signed list (`options` as for Issuer.status_list) at LIST_PATH."""
    signed_list = issuer.status_list(revoked=revoked, **options)
    site.add(LIST_PATH, json.dumps(signed_list).encode(), headers=headers)


def status_detail(result: VerificationResult) -> str:
    return check_result(result, CheckId.STATUS)[1]


def status_outcome(result: VerificationResult) -> Outcome:
    return check_result(result, CheckId.STATUS)[0]


async def verify_then_wait(
    verifier: Verifier, credential: dict[str, Any], clock: MonotonicClock, *, after: float
) -> VerificationResult:
    """Verify once while the list is served, then move the cache clock on by `after` seconds."""
    first = await verifier.verify(credential, now=NOW)
    assert first.verdict is not Verdict.INDETERMINATE, f"the list was reachable: {first.checks}"
    clock.advance(after)
    return first


# -- (a) server errors after freshness expiry ---------------------------------------------------


@pytest.mark.parametrize("status", [503, 500, 429])
async def test_server_error_after_freshness_uses_the_verified_copy(
    site: StaticSite,
    issuer: Issuer,
    credential: dict[str, Any],
    clocked_verifier: Verifier,
    clock: MonotonicClock,
    status: int,
) -> None:
    publish_list(site, issuer, revoked=[])
    before = await verify_then_wait(clocked_verifier, credential, clock, after=FRESH + 5 * 60)
    site.status(LIST_PATH, status)

    during = await clocked_verifier.verify(credential, now=NOW)

    assert before.verdict is Verdict.VERIFIED, before.checks
    assert site.paths == [LIST_PATH, LIST_PATH], "the expired list must be fetched again"
    assert during.verdict is Verdict.VERIFIED, (
        f"an HTTP {status} from the list's host must not change the verdict: {during.checks}"
    )
    assert status_outcome(during) is status_outcome(before)
    detail = status_detail(during)
    assert "not revoked" in detail
    assert f"unreachable now (status list {STATUS_URL} answered HTTP {status})" in detail, detail
    assert "used the copy verified at 2026-06-01T00:00:00Z, 10 min old" in detail, detail


# -- (b) connection refused and timeout -----------------------------------------------------------


async def test_connection_refused_uses_the_verified_copy(
    web: FakeWeb,
    issuer: Issuer,
    credential: dict[str, Any],
    clocked_verifier: Verifier,
    clock: MonotonicClock,
) -> None:
    site = StaticSite()
    publish_list(site, issuer, revoked=[])
    tls = web.network.ca.server_context([STATUS_HOST])
    async with serve_https(site.app(), tls) as port:
        web.network.resolver.add(STATUS_HOST, port)
        await verify_then_wait(clocked_verifier, credential, clock, after=3 * 3600)
    # The server is gone: its port now refuses connections.

    during = await clocked_verifier.verify(credential, now=NOW)

    assert during.verdict is Verdict.VERIFIED, during.checks
    detail = status_detail(during)
    assert f"could not connect to {STATUS_HOST}" in detail, detail
    assert "used the copy verified at 2026-06-01T00:00:00Z, 3 h old" in detail, detail


async def test_timeout_uses_the_verified_copy(
    vendored_contexts: ContextStore,
    web: FakeWeb,
    site: StaticSite,
    issuer: Issuer,
    credential: dict[str, Any],
    clock: MonotonicClock,
) -> None:
    publish_list(site, issuer, revoked=[])
    policy = web.network.loopback_policy(total_timeout=0.5, read_timeout=0.3)
    async with web.network.fetcher(policy) as fetcher:
        verifier = make_verifier(vendored_contexts, fetcher, clock)
        await verify_then_wait(verifier, credential, clock, after=FRESH + 1)
        site.slow_drip(LIST_PATH, interval=0.1, chunks=50)

        during = await verifier.verify(credential, now=NOW)

    assert during.verdict is Verdict.VERIFIED, during.checks
    detail = status_detail(during)
    assert "in time" in detail or "took longer" in detail, detail
    assert "used the copy verified at" in detail, detail


# -- (c) the bound --------------------------------------------------------------------------------


async def test_copy_older_than_the_bound_is_not_used(
    site: StaticSite,
    issuer: Issuer,
    credential: dict[str, Any],
    clocked_verifier: Verifier,  # default bound: 24 h
    clock: MonotonicClock,
) -> None:
    publish_list(site, issuer, revoked=[])
    await verify_then_wait(clocked_verifier, credential, clock, after=DAY - 60)
    site.status(LIST_PATH, 503)

    just_inside = await clocked_verifier.verify(credential, now=NOW)
    clock.advance(61)
    beyond = await clocked_verifier.verify(credential, now=NOW)

    assert just_inside.verdict is Verdict.VERIFIED, just_inside.checks
    assert beyond.verdict is Verdict.INDETERMINATE, (
        f"a copy older than the bound must not stand in: {beyond.checks}"
    )
    assert status_outcome(beyond) is Outcome.UNKNOWN
    detail = status_detail(beyond)
    assert "answered HTTP 503" in detail, detail
    assert "is 24 h old, more than the 24 h a copy may stand in" in detail, detail


async def test_expired_list_credential_is_not_used_as_a_stand_in(
    site: StaticSite,
    issuer: Issuer,
    credential: dict[str, Any],
    clocked_verifier: Verifier,
    clock: MonotonicClock,
) -> None:
    """The copy's own validUntil still applies, even within the stale bound."""
    publish_list(site, issuer, revoked=[], valid_until=NOW + timedelta(hours=1))
    await verify_then_wait(clocked_verifier, credential, clock, after=FRESH + 1)
    site.status(LIST_PATH, 503)

    within = await clocked_verifier.verify(credential, now=NOW + timedelta(minutes=30))
    clock.advance(2 * 3600)
    after_expiry = await clocked_verifier.verify(credential, now=NOW + timedelta(hours=2))

    assert within.verdict is Verdict.VERIFIED, within.checks
    assert after_expiry.verdict is Verdict.INDETERMINATE, after_expiry.checks
    assert "expired at 2026-06-01T01:00:00Z" in status_detail(after_expiry)


# -- (d) answers that are not outages ------------------------------------------------------------


def _tampered_list(issuer: Issuer) -> bytes:
    tampered = issuer.status_list(revoked=[])
    tampered["credentialSubject"]["encodedList"] = encode_status_list([3], length=131_072)
    return json.dumps(tampered).encode()


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("404", "does not exist (HTTP 404)"),
        ("410", "does not exist (HTTP 410)"),
        ("bad signature", "does not verify"),
        ("html page", "refused"),
    ],
)
async def test_answers_that_are_not_outages_are_never_served_from_the_copy(
    site: StaticSite,
    issuer: Issuer,
    credential: dict[str, Any],
    clocked_verifier: Verifier,
    clock: MonotonicClock,
    answer: str,
    expected: str,
) -> None:
    publish_list(site, issuer, revoked=[])
    await verify_then_wait(clocked_verifier, credential, clock, after=FRESH + 1)
    site.status(LIST_PATH, 503)
    outage = await clocked_verifier.verify(credential, now=NOW)
    clock.advance(FRESH + 1)
    if answer in ("404", "410"):
        site.status(LIST_PATH, int(answer))
    elif answer == "bad signature":
        site.add(LIST_PATH, _tampered_list(issuer))
    else:
        site.add(LIST_PATH, b"<html>maintenance</html>", "text/html")

    answered = await clocked_verifier.verify(credential, now=NOW)
    site.status(LIST_PATH, 503)
    clock.advance(FRESH + 1)
    outage_again = await clocked_verifier.verify(credential, now=NOW)

    assert outage.verdict is Verdict.VERIFIED, f"the 503 before is an outage: {outage.checks}"
    assert answered.verdict is Verdict.INDETERMINATE, (
        f"{answer} is the server's answer, not an outage: {answered.checks}"
    )
    assert expected in status_detail(answered), status_detail(answered)
    assert "used the copy" not in status_detail(answered)
    assert outage_again.verdict is Verdict.INDETERMINATE, (
        f"after {answer} the old copy no longer speaks for the issuer: {outage_again.checks}"
    )
    assert "used the copy" not in status_detail(outage_again)


# -- (e) a stale copy with the bit set ---------------------------------------------------------


@pytest.mark.parametrize("purpose", ["revocation", "suspension"])
async def test_stale_copy_with_the_bit_set_still_revokes(
    site: StaticSite,
    issuer: Issuer,
    clocked_verifier: Verifier,
    clock: MonotonicClock,
    purpose: str,
) -> None:
    publish_list(site, issuer, revoked=[7], purpose=purpose)
    unsigned = issuer.ob3()
    unsigned["credentialStatus"] = status_entry(STATUS_URL, 7, purpose=purpose)
    credential = issuer.sign(unsigned)
    before = await verify_then_wait(clocked_verifier, credential, clock, after=FRESH + 1)
    site.status(LIST_PATH, 502)

    during = await clocked_verifier.verify(credential, now=NOW)

    verb = "revoked" if purpose == "revocation" else "suspended"
    assert before.verdict is Verdict.REJECTED, before.checks
    assert during.verdict is Verdict.REJECTED, (
        f"a {verb} bit in the stale copy still counts: {during.checks}"
    )
    assert status_outcome(during) is Outcome.FAIL
    detail = status_detail(during)
    assert f"{verb} by its issuer" in detail, detail
    assert "used the copy verified at" in detail, detail


# -- (f) disabled, and the issuer's own directives ------------------------------------------------


async def test_zero_disables_stale_if_error(
    vendored_contexts: ContextStore,
    web: FakeWeb,
    site: StaticSite,
    issuer: Issuer,
    credential: dict[str, Any],
    clocked_verifier: Verifier,
    clock: MonotonicClock,
) -> None:
    publish_list(site, issuer, revoked=[])
    enabled = clocked_verifier
    disabled = make_verifier(vendored_contexts, web.fetcher, clock, status_stale_if_error=0)
    for verifier in (enabled, disabled):
        assert (await verifier.verify(credential, now=NOW)).verdict is Verdict.VERIFIED
    clock.advance(FRESH + 1)
    site.status(LIST_PATH, 503)

    with_copy = await enabled.verify(credential, now=NOW)
    without = await disabled.verify(credential, now=NOW)

    assert with_copy.verdict is Verdict.VERIFIED, with_copy.checks
    assert without.verdict is Verdict.INDETERMINATE, (
        f"status_stale_if_error=0 must behave as before: {without.checks}"
    )
    assert status_detail(without) == (
        f"revocation status unknown: status list {STATUS_URL} answered HTTP 503"
    )


@pytest.mark.parametrize(
    ("cache_control", "after", "used"),
    [
        ("no-store", FRESH + 1, False),  # never kept at all
        ("max-age=60, stale-if-error=600", 600, True),  # within the issuer's own bound
        ("max-age=60, stale-if-error=600", 661, False),  # past it, though inside 24 h
        ("no-cache", 60, True),  # must revalidate: only fetched again, still a stand-in
    ],
)
async def test_the_issuers_cache_control_is_honoured(
    site: StaticSite,
    issuer: Issuer,
    credential: dict[str, Any],
    clocked_verifier: Verifier,
    clock: MonotonicClock,
    cache_control: str,
    after: float,
    used: bool,
) -> None:
    publish_list(site, issuer, revoked=[], headers={"Cache-Control": cache_control})
    await verify_then_wait(clocked_verifier, credential, clock, after=after)
    site.status(LIST_PATH, 503)

    during = await clocked_verifier.verify(credential, now=NOW)

    expected = Verdict.VERIFIED if used else Verdict.INDETERMINATE
    assert during.verdict is expected, f"Cache-Control: {cache_control}: {during.checks}"


# -- memory -------------------------------------------------------------------------------------


def _copy(size: int, *, usable_for: float = DAY) -> KeptCopy[str]:
    return KeptCopy(
        value="list",
        size=size,
        verified_at=NOW,
        stored_at=0.0,
        fresh_for=FRESH,
        usable_for=usable_for,
    )


def test_kept_copies_stay_within_their_count_and_byte_budget() -> None:
    copies: KeptCopies[str, str] = KeptCopies(max_entries=3, max_bytes=100)
    for name in ("a", "b", "c", "d"):
        copies.put(name, _copy(10), clock=0.0)
    assert len(copies) == 3, "the entry budget holds"
    assert copies.get("a") is None, "the copy stored longest ago goes first"

    copies.put("big", _copy(90), clock=0.0)
    assert copies.size <= 100, f"the byte budget holds: {copies.size}"
    assert copies.get("big") is not None
    copies.put("huge", _copy(101), clock=0.0)
    assert copies.get("huge") is None, "a copy larger than the whole budget is not kept"


def test_dead_copies_are_evicted_before_live_ones() -> None:
    copies: KeptCopies[str, str] = KeptCopies(max_entries=2, max_bytes=1000)
    copies.put("long-lived", _copy(10, usable_for=10 * DAY), clock=0.0)
    copies.put("short-lived", _copy(10, usable_for=3600), clock=0.0)
    copies.put("new", _copy(10, usable_for=DAY), clock=2 * 3600)
    assert copies.get("short-lived") is None, "a copy past all use goes before a usable one"
    assert copies.get("long-lived") is not None, "the older but still usable copy stays"
    assert copies.get("new") is not None


async def test_a_keyed_lock_is_gone_after_use_even_when_the_check_fails() -> None:
    """A lock per failing URL must not pile up (the status checker's own once did)."""
    locks: KeyedLocks[str] = KeyedLocks()
    async with locks.hold("https://issuer.example/status/1"):
        assert len(locks) == 1
    with pytest.raises(RuntimeError):
        async with locks.hold("https://issuer.example/status/2"):
            raise RuntimeError("status list unreachable")
    assert len(locks) == 0

"""The guarded fetcher: hostile URLs never reach their target; caps on size, time and type hold."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import tracemalloc
from collections.abc import AsyncIterator

import pytest

from service.fetch import (
    BlockedURL,
    FetchConnectionError,
    FetchPolicy,
    FetchTimeout,
    FetchTooLarge,
    FetchTooManyRedirects,
    FetchUnsupportedType,
    GuardedFetcher,
    address_refusal,
    check_url,
    parse_address,
)
from service.settings import Settings
from tests.fakes.network import FakeNetwork, StaticSite, forbid_external_connections

SECRET = b'{"secret": "internal admin data"}'
LOOPBACK_NET = ipaddress.ip_network("127.0.0.0/8")


@pytest.fixture(autouse=True)
def tripwire(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Should the guard fail, no packet may leave loopback: record and refuse it here instead."""
    return forbid_external_connections(monkeypatch)


@pytest.fixture
async def network() -> AsyncIterator[FakeNetwork]:
    async with FakeNetwork() as net:
        yield net


@pytest.fixture
async def target(network: FakeNetwork) -> tuple[StaticSite, int]:
    """An internal service on loopback that an attacker wants to reach; logs every request."""
    site = StaticSite({"/secret": (SECRET, "application/json")})
    port = await network.serve(site.app(), "issuer.example", "loopback.example")
    return site, port


def production_fetcher(network: FakeNetwork, **policy: object) -> GuardedFetcher:
    """The production policy (no loopback exemption), resolving through the fake DNS."""
    return network.fetcher(FetchPolicy(**policy))  # type: ignore[arg-type]


HOSTILE_URLS = [
    ("https://127.0.0.1:{port}/secret", "loopback"),
    ("https://[::1]:{port}/secret", "loopback"),
    ("https://[::ffff:127.0.0.1]:{port}/secret", "loopback"),
    ("https://[::ffff:7f00:1]:{port}/secret", "loopback"),
    ("https://[::ffff:0:7f00:1]:{port}/secret", "IPv4-translated"),
    ("http://2130706433:{port}/secret", "canonical"),
    ("https://2130706433/secret", "canonical"),
    ("https://0x7f.1:{port}/secret", "canonical"),
    ("https://0x7f000001:{port}/secret", "canonical"),
    ("https://017700000001:{port}/secret", "canonical"),
    ("https://0177.0.0.1:{port}/secret", "canonical"),
    ("https://127.1:{port}/secret", "canonical"),
    ("https://%31%32%37.0.0.1:{port}/secret", "canonical"),
    ("https://localhost:{port}/secret", "canonical"),
    ("https://0.0.0.0:{port}/secret", "this network"),
    ("https://169.254.169.254/latest/meta-data/", "link-local"),
    ("http://169.254.169.254/latest/meta-data/", "link-local"),
    ("https://[fd00:ec2::254]/latest/meta-data/", "unique-local"),
    ("https://10.0.0.1/", "private"),
    ("https://192.168.1.1/", "private"),
    ("https://172.16.0.1/", "private"),
    ("https://100.64.0.1/", "carrier-grade"),
    ("https://[2002:7f00:1::]/", "6to4"),
    ("https://[64:ff9b::7f00:1]/", "NAT64"),
    ("https://[64:ff9b:1::7f00:1]/", "NAT64"),
    ("https://[2001:0:4136:e378:8000:63bf:80ff:fffe]/", "Teredo"),
    ("https://[::127.0.0.1]/", "IPv4-compatible"),
    ("https://224.0.0.1/", "multicast"),
    ("https://[ff02::1]/", "multicast"),
    ("https://[fe80::1%25eth0]/", "link-local"),
    ("https://255.255.255.255/", "broadcast"),
    ("file:///etc/passwd", "scheme file:"),
    ("ftp://issuer.example/secret", "scheme ftp:"),
    ("gopher://issuer.example:70/_GET", "scheme gopher:"),
    ("data:application/json,{}", "scheme data:"),
    ("https:///secret", "no host"),
    ("https://user@issuer.example/secret", "user name"),
    ("https://user:pass@issuer.example:{port}/secret", "user name"),
    ("http://issuer.example/secret", "plain http"),
    ("https://issuer.example:{port}/secret", "port"),
    ("https://issuer.example:8443/secret", "port 8443"),
    ("https://loopback.example/secret", "loopback"),
]


@pytest.mark.parametrize(("template", "reason"), HOSTILE_URLS)
async def test_hostile_url_is_refused_before_reaching_the_target(
    network: FakeNetwork,
    target: tuple[StaticSite, int],
    tripwire: list[object],
    template: str,
    reason: str,
) -> None:
    site, port = target
    url = template.replace("{port}", str(port))
    async with production_fetcher(network) as fetcher:
        with pytest.raises(BlockedURL) as refused:
            await fetcher.fetch(url)
    assert reason in str(refused.value), f"{url}: unclear reason {refused.value!s}"
    assert site.requests == [], f"{url} reached the internal target: {site.paths}"
    assert tripwire == [], f"{url} tried to connect to {tripwire}"


async def test_every_address_of_a_multi_address_answer_is_checked(
    network: FakeNetwork, target: tuple[StaticSite, int]
) -> None:
    site, port = target
    network.resolver.add("mixed.example", port, address="127.0.0.1", also=["::1", "127.0.0.2"])
    async with production_fetcher(network) as fetcher:
        with pytest.raises(BlockedURL, match="loopback"):
            await fetcher.fetch("https://mixed.example/secret")
    assert site.requests == [], "a happy-eyeballs candidate slipped through"


async def test_redirect_from_an_allowed_host_to_loopback_is_refused(
    network: FakeNetwork, target: tuple[StaticSite, int]
) -> None:
    site, port = target
    site.redirect("/start", f"http://127.0.0.1:{port}/secret")
    async with production_fetcher(network, allow_hosts=frozenset({"issuer.example"})) as fetcher:
        with pytest.raises(BlockedURL, match="redirect from issuer.example refused"):
            await fetcher.fetch("https://issuer.example/start")
    assert site.paths == ["/start"], f"the redirect target was reached: {site.paths}"


@pytest.mark.parametrize(
    "location",
    [
        "https://loopback.example/secret",  # a name whose DNS answer is internal
        "https://[::ffff:127.0.0.1]/secret",
        "file:///etc/passwd",
        "ftp://issuer.example/secret",
    ],
)
async def test_every_redirect_hop_is_checked_again(
    network: FakeNetwork, target: tuple[StaticSite, int], location: str
) -> None:
    site, _ = target
    site.redirect("/start", location)
    async with production_fetcher(network, allow_hosts=frozenset({"issuer.example"})) as fetcher:
        with pytest.raises(BlockedURL):
            await fetcher.fetch("https://issuer.example/start")
    assert site.paths == ["/start"], f"redirect to {location} was followed: {site.paths}"


async def test_redirects_are_capped_at_the_policy_limit(network: FakeNetwork) -> None:
    site = StaticSite({"/doc": (b"{}", "application/json")})
    for hop in range(1, 6):
        site.redirect(f"/r{hop}", f"/r{hop + 1}")
    site.redirect("/ok1", "/ok2")
    site.redirect("/ok2", "https://issuer.example/ok3")
    site.redirect("/ok3", "/doc")
    await network.serve(site.app(), "issuer.example")
    async with network.fetcher() as fetcher:
        with pytest.raises(FetchTooManyRedirects, match="more than 3 redirects"):
            await fetcher.fetch("https://issuer.example/r1")
        assert site.paths == ["/r1", "/r2", "/r3", "/r4"], "a fourth redirect was followed"
        document = await fetcher.fetch("https://issuer.example/ok1")
    assert document.status == 200
    assert document.url == "https://issuer.example/doc", "the final URL is the redirect target"


async def test_redirect_loop_is_refused(network: FakeNetwork) -> None:
    site = StaticSite()
    site.redirect("/a", "/b", status=301)
    site.redirect("/b", "/a", status=308)
    await network.serve(site.app(), "issuer.example")
    async with network.fetcher() as fetcher:
        with pytest.raises(FetchTooManyRedirects, match="loop"):
            await fetcher.fetch("https://issuer.example/a")


async def test_gzip_bomb_stops_at_the_decompressed_cap(network: FakeNetwork) -> None:
    site = StaticSite()
    site.gzip_bomb("/bomb.json", size=50_000_000)
    await network.serve(site.app(), "issuer.example")
    async with network.fetcher(network.loopback_policy(max_bytes=1_000_000)) as fetcher:
        tracemalloc.start()
        try:
            with pytest.raises(FetchTooLarge, match="larger than 1000000 bytes"):
                await fetcher.fetch("https://issuer.example/bomb.json")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    # Inflating all 50 MB would allocate at least that much; stopping at the cap takes a few MB.
    assert peak < 16_000_000, f"{peak / 1e6:.0f} MB allocated: the bomb was inflated past the cap"


async def test_declared_length_over_the_cap_is_refused(
    network: FakeNetwork,
) -> None:
    site = StaticSite({"/big.json": (b"[" + b"0," * 600_000 + b"0]", "application/json")})
    await network.serve(site.app(), "issuer.example")
    async with network.fetcher(network.loopback_policy(max_bytes=1_000_000)) as fetcher:
        with pytest.raises(FetchTooLarge):
            await fetcher.fetch("https://issuer.example/big.json")
        small = await fetcher.fetch("https://issuer.example/big.json", max_bytes=2_000_000)
    assert len(small.body) == 1_200_003, "a per-call max_bytes replaces the policy cap"


async def test_slow_drip_hits_the_total_timeout(network: FakeNetwork) -> None:
    site = StaticSite()
    site.slow_drip("/drip.json", interval=0.1, chunks=100)
    await network.serve(site.app(), "issuer.example")
    policy = network.loopback_policy(total_timeout=1.0, read_timeout=0.5)
    async with network.fetcher(policy) as fetcher:
        # Each byte comes within the read timeout; only the total timeout can stop the drip
        # (ten seconds long), and the error says it did.
        with pytest.raises(FetchTimeout, match="longer than 1 s"):
            await fetcher.fetch("https://issuer.example/drip.json")


async def test_unexpected_content_type_is_refused(network: FakeNetwork) -> None:
    site = StaticSite({"/badge": (b"<html>hello</html>", "text/html")})
    await network.serve(site.app(), "issuer.example")
    async with network.fetcher() as fetcher:
        with pytest.raises(FetchUnsupportedType, match="text/html"):
            await fetcher.fetch("https://issuer.example/badge")
        with pytest.raises(FetchUnsupportedType, match="text/html"):
            await fetcher.fetch("https://issuer.example/badge", accept=("application/json",))
        page = await fetcher.fetch("https://issuer.example/badge", accept=("text/html",))
    assert page.body == b"<html>hello</html>"


async def test_allow_listed_loopback_fake_returns_the_document(network: FakeNetwork) -> None:
    body = b'{"type": ["VerifiableCredential", "OpenBadgeCredential"]}'
    site = StaticSite()
    site.add("/badges/1", body, "application/ld+json", headers={"Set-Cookie": "track=1"})
    await network.serve(site.app(), "issuer.example")
    async with network.fetcher() as fetcher:
        first = await fetcher.fetch("https://issuer.example/badges/1")
        await fetcher.fetch("https://issuer.example/badges/1")
    assert first.status == 200
    assert first.body == body
    assert first.content_type == "application/ld+json", "media type without parameters"
    assert first.url == "https://issuer.example/badges/1"
    assert first.headers["Set-Cookie"] == "track=1"
    assert "Cookie" not in site.requests[1].headers, "cookies must never be sent back"
    assert "application/ld+json" in site.requests[0].headers["Accept"]
    assert site.requests[0].headers["User-Agent"].startswith("Skillproof")


@pytest.mark.parametrize(("status", "headers"), [(410, {}), (500, {}), (429, {"Retry-After": "7"})])
async def test_non_redirect_statuses_reach_the_caller(
    network: FakeNetwork, status: int, headers: dict[str, str]
) -> None:
    site = StaticSite()
    site.status("/assertion", status, headers=headers)
    await network.serve(site.app(), "issuer.example")
    async with network.fetcher() as fetcher:
        document = await fetcher.fetch("https://issuer.example/assertion", accept=("text/html",))
    assert document.status == status, "410 means revoked to callers, so it must come back"
    for name, value in headers.items():
        assert document.headers[name] == value


async def test_plain_http_only_for_allow_listed_hosts(network: FakeNetwork) -> None:
    site = StaticSite({"/badge": (b"{}", "application/json")})
    await network.serve(site.app(), "onprem.example", "other.example", tls=False)
    allowed = production_fetcher(network, allow_hosts=frozenset({"onprem.example"}))
    async with allowed as fetcher:
        document = await fetcher.fetch("http://onprem.example/badge")
        with pytest.raises(BlockedURL, match="plain http"):
            await fetcher.fetch("http://other.example/badge")
    assert document.status == 200
    assert site.paths == ["/badge"], "only the allow-listed host was contacted"


async def test_host_resolving_into_an_allowed_network_may_use_http(network: FakeNetwork) -> None:
    site = StaticSite({"/badge": (b"{}", "application/json")})
    await network.serve(site.app(), "badges.corp.example", tls=False)
    async with network.fetcher(FetchPolicy(allow_networks=(LOOPBACK_NET,))) as fetcher:
        document = await fetcher.fetch("http://badges.corp.example/badge")
    assert document.status == 200


async def test_certificate_must_match_the_host(network: FakeNetwork) -> None:
    site = StaticSite({"/badge": (b"{}", "application/json")})
    port = await network.serve(site.app(), "issuer.example")
    network.resolver.add("impostor.example", port)
    async with network.fetcher() as fetcher:
        with pytest.raises(FetchConnectionError, match="certificate"):
            await fetcher.fetch("https://impostor.example/badge")
    async with GuardedFetcher(network.loopback_policy(), resolver=network.resolver) as default:
        with pytest.raises(FetchConnectionError, match="certificate"):
            await default.fetch("https://issuer.example/badge")


async def test_unknown_host_fails_cleanly(network: FakeNetwork) -> None:
    async with network.fetcher() as fetcher:
        with pytest.raises(FetchConnectionError, match="could not be resolved"):
            await fetcher.fetch("https://nowhere.example/badge")


async def test_exemptions_do_not_leak_between_concurrent_fetches(
    network: FakeNetwork, target: tuple[StaticSite, int]
) -> None:
    site, _ = target
    policy = FetchPolicy(allow_hosts=frozenset({"issuer.example"}))
    async with network.fetcher(policy) as fetcher:
        allowed, refused = await asyncio.gather(
            fetcher.fetch("https://issuer.example/secret"),
            fetcher.fetch("https://loopback.example/secret"),
            return_exceptions=True,
        )
    assert not isinstance(allowed, BaseException), f"allowed host failed: {allowed!r}"
    assert isinstance(refused, BlockedURL), f"loopback name was not refused: {refused!r}"
    assert [r.host.split(":")[0] for r in site.requests] == ["issuer.example"]


async def test_fetch_is_logged_without_the_body(
    network: FakeNetwork, caplog: pytest.LogCaptureFixture
) -> None:
    site = StaticSite({"/badge": (SECRET, "application/json")})
    await network.serve(site.app(), "issuer.example")
    with caplog.at_level(logging.DEBUG, logger="service.fetch"):
        async with network.fetcher() as fetcher:
            await fetcher.fetch("https://issuer.example/badge")
    lines = [record.getMessage() for record in caplog.records if record.name.startswith("service")]
    assert any(
        "issuer.example" in line and "200" in line and str(len(SECRET)) in line for line in lines
    )
    assert not any("internal admin data" in line for line in lines), "bodies must never be logged"


def test_policy_from_settings_reads_fetch_allow() -> None:
    settings = Settings(
        env="development",  # type: ignore[arg-type]
        fetch_allow=("10.1.0.0/16", "Badges.Corp.Example"),
        max_credential_bytes=123_456,
    )
    policy = FetchPolicy.from_settings(settings)
    assert policy.allow_networks == (ipaddress.ip_network("10.1.0.0/16"),)
    assert policy.allow_hosts == frozenset({"badges.corp.example"})
    assert policy.max_bytes == 123_456
    assert check_url(policy, "http://badges.corp.example/b").host_exempt
    assert check_url(policy, "https://10.1.2.3:8443/b").url.port == 8443


# A property over the deny ranges: their edges, and every IPv6 wrapping of them, are refused.
DENY_RANGES = [
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
    "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.168.0.0/16", "198.18.0.0/15",
    "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4", "255.255.255.255/32",
    "192.88.99.0/24", "::/128", "::1/128", "fc00::/7", "fe80::/10", "ff00::/8", "100::/64",
    "100:0:0:1::/64", "2001:db8::/32", "3fff::/20", "5f00::/16", "2002::/16", "64:ff9b::/96",
    "64:ff9b:1::/48", "2001::/32", "::ffff:0:0:0/96", "::/96",
]  # fmt: skip


def _samples(cidr: str) -> list[str]:
    network = ipaddress.ip_network(cidr)
    middle = network.network_address + network.num_addresses // 2
    return [str(network.network_address), str(middle), str(network.broadcast_address)]


@pytest.mark.parametrize("cidr", DENY_RANGES)
def test_deny_ranges_are_always_refused(cidr: str) -> None:
    policy = FetchPolicy()
    for text in _samples(cidr):
        address = parse_address(text)
        assert address_refusal(address) is not None, f"{text} in {cidr} is allowed"
        assert policy.connection_refusal(text, 443, scheme="https", host_exempt=False), text
        if address.version == 4:
            for wrapped in (f"::ffff:{text}", f"::{text}", f"64:ff9b::{text}"):
                assert policy.connection_refusal(wrapped, 443, scheme="https", host_exempt=False), (
                    f"{wrapped} (wrapping {text}) is allowed"
                )
            sixtofour = ipaddress.IPv6Address((0x2002 << 112) | (int(address) << 80))
            assert address_refusal(sixtofour) is not None, f"6to4 {sixtofour} is allowed"


@pytest.mark.parametrize("text", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "151.101.1.69"])
def test_public_addresses_are_allowed(text: str) -> None:
    policy = FetchPolicy()
    assert address_refusal(parse_address(text)) is None
    assert policy.connection_refusal(text, 443, scheme="https", host_exempt=False) is None
    assert policy.connection_refusal(text, 80, scheme="http", host_exempt=False), "http refused"
    assert policy.connection_refusal(text, 8443, scheme="https", host_exempt=False), "port refused"


def test_allow_networks_exempt_addresses_and_ports() -> None:
    policy = FetchPolicy(allow_networks=(ipaddress.ip_network("10.20.0.0/16"),))
    assert policy.connection_refusal("10.20.1.2", 8080, scheme="http", host_exempt=False) is None
    assert (
        policy.connection_refusal("::ffff:10.20.1.2", 80, scheme="http", host_exempt=False) is None
    )
    assert policy.connection_refusal("10.21.1.2", 443, scheme="https", host_exempt=False)

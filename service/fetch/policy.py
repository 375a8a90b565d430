"""What the guarded fetcher may reach: the fetch policy, address classification and URL checks."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from typing import TYPE_CHECKING
from urllib.parse import unquote

from yarl import URL

from service.fetch.errors import BlockedURL

if TYPE_CHECKING:
    from service.settings import Settings

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network

# Media types a credential, its issuer, keys, status lists, contexts, schemas and images come in.
DEFAULT_CONTENT_TYPES: tuple[str, ...] = (
    "application/json",
    "application/ld+json",
    "application/vc+ld+json",
    "application/vp+ld+json",
    "application/vc",
    "application/vp",
    "application/vc+jwt",
    "application/vp+jwt",
    "application/vc+sd-jwt",
    "application/jwt",
    "application/did+json",
    "application/did+ld+json",
    "application/statuslist+jwt",
    "application/schema+json",
    "text/plain",
    "image/png",
    "image/svg+xml",
)

_net = ipaddress.ip_network

# Ranges refused whatever `is_global` says on the running Python: its answer changed between
# 3.11, 3.12 and 3.13 for several of them (mapped, 6to4, 192.0.0/24, NAT64, multicast).
_DENY_TABLE: tuple[tuple[IPNetwork, str], ...] = (
    (_net("0.0.0.0/8"), "a 'this network' address"),
    (_net("10.0.0.0/8"), "a private address"),
    (_net("100.64.0.0/10"), "a carrier-grade NAT address"),
    (_net("127.0.0.0/8"), "a loopback address"),
    (_net("169.254.0.0/16"), "a link-local address (cloud metadata lives here)"),
    (_net("172.16.0.0/12"), "a private address"),
    (_net("192.0.0.0/24"), "an IETF protocol assignment address"),
    (_net("192.0.2.0/24"), "a documentation address"),
    (_net("192.88.99.0/24"), "a 6to4 relay anycast address"),
    (_net("192.168.0.0/16"), "a private address"),
    (_net("198.18.0.0/15"), "a benchmarking address"),
    (_net("198.51.100.0/24"), "a documentation address"),
    (_net("203.0.113.0/24"), "a documentation address"),
    (_net("224.0.0.0/4"), "a multicast address"),
    (_net("255.255.255.255/32"), "the broadcast address"),
    (_net("240.0.0.0/4"), "a reserved address"),
    (_net("::/128"), "the unspecified address"),
    (_net("::1/128"), "a loopback address"),
    (_net("fc00::/7"), "a unique-local (private) address"),
    (_net("fe80::/10"), "a link-local address"),
    (_net("fec0::/10"), "a site-local address"),
    (_net("ff00::/8"), "a multicast address"),
    (_net("100::/64"), "a discard-only address"),
    (_net("100:0:0:1::/64"), "a dummy-prefix address"),
    (_net("2001:db8::/32"), "a documentation address"),
    (_net("3fff::/20"), "a documentation address"),
    (_net("5f00::/16"), "a segment-routing address"),
)

# IPv6 forms that carry an IPv4 address a gateway may forward to: refused outright, since the
# embedded address could be anything (including 127.0.0.1 or the metadata service).
_TUNNEL_TABLE: tuple[tuple[IPv6Network, str], ...] = (
    (IPv6Network("2002::/16"), "a 6to4 address"),
    (IPv6Network("64:ff9b::/96"), "a NAT64 address"),
    (IPv6Network("64:ff9b:1::/48"), "a local-use NAT64 address"),
    (IPv6Network("2001::/32"), "a Teredo address"),
    (IPv6Network("::/96"), "an IPv4-compatible address"),
    (IPv6Network("::ffff:0:0:0/96"), "an IPv4-translated address"),
)

_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
_TOP_LABEL = re.compile(r"[a-z][a-z0-9-]*")  # no TLD starts with a digit: refuses 0x7f.1 & co.
_MAX_URL_LENGTH = 8192


def parse_address(text: str) -> IPAddress:
    """An address from a socket tuple or URL literal, zone id dropped, IPv4-mapped unwrapped."""
    address = ipaddress.ip_address(text.split("%", 1)[0])
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def address_refusal(address: IPAddress) -> str | None:
    """Why this address must not be contacted, or None for a public unicast address."""
    if isinstance(address, IPv6Address):
        if address.scope_id is not None:
            address = IPv6Address(int(address))  # the zone id does not change the range
        if address.ipv4_mapped is not None:
            return address_refusal(address.ipv4_mapped)
    for network, label in _DENY_TABLE:
        if address.version == network.version and address in network:
            return label
    if isinstance(address, IPv6Address):
        for tunnel, label in _TUNNEL_TABLE:
            if address in tunnel:
                return label
    if address.is_multicast:
        return "a multicast address"
    if not address.is_global:
        return "not a public address"
    return None


@dataclass(frozen=True, kw_only=True, slots=True)
class FetchPolicy:
    """Limits for one fetcher: what it may contact and how much it may read."""

    allow_networks: tuple[IPNetwork, ...] = ()
    allow_hosts: frozenset[str] = frozenset()
    max_bytes: int = 2_000_000
    max_redirects: int = 3
    connect_timeout: float = 3.0
    read_timeout: float = 5.0
    total_timeout: float = 10.0
    content_types: tuple[str, ...] = DEFAULT_CONTENT_TYPES

    @classmethod
    def from_settings(cls, settings: Settings) -> FetchPolicy:
        """The production policy: SKILLPROOF_FETCH_ALLOW exemptions, credential byte cap."""
        return cls(
            allow_networks=settings.allowed_networks(),
            allow_hosts=frozenset(host.rstrip(".").lower() for host in settings.allowed_hosts()),
            max_bytes=settings.max_credential_bytes,
        )

    def address_allowed(self, address: IPAddress) -> bool:
        """True when the address is in a FETCH_ALLOW network (exempt from every block)."""
        return any(
            address.version == network.version and address in network
            for network in self.allow_networks
        )

    def connection_refusal(
        self, address: str, port: int, *, scheme: str, host_exempt: bool
    ) -> str | None:
        """Why a socket to (address, port) must not be opened for this hop, or None."""
        if host_exempt:
            return None
        try:
            parsed = parse_address(address)
        except ValueError:
            return f"{address!r} is not an IP address"
        if self.address_allowed(parsed):
            return None
        reason = address_refusal(parsed)
        if reason is not None:
            return f"address {parsed} is {reason}"
        if scheme != "https":
            return "plain http is only allowed for hosts listed in SKILLPROOF_FETCH_ALLOW"
        if port != 443:
            return f"port {port} is not allowed (only 443 outside SKILLPROOF_FETCH_ALLOW)"
        return None


@dataclass(frozen=True, kw_only=True, slots=True)
class CheckedURL:
    """A URL that passed the pre-connect checks; `host_exempt` means a FETCH_ALLOW host name."""

    url: URL
    host: str
    host_exempt: bool


def check_url(policy: FetchPolicy, url: str | URL) -> CheckedURL:
    """Refuse, before any DNS or socket, every URL the policy can already tell is unsafe."""
    text = str(url)
    if len(text) > _MAX_URL_LENGTH:
        raise BlockedURL(f"URL is longer than {_MAX_URL_LENGTH} characters")
    try:
        parsed = url if isinstance(url, URL) else URL(text)
    except (ValueError, TypeError) as exc:
        raise BlockedURL(f"not a valid URL: {exc}") from None
    scheme = (parsed.scheme or "").lower()
    if scheme not in {"https", "http"}:
        raise BlockedURL(f"scheme {scheme + ':' if scheme else '(none)'} is not allowed; use https")
    raw_host = parsed.raw_host
    if not raw_host:
        raise BlockedURL("URL has no host")
    if "@" in (parsed.raw_authority or ""):
        raise BlockedURL("URLs carrying a user name or password are not fetched")
    literal = _ip_literal(raw_host)
    host = raw_host.rstrip(".").lower() if literal is None else str(literal)
    exempt_name = host in policy.allow_hosts
    if literal is None and not _canonical_hostname(host, single_label_ok=exempt_name):
        raise BlockedURL(f"host {raw_host!r} is not a canonical public host name or IP address")
    port = parsed.port
    if exempt_name or (literal is not None and policy.address_allowed(literal)):
        return CheckedURL(url=parsed, host=host, host_exempt=exempt_name)
    if literal is not None:
        reason = address_refusal(literal)
        if reason is not None:
            raise BlockedURL(f"host {literal} is {reason}")
    # A host name may still resolve into a FETCH_ALLOW network; the socket guard decides then.
    if literal is not None or not policy.allow_networks:
        if scheme != "https":
            raise BlockedURL(
                "plain http is only allowed for hosts listed in SKILLPROOF_FETCH_ALLOW; use https"
            )
        if port != 443:
            raise BlockedURL(
                f"port {port} is not allowed (only 443 outside SKILLPROOF_FETCH_ALLOW)"
            )
    return CheckedURL(url=parsed, host=host, host_exempt=False)


def _ip_literal(raw_host: str) -> IPAddress | None:
    """The address if the host is a canonical IP literal, None if it is meant as a name."""
    if ":" in raw_host:
        try:
            return parse_address(unquote(raw_host))
        except ValueError:
            raise BlockedURL(f"host [{raw_host}] is not a valid IPv6 address") from None
    try:
        # ipaddress accepts only the canonical dotted quad: no octal, hex, short or integer forms.
        return IPv4Address(raw_host)
    except ValueError:
        return None


def _canonical_hostname(host: str, *, single_label_ok: bool) -> bool:
    if not host or len(host) > 253:
        return False
    labels = host.split(".")
    if len(labels) < 2 and not single_label_ok:
        return False
    if not all(_LABEL.fullmatch(label) for label in labels):
        return False
    return single_label_ok or _TOP_LABEL.fullmatch(labels[-1]) is not None

"""GuardedFetcher: one aiohttp session that refuses non-public addresses on every socket."""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from types import TracebackType
from typing import Final

import aiohttp
from aiohappyeyeballs import AddrInfoType
from aiohttp import hdrs
from aiohttp.abc import AbstractResolver
from yarl import URL

from service.fetch.errors import (
    BlockedURL,
    FetchConnectionError,
    FetchError,
    FetchTimeout,
    FetchTooLarge,
    FetchTooManyRedirects,
    FetchUnsupportedType,
)
from service.fetch.policy import CheckedURL, FetchPolicy, check_url

logger = logging.getLogger(__name__)

USER_AGENT: Final = "Skillproof credential verifier"
_REDIRECT_STATUSES: Final = frozenset({301, 302, 303, 307, 308})
_CHUNK: Final = 64 * 1024


@dataclass(frozen=True, kw_only=True, slots=True)
class FetchedDocument:
    """A response that passed every cap: final URL, status, media type, headers and body."""

    url: str
    status: int
    content_type: str
    headers: Mapping[str, str]
    body: bytes


@dataclass(kw_only=True, slots=True)
class _Hop:
    """What the socket guard needs to know about the request being connected."""

    scheme: str
    host_exempt: bool
    refusals: list[str] = field(default_factory=list)


class _RefusedConnection(OSError):
    """Raised inside aiohttp's connect path so the socket is never created."""


# The socket factory only sees (family, address); the hop it belongs to travels in a ContextVar,
# which asyncio copies into the happy-eyeballs tasks that open the candidate sockets.
_CURRENT_HOP: ContextVar[_Hop | None] = ContextVar("skillproof_fetch_hop", default=None)


class GuardedFetcher:
    """The one client for URLs that credentials, candidates and issuers supply.

    Every hop is checked before DNS (scheme, user info, host form, literal addresses, port) and
    every socket is checked again as aiohttp opens it (resolved addresses, happy-eyeballs
    candidates, redirect targets), so DNS answers pointing inside the network are never contacted.
    """

    def __init__(
        self,
        policy: FetchPolicy,
        *,
        resolver: AbstractResolver | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._policy = policy
        self._resolver = resolver
        self._ssl_context = ssl_context
        self._session: aiohttp.ClientSession | None = None

    @property
    def policy(self) -> FetchPolicy:
        return self._policy

    async def __aenter__(self) -> GuardedFetcher:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the session and its connections; the fetcher may be used again afterwards."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def fetch(
        self,
        url: str,
        *,
        accept: tuple[str, ...] | None = None,
        max_bytes: int | None = None,
    ) -> FetchedDocument:
        """GET `url`, following at most `policy.max_redirects` redirects, each one re-checked.

        `accept` replaces the policy's media types for this call (and is sent as Accept);
        `max_bytes` replaces the policy's cap on the decompressed body. Any non-redirect status is
        returned; the media type is only enforced on 2xx responses, so a 404 or 410 page in HTML
        still reaches the caller. Raises a FetchError subclass whose str() is a readable reason.
        """
        accepted = tuple(
            media.lower()
            for media in (accept if accept is not None else self._policy.content_types)
        )
        cap = self._policy.max_bytes if max_bytes is None else max_bytes
        try:
            target = check_url(self._policy, url)
        except BlockedURL as exc:
            logger.debug("fetch refused before connecting: %s", exc)
            raise
        try:
            async with asyncio.timeout(self._policy.total_timeout):
                return await self._follow(target, accepted, cap)
        except TimeoutError:
            logger.debug("fetch from %s timed out", target.host)
            raise FetchTimeout(
                f"fetching from {target.host} took longer than {self._policy.total_timeout:g} s"
            ) from None
        except FetchError as exc:
            logger.debug("fetch from %s refused: %s", target.host, exc)
            raise

    async def _follow(
        self, target: CheckedURL, accepted: tuple[str, ...], cap: int
    ) -> FetchedDocument:
        seen = {str(target.url)}
        for _ in range(self._policy.max_redirects + 1):
            location, document = await self._get(target, accepted, cap)
            if document is not None:
                return document
            assert location is not None
            try:
                next_url = target.url.join(URL(location))
            except ValueError:
                raise BlockedURL(f"{target.host} redirected to an invalid URL") from None
            try:
                next_target = check_url(self._policy, next_url)
            except BlockedURL as exc:
                raise BlockedURL(f"redirect from {target.host} refused: {exc}") from None
            if str(next_target.url) in seen:
                raise FetchTooManyRedirects(f"{target.host} redirects in a loop")
            seen.add(str(next_target.url))
            target = next_target
        raise FetchTooManyRedirects(
            f"more than {self._policy.max_redirects} redirects, last from {target.host}"
        )

    async def _get(
        self, target: CheckedURL, accepted: tuple[str, ...], cap: int
    ) -> tuple[str | None, FetchedDocument | None]:
        """One request: (Location, None) for a redirect, else (None, document)."""
        hop = _Hop(scheme=target.url.scheme, host_exempt=target.host_exempt)
        token = _CURRENT_HOP.set(hop)
        try:
            async with self._client().get(
                target.url,
                allow_redirects=False,
                headers={hdrs.ACCEPT: ", ".join(accepted)},
            ) as response:
                location = response.headers.get(hdrs.LOCATION)
                if response.status in _REDIRECT_STATUSES and location:
                    logger.debug("fetch %s -> %d redirect", target.host, response.status)
                    return location, None
                media_type = response.content_type.lower()
                if 200 <= response.status < 300 and media_type not in accepted:
                    raise FetchUnsupportedType(
                        f"{target.host} answered with {media_type}, expected one of"
                        f" {', '.join(accepted)}"
                    )
                body = await _read_capped(response, cap, target.host)
                logger.debug("fetch %s -> %d (%d bytes)", target.host, response.status, len(body))
                return None, FetchedDocument(
                    url=str(response.url),
                    status=response.status,
                    content_type=media_type,
                    headers=response.headers,
                    body=body,
                )
        except aiohttp.ClientConnectorCertificateError:
            raise FetchConnectionError(
                f"the TLS certificate of {target.host} is not valid for it"
            ) from None
        except aiohttp.ClientConnectorDNSError:
            raise FetchConnectionError(f"host {target.host} could not be resolved") from None
        except aiohttp.ClientConnectorError as exc:
            if hop.refusals:
                raise BlockedURL(f"{target.host} refused: {hop.refusals[0]}") from None
            raise FetchConnectionError(
                f"could not connect to {target.host}: {exc.strerror}"
            ) from None
        except aiohttp.InvalidURL as exc:
            raise BlockedURL(f"not a fetchable URL: {exc}") from None
        except TimeoutError:
            raise FetchTimeout(f"{target.host} did not connect or answer in time") from None
        except aiohttp.ClientPayloadError:
            raise FetchConnectionError(
                f"{target.host} sent a malformed or truncated body"
            ) from None
        except aiohttp.ClientError as exc:
            raise FetchConnectionError(f"{target.host} did not answer properly: {exc}") from None
        finally:
            _CURRENT_HOP.reset(token)

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            asyncio.get_running_loop()  # refuse to build a session outside a running loop
            connector = aiohttp.TCPConnector(
                resolver=self._resolver,
                ssl=self._ssl_context if self._ssl_context is not None else True,
                limit=64,
                limit_per_host=4,
                ttl_dns_cache=10,
                socket_factory=self._open_socket,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),
                trust_env=False,  # behind a proxy the socket guard would only see the proxy
                timeout=aiohttp.ClientTimeout(
                    total=None,  # fetch() bounds all hops and the body with one deadline
                    sock_connect=self._policy.connect_timeout,
                    sock_read=self._policy.read_timeout,
                ),
                headers={hdrs.USER_AGENT: USER_AGENT},
                auto_decompress=True,
            )
        return self._session

    def _open_socket(self, addr_info: AddrInfoType) -> socket.socket:
        """aiohttp's socket_factory: the last check before any packet leaves."""
        family, type_, proto, _, sockaddr = addr_info
        hop = _CURRENT_HOP.get()
        if hop is None:
            raise _RefusedConnection("connection opened outside a guarded fetch")
        address, port = str(sockaddr[0]), int(sockaddr[1])
        reason = self._policy.connection_refusal(
            address, port, scheme=hop.scheme, host_exempt=hop.host_exempt
        )
        if reason is not None:
            hop.refusals.append(reason)
            raise _RefusedConnection(reason)
        return socket.socket(family=family, type=type_, proto=proto)


async def _read_capped(response: aiohttp.ClientResponse, cap: int, host: str) -> bytes:
    """Read the decompressed body, stopping as soon as it passes `cap` (gzip bombs included)."""
    declared = response.content_length
    if declared is not None and declared > cap and hdrs.CONTENT_ENCODING not in response.headers:
        raise FetchTooLarge(f"{host} announced {declared} bytes, more than the {cap} byte limit")
    chunks: list[bytes] = []
    received = 0
    async for chunk in response.content.iter_chunked(_CHUNK):
        received += len(chunk)
        if received > cap:
            raise FetchTooLarge(f"the response from {host} is larger than {cap} bytes")
        chunks.append(chunk)
    return b"".join(chunks)

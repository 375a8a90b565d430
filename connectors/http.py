"""Shared HTTP plumbing for connectors: sessions, rate limits, retries, errors, redaction.

A connector subclasses `HttpConnector`, supplies `auth_headers()` and calls `request()` or
`request_json()`; everything that makes an HTTP call well-behaved lives here once:

* a token bucket per connector (``options["requests_per_second"]``, ``options["burst"]``);
* the singer-sdk status rule: 408/425/429/5xx and network failures are `TransientError`,
  401/403 are `AuthError`, any other 4xx is `PermanentError`;
* a few in-call retries with capped full-jitter backoff that honours Retry-After, after which
  the error surfaces so the caller's outbox owns the longer wait;
* redaction of secrets from every message that leaves the connector.
"""

from __future__ import annotations

import asyncio
import json as jsonlib
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import quote

import aiohttp
from yarl import URL

from connectors.base import ConnectorConfig
from connectors.errors import AuthError, ConnectorError, PermanentError, TransientError
from connectors.pacing import RetryPolicy, Sleep, TokenBucket, parse_retry_after
from connectors.redaction import redact

__all__ = [
    "HttpConnector",
    "HttpResponse",
    "RetryPolicy",
    "TokenBucket",
    "error_for_status",
    "make_session",
    "parse_retry_after",
    "quote_segment",
    "redact",
]

logger = logging.getLogger(__name__)

# Methods whose repetition cannot duplicate an effect, so ambiguous failures are retried.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
TRANSIENT_STATUSES = frozenset({408, 425, 429})
EXCERPT_CHARS = 200


def make_session(*, total_timeout: float = 30, connect_timeout: float = 5) -> aiohttp.ClientSession:
    """Create the client session connectors share; call it from a running event loop."""
    return aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(
            total=total_timeout, connect=connect_timeout, sock_connect=connect_timeout
        ),
        # A connection's route is its configuration: an ambient HTTP(S)_PROXY would see
        # every credential we send.
        trust_env=False,
    )


def quote_segment(value: str) -> str:
    """Percent-encode one path segment taken from remote data, slashes included."""
    return quote(value, safe="")


@dataclass(frozen=True, kw_only=True, slots=True)
class HttpResponse:
    """A successful (2xx) response: parsed JSON body (None when empty) and `Link` relations."""

    status: int
    headers: Mapping[str, str]
    body: Any
    links: Mapping[str, str]


@dataclass(frozen=True, kw_only=True, slots=True)
class _Failure:
    error: ConnectorError
    # False only when the request certainly had no effect (never connected, or 429).
    maybe_applied: bool


def error_for_status(
    status: int,
    headers: Mapping[str, str],
    body_excerpt: str,
    *,
    what: str,
    now: datetime,
) -> ConnectorError:
    """Translate a non-2xx status into the connector error the caller should act on."""
    message = f"{what} returned {status}"
    if body_excerpt:
        message = f"{message}: {body_excerpt}"
    if status in TRANSIENT_STATUSES or status >= 500:
        return TransientError(message, retry_after=parse_retry_after(headers, now), status=status)
    if status in (401, 403):
        return AuthError(message, status=status)
    return PermanentError(message, status=status, body_excerpt=body_excerpt)


class HttpConnector:
    """Base for connectors that speak JSON over HTTP to a configured base URL.

    Options read from `ConnectorConfig.options`: ``page_size``, ``requests_per_second`` and
    ``burst`` (token bucket), ``timeout_seconds`` (per request, else the session's),
    ``max_attempts``, ``backoff_base``, ``backoff_cap``, ``max_retry_wait`` and
    ``max_response_bytes``.
    """

    kind: ClassVar[str]

    def __init__(
        self,
        config: ConnectorConfig,
        session: aiohttp.ClientSession,
        *,
        bucket: TokenBucket | None = None,
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.config = config
        self.session = session
        self.base_url = URL(config.base_url)
        if self.base_url.scheme not in ("http", "https") or not self.base_url.host:
            raise PermanentError("base_url must be an absolute http(s) URL")
        options = config.options
        self.page_size = int(options.get("page_size", 50))
        rate = options.get("requests_per_second")
        if bucket is None and rate:
            bucket = TokenBucket(
                float(rate), int(options.get("burst", max(1, int(float(rate))))), sleep=sleep
            )
        self.bucket = bucket
        self.retry = RetryPolicy.from_options(options)
        timeout = options.get("timeout_seconds")
        self._timeout = aiohttp.ClientTimeout(total=float(timeout)) if timeout else None
        self._max_bytes = int(options.get("max_response_bytes", 32 * 1024 * 1024))
        self._secrets = tuple(config.secrets.values())
        self._sleep = sleep
        self._clock = clock
        self._rng = rng

    def auth_headers(self) -> Mapping[str, str]:
        """Headers that authenticate a request; subclasses override."""
        return {}

    def redact(self, text: str) -> str:
        """`text` with this connection's secrets and any credential-looking values removed."""
        return redact(text, self._secrets)

    def url_for(self, path_or_url: str) -> URL:
        """Resolve a path against the base URL; absolute URLs must share the base URL's origin."""
        url = URL(path_or_url, encoded=True)
        if url.is_absolute():
            # A Link header pointing elsewhere would carry our credentials to a stranger.
            if url.origin() != self.base_url.origin():
                raise PermanentError(self.redact(f"refusing to follow {url.origin()}"))
            return url
        base = str(self.base_url).rstrip("/")
        return URL(f"{base}/{path_or_url.lstrip('/')}", encoded=True)

    async def pause(self, attempt: int, retry_after: float | None) -> None:
        """Sleep before attempt `attempt + 1`, as the retry policy says."""
        await self._sleep(self.retry.delay(attempt, retry_after, self._rng))

    async def request_json(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
    ) -> Any:
        """Send a request and return its parsed JSON body (None when empty)."""
        response = await self.request(
            method, path, params=params, json=json, headers=headers, idempotent=idempotent
        )
        return response.body

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
    ) -> HttpResponse:
        """Send a request, retrying transient failures a few times, and return a 2xx response.

        `idempotent` defaults from the method. A non-idempotent request (POST, PATCH) is
        retried only when it certainly had no effect (connection refused, 429); after a
        timeout, reset or 5xx the error surfaces so the caller can check what landed.
        """
        method = method.upper()
        if idempotent is None:
            idempotent = method in IDEMPOTENT_METHODS
        url = self.url_for(path)
        what = self.redact(f"{method} {url.path}")
        attempt = 0
        while True:
            attempt += 1
            outcome = await self._send_once(method, url, params, json, headers, what)
            if isinstance(outcome, HttpResponse):
                return outcome
            error = outcome.error
            if not isinstance(error, TransientError):
                raise error
            retriable = idempotent or not outcome.maybe_applied
            fits = error.retry_after is None or error.retry_after <= self.retry.max_wait
            if retriable and fits and attempt < self.retry.max_attempts:
                delay = self.retry.delay(attempt, error.retry_after, self._rng)
                logger.warning(
                    "%s failed (%s); retrying in %.2fs, attempt %d of %d",
                    what,
                    error.message,
                    delay,
                    attempt + 1,
                    self.retry.max_attempts,
                )
                await self._sleep(delay)
                continue
            if error.retry_after is None:
                error.retry_after = self.retry.ceiling(attempt + 1)
            raise error

    async def _send_once(
        self,
        method: str,
        url: URL,
        params: Mapping[str, str | int] | None,
        json: Any,
        headers: Mapping[str, str] | None,
        what: str,
    ) -> HttpResponse | _Failure:
        if self.bucket is not None:
            await self.bucket.acquire()
        merged = {"Accept": "application/json", **(headers or {}), **self.auth_headers()}
        kwargs: dict[str, Any] = {}
        if self._timeout is not None:
            kwargs["timeout"] = self._timeout
        try:
            async with self.session.request(
                method,
                url,
                params=params,
                json=json,
                headers=merged,
                allow_redirects=False,
                **kwargs,
            ) as response:
                raw = await self._read_capped(response, what)
                status = response.status
                response_headers = response.headers
                links = {rel: str(link["url"]) for rel, link in response.links.items()}
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            return _Failure(error=self._transient(what, exc), maybe_applied=False)
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, OSError) as exc:
            # TimeoutError is an OSError: the server may have acted on what it received.
            return _Failure(error=self._transient(what, exc), maybe_applied=True)
        except (aiohttp.ClientError, ValueError) as exc:
            # Invalid URLs, header values or redirects: sending again would fail the same way.
            message = self.redact(f"{what} failed: {type(exc).__name__}: {exc}")
            return _Failure(error=PermanentError(message), maybe_applied=True)
        if 200 <= status < 300:
            return HttpResponse(
                status=status,
                headers=response_headers,
                body=self._parse_json(raw, status, what),
                links=links,
            )
        excerpt = self._excerpt(raw)
        if 300 <= status < 400:
            error: ConnectorError = PermanentError(
                f"{what} returned an unexpected redirect ({status})",
                status=status,
                body_excerpt=excerpt,
            )
        else:
            error = error_for_status(
                status, response_headers, excerpt, what=what, now=self._clock()
            )
        return _Failure(error=error, maybe_applied=status != 429)

    async def _read_capped(self, response: aiohttp.ClientResponse, what: str) -> bytes:
        if response.content_length is not None and response.content_length > self._max_bytes:
            raise PermanentError(f"{what} response exceeds {self._max_bytes} bytes")
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.content.iter_chunked(64 * 1024):
            size += len(chunk)
            if size > self._max_bytes:
                raise PermanentError(f"{what} response exceeds {self._max_bytes} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    def _excerpt(self, raw: bytes) -> str:
        # Redact the whole decoded prefix before cutting, so a secret cannot be split in two.
        text = raw[: EXCERPT_CHARS * 20].decode("utf-8", errors="replace")
        return self.redact(" ".join(text.split()))[:EXCERPT_CHARS]

    def _parse_json(self, raw: bytes, status: int, what: str) -> Any:
        if not raw.strip():
            return None
        try:
            return jsonlib.loads(raw)
        except ValueError as exc:
            raise PermanentError(
                f"{what} returned malformed JSON", status=status, body_excerpt=self._excerpt(raw)
            ) from exc

    def _transient(self, what: str, exc: BaseException) -> TransientError:
        detail = "timed out" if isinstance(exc, TimeoutError) else f"{type(exc).__name__}: {exc}"
        return TransientError(self.redact(f"{what} failed: {detail}"))

    async def aclose(self) -> None:
        """Connectors built on this base own nothing: the session belongs to the caller."""

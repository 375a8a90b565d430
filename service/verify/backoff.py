"""Per-URL back-off: after a transient fetch failure the same URL is left alone for a short while.

During an issuer's outage every credential it issued would otherwise wait out the fetch timeout
again; within the back-off window the earlier failure answers at once instead (so a kept copy
stands in, or the check is `unknown` with that failure as its reason). Only failures are
remembered, never documents or verdicts, and only transient ones (timeout, connection failure,
408, 429, 5xx): any answer from the server, good or bad, ends the back-off for its URL.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from service.verify.kept import duration
from service.verify.remote import (
    JSON_MEDIA_TYPES,
    MAX_REMOTE_JSON_BYTES,
    Fetcher,
    RemoteDocumentError,
    RemoteJson,
    fetch_json,
)

DEFAULT_BACKOFF_SECONDS = 60.0
MAX_BACKED_OFF_URLS = 4096


@dataclass(frozen=True, kw_only=True, slots=True)
class _Failure:
    error: RemoteDocumentError
    at: float  # the back-off clock when the fetch failed


class Backoff:
    """Transient fetch failures by URL, each remembered for `seconds` (0 turns back-off off)."""

    def __init__(
        self,
        *,
        seconds: float = DEFAULT_BACKOFF_SECONDS,
        max_urls: int = MAX_BACKED_OFF_URLS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._seconds = max(0.0, seconds)
        self._max_urls = max_urls
        self._clock = clock
        self._failures: dict[str, _Failure] = {}

    def __len__(self) -> int:
        return len(self._failures)

    def earlier_failure(self, url: str) -> RemoteDocumentError | None:
        """The failure to answer with instead of fetching `url` now, if it is backed off."""
        failure = self._failures.get(url)
        if failure is None:
            return None
        age = self._clock() - failure.at
        if not 0 <= age < self._seconds:
            del self._failures[url]
            return None
        return RemoteDocumentError(
            f"{failure.error} {duration(age)} ago; not retried within {duration(self._seconds)}"
            " of a failure",
            infrastructure=failure.error.infrastructure,
            status=failure.error.status,
            transient=True,
        )

    def record(self, url: str, error: RemoteDocumentError) -> None:
        """Remember a transient failure of `url`; any other outcome ends its back-off."""
        self._failures.pop(url, None)
        if not error.transient or self._seconds <= 0:
            return
        if len(self._failures) >= self._max_urls:
            clock = self._clock()
            for old_url in [u for u, f in self._failures.items() if clock - f.at >= self._seconds]:
                del self._failures[old_url]
        while len(self._failures) >= self._max_urls:
            del self._failures[next(iter(self._failures))]  # insertion order: oldest first
        self._failures[url] = _Failure(error=error, at=self._clock())

    def forget(self, url: str) -> None:
        self._failures.pop(url, None)

    async def fetch_json(
        self,
        fetcher: Fetcher,
        url: str,
        *,
        what: str,
        accept: tuple[str, ...] = JSON_MEDIA_TYPES,
        max_bytes: int = MAX_REMOTE_JSON_BYTES,
    ) -> RemoteJson:
        """remote.fetch_json, unless `url` failed transiently within the window (then raise)."""
        earlier = self.earlier_failure(url)
        if earlier is not None:
            raise earlier
        try:
            remote = await fetch_json(fetcher, url, what=what, accept=accept, max_bytes=max_bytes)
        except RemoteDocumentError as exc:
            self.record(url, exc)
            raise
        self.forget(url)
        return remote

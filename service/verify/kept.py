"""Kept copies of verified documents: fresh for a while, then only a stand-in for a failed refresh.

A copy is *fresh* for `fresh_for` seconds and answers without a fetch. After that every use
fetches again, and the copy only stands in when that refresh fails for a transient reason
(stale-if-error, in the spirit of RFC 5861), until it is `usable_for` seconds old. Memory is
bounded by entry count and by bytes; the copies stored longest ago go first.

`KeptCopies` is the store; `KeptDocuments` puts it in front of a fetch-and-parse of unsigned
documents (DID and controller documents, Open Badges 2.0 keys and profiles). Status lists, which
verify themselves, drive the store directly (service.verify.status).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Generic, TypeVar

from service.verify.remote import RemoteDocumentError, RemoteJson

# How long a kept copy may stand in for an unreachable original (status_stale_if_error_seconds).
DEFAULT_STALE_IF_ERROR = 24 * 3600.0

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

_MAX_AGE = re.compile(r"(?:^|,)\s*(?:s-)?max-age\s*=\s*(\d+)", re.IGNORECASE)
_STALE_IF_ERROR = re.compile(r"(?:^|,)\s*stale-if-error\s*=\s*(\d+)", re.IGNORECASE)


def _cache_control(headers: Mapping[str, str]) -> str:
    return (headers.get("Cache-Control") or headers.get("cache-control") or "").lower()


def fresh_seconds(headers: Mapping[str, str], *limits: float) -> float:
    """min(limits, Cache-Control max-age); 0 when the response says no-store or no-cache."""
    bounds = list(limits)
    cache_control = _cache_control(headers)
    if "no-store" in cache_control or "no-cache" in cache_control:
        bounds.append(0.0)
    match = _MAX_AGE.search(cache_control)
    if match:
        bounds.append(float(match.group(1)))
    return max(0.0, min(bounds, default=0.0))


def stand_in_seconds(headers: Mapping[str, str], fresh: float, bound: float) -> float:
    """How long after verification a copy may answer for an unreachable original (0: never).

    no-store forbids keeping the response at all, and the server's own stale-if-error can only
    shorten `bound`. no-cache and must-revalidate are web frameworks' defaults for any dynamic
    response, and a signed list needs no revalidation to be authentic, so they do not forbid it.
    """
    cache_control = _cache_control(headers)
    if bound <= 0 or "no-store" in cache_control:
        return 0.0
    match = _STALE_IF_ERROR.search(cache_control)
    if match:
        return min(bound, fresh + float(match.group(1)))
    return bound


def moment(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def duration(seconds: float) -> str:
    """A short readable age: 45 s, 12 min, 3 h 5 min."""
    whole = int(seconds)
    if whole < 60:
        return f"{whole} s"
    hours, minutes = divmod(whole // 60, 60)
    if not hours:
        return f"{minutes} min"
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


@dataclass(frozen=True, kw_only=True, slots=True)
class KeptCopy(Generic[V]):
    """One verified document and what decides how long it may be used."""

    value: V
    size: int  # bytes held, counted against the budget
    verified_at: datetime  # the verification's `now`, shown to people
    stored_at: float  # the cache clock when it was verified
    fresh_for: float  # seconds it answers without a fetch
    usable_for: float  # seconds after verification it may stand in for a failed refresh

    def age(self, clock: float) -> float:
        return max(0.0, clock - self.stored_at)

    def is_fresh(self, clock: float) -> bool:
        return self.age(clock) < self.fresh_for

    def can_stand_in(self, clock: float) -> bool:
        return self.age(clock) < self.usable_for

    def is_dead(self, clock: float) -> bool:
        return not self.is_fresh(clock) and not self.can_stand_in(clock)


class KeptCopies(Generic[K, V]):
    """A bounded map of kept copies; replacing a copy makes it the newest."""

    def __init__(self, *, max_entries: int, max_bytes: int) -> None:
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._copies: dict[K, KeptCopy[V]] = {}
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._copies)

    @property
    def size(self) -> int:
        return self._bytes

    def get(self, key: K) -> KeptCopy[V] | None:
        return self._copies.get(key)

    def discard(self, key: K) -> None:
        copy = self._copies.pop(key, None)
        if copy is not None:
            self._bytes -= copy.size

    def put(self, key: K, copy: KeptCopy[V], *, clock: float) -> None:
        """Keep `copy` under `key` (replacing any older one), evicting to stay in budget."""
        self.discard(key)
        if copy.is_dead(clock) or copy.size > self._max_bytes:
            return
        if not self._fits(copy):
            for old_key in [k for k, old in self._copies.items() if old.is_dead(clock)]:
                self.discard(old_key)
        while self._copies and not self._fits(copy):
            self.discard(next(iter(self._copies)))  # dicts keep insertion order: oldest first
        self._copies[key] = copy
        self._bytes += copy.size

    def _fits(self, copy: KeptCopy[V]) -> bool:
        return len(self._copies) < self._max_entries and self._bytes + copy.size <= self._max_bytes


class KeyedLocks(Generic[K]):
    """One lock per key, held only while someone uses it: concurrent checks of one document wait
    for a single fetch (after it the copy is fresh or the URL backed off, so an outage costs one
    fetch timeout), and no lock outlives its use, whatever the outcome."""

    def __init__(self) -> None:
        self._locks: dict[K, asyncio.Lock] = {}

    def __len__(self) -> int:
        return len(self._locks)

    @asynccontextmanager
    async def hold(self, key: K) -> AsyncIterator[None]:
        lock = self._locks.setdefault(key, asyncio.Lock())
        try:
            async with lock:
                yield
        finally:
            if not lock.locked():
                self._locks.pop(key, None)


@dataclass(frozen=True, kw_only=True, slots=True)
class Retrieved(Generic[V]):
    """A parsed document as fetched now, as a fresh copy, or as a kept copy standing in."""

    value: V
    stand_in: str = ""  # how a kept copy came to answer for an unreachable original ("" if not)


class KeptDocuments(Generic[K, V]):
    """Fetch-and-parse by key, with a kept copy of the last document that parsed.

    A fresh copy answers without a fetch. Otherwise the document is fetched, and any answer
    (good or bad) supersedes the copy: it is kept again only if `parse` accepts it, so a copy is
    always something fetched and parsed successfully before, and a rotated document replaces
    it. A 404, 410, a refusal by the fetch guard or a document `parse` refuses drops the copy;
    only a transient failure (timeout, connection failure, 408, 429, 5xx) lets it stand in,
    while it is younger than `stale_if_error` seconds (or the document's own stale-if-error).
    """

    def __init__(
        self,
        *,
        fresh_for: float,
        stale_if_error: float,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int,
        max_bytes: int,
    ) -> None:
        self._fresh_for = max(0.0, fresh_for)
        self._stale_if_error = max(0.0, stale_if_error)
        self._clock = clock
        self._copies: KeptCopies[K, V] = KeptCopies(max_entries=max_entries, max_bytes=max_bytes)
        self._locks: KeyedLocks[K] = KeyedLocks()

    async def get(
        self,
        key: K,
        *,
        fetch: Callable[[], Awaitable[RemoteJson]],
        parse: Callable[[RemoteJson], V],
        what: str,
        now: datetime,
    ) -> Retrieved[V]:
        """The document under `key`; raises what `fetch` or `parse` raise when no copy may answer.

        `now` is the verification's time, shown when the copy later stands in.
        """
        async with self._locks.hold(key):
            return await self._retrieve(key, fetch, parse, what, now)

    async def _retrieve(
        self,
        key: K,
        fetch: Callable[[], Awaitable[RemoteJson]],
        parse: Callable[[RemoteJson], V],
        what: str,
        now: datetime,
    ) -> Retrieved[V]:
        kept = self._copies.get(key)
        if kept is not None and kept.is_fresh(self._clock()):
            return Retrieved(value=kept.value)
        try:
            remote = await fetch()
        except RemoteDocumentError as exc:
            return self._stand_in(key, kept, exc, what)
        # The server answered: whatever it said, the old copy no longer speaks for it.
        self._copies.discard(key)
        value = parse(remote)
        self._copies.put(
            key,
            KeptCopy(
                value=value,
                size=remote.size,
                verified_at=now,
                stored_at=self._clock(),
                fresh_for=self._fresh_for,
                usable_for=stand_in_seconds(remote.headers, self._fresh_for, self._stale_if_error),
            ),
            clock=self._clock(),
        )
        return Retrieved(value=value)

    def _stand_in(
        self, key: K, kept: KeptCopy[V] | None, error: RemoteDocumentError, what: str
    ) -> Retrieved[V]:
        if not error.transient:
            # 404, 410, a refusal by the guard: an answer, not an outage.
            self._copies.discard(key)
            raise error
        if kept is None or kept.usable_for <= 0:
            raise error
        age = kept.age(self._clock())
        copy = f"the copy fetched at {moment(kept.verified_at)}"
        if not kept.can_stand_in(self._clock()):
            raise RemoteDocumentError(
                f"{error}; {copy} is {duration(age)} old, more than the"
                f" {duration(kept.usable_for)} a copy may stand in for an unreachable {what}",
                infrastructure=error.infrastructure,
                status=error.status,
                transient=True,
            ) from error
        return Retrieved(
            value=kept.value,
            stand_in=f"{what} unreachable now ({error}); used {copy}, {duration(age)} old",
        )

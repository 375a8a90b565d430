"""Pacing outbound calls: Retry-After parsing, full-jitter backoff and a token bucket."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

__all__ = ["RetryPolicy", "Sleep", "TokenBucket", "parse_retry_after"]

Sleep = Callable[[float], Awaitable[None]]

# Epoch timestamps are far larger than any sensible delay in seconds.
_EPOCH_THRESHOLD = 1_000_000_000


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    wanted = name.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), None)


def parse_retry_after(headers: Mapping[str, str], now: datetime) -> float | None:
    """Seconds the server asked us to wait, from Retry-After or else X-RateLimit-Reset.

    Retry-After may be delay-seconds or an HTTP-date; X-RateLimit-Reset may be an epoch
    timestamp or a delay. Returns None when neither header is present or parseable.
    """
    retry_after = _header(headers, "Retry-After")
    if retry_after is not None:
        value = retry_after.strip()
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            when = None
        if when is not None:
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            return max(0.0, (when - now).total_seconds())
    reset = _header(headers, "X-RateLimit-Reset")
    if reset is not None:
        try:
            value_f = float(reset.strip())
        except ValueError:
            return None
        if value_f >= _EPOCH_THRESHOLD:
            return max(0.0, value_f - now.timestamp())
        return max(0.0, value_f)
    return None


class TokenBucket:
    """A token bucket: `rate` tokens per second, holding at most `burst`."""

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a token bucket needs rate > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(burst)
        self._updated = clock()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._updated) * self.rate)
        self._updated = now

    @property
    def available(self) -> float:
        """Tokens available right now."""
        self._refill()
        return self._tokens

    def try_acquire(self, tokens: float = 1.0) -> float:
        """Take `tokens` if available and return 0.0, else take nothing and return the wait."""
        self._refill()
        if self._tokens >= tokens:
            self._tokens -= tokens
            return 0.0
        return (tokens - self._tokens) / self.rate

    async def acquire(self, tokens: float = 1.0) -> None:
        """Wait until `tokens` are available, then take them; waiters are served in order."""
        async with self._lock:
            while (wait := self.try_acquire(tokens)) > 0:
                await self._sleep(wait)


@dataclass(frozen=True, kw_only=True, slots=True)
class RetryPolicy:
    """How hard one call tries before handing a transient failure back to its caller."""

    max_attempts: int = 3
    backoff_base: float = 0.5
    backoff_cap: float = 8.0
    # A server asking for a longer pause than this is not waited for inside the call: the
    # error surfaces with its retry_after and the outbox reschedules.
    max_wait: float = 10.0

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> RetryPolicy:
        defaults = cls()
        return cls(
            max_attempts=max(1, int(options.get("max_attempts", defaults.max_attempts))),
            backoff_base=float(options.get("backoff_base", defaults.backoff_base)),
            backoff_cap=float(options.get("backoff_cap", defaults.backoff_cap)),
            max_wait=float(options.get("max_retry_wait", defaults.max_wait)),
        )

    def ceiling(self, attempt: int) -> float:
        """The exponential backoff ceiling after `attempt` failed attempts (1-based)."""
        return float(min(self.backoff_cap, self.backoff_base * 2 ** (attempt - 1)))

    def delay(self, attempt: int, retry_after: float | None, rng: Callable[[], float]) -> float:
        """Full-jitter delay before the next attempt, or the server's Retry-After if it gave one."""
        if retry_after is not None:
            return retry_after
        return rng() * self.ceiling(attempt)

"""Bulk verification on every core: a pool of worker processes, each with its own warm Verifier.

Canonicalisation is pure-Python CPU work, so one process verifies one credential at a time;
a pool of N processes verifies N at once. Each worker keeps its caches (processed contexts,
canonical forms, keys, status lists) for the life of the pool, so use one BulkVerifier for
many batches:

    async with BulkVerifier(BulkSettings(contexts_dir=..., fetch_policy=...)) as bulk:
        results = await bulk.verify_many(raw_credentials, now=now)
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

from service.fetch import FetchPolicy, GuardedFetcher
from service.verify.contexts import ContextStore
from service.verify.engine import DEFAULT_MAX_INPUT_BYTES, Verifier
from service.verify.jsonld import LinkedData
from service.verify.kept import DEFAULT_STALE_IF_ERROR
from service.verify.policy import Holder, VerifyPolicy
from service.verify.result import IssuerTier, VerificationResult


@dataclass(frozen=True, kw_only=True, slots=True)
class BulkSettings:
    """What a worker process needs to build its own Verifier (all picklable)."""

    contexts_dir: Path
    fetch_policy: FetchPolicy
    max_input_bytes: int = DEFAULT_MAX_INPUT_BYTES
    status_cache_ttl: float = 300.0
    status_stale_if_error: float = DEFAULT_STALE_IF_ERROR


@dataclass(frozen=True, kw_only=True, slots=True)
class _Job:
    items: tuple[tuple[int, bytes | str], ...]
    now: datetime
    holder: Holder | None
    clock_skew: timedelta
    safe_mode: bool
    trusted_issuers: tuple[tuple[str, str], ...]
    min_status_list_entries: int


class _WorkerState:
    """The per-process verifier pieces that survive between jobs."""

    def __init__(self, settings: BulkSettings) -> None:
        self.settings = settings
        self.contexts = ContextStore(settings.contexts_dir)
        # The warm JSON-LD caches outlive each job's event loop and fetcher session.
        self.linked_data = LinkedData(self.contexts)


# One per worker process, set by the pool initializer: process-global by nature.
_STATE: _WorkerState | None = None


def _initialize(settings: BulkSettings) -> None:
    global _STATE
    _STATE = _WorkerState(settings)


def _run_job(job: _Job) -> list[tuple[int, VerificationResult]]:
    assert _STATE is not None, "worker used before its initializer ran"
    return asyncio.run(_verify_job(_STATE, job))


async def _verify_job(state: _WorkerState, job: _Job) -> list[tuple[int, VerificationResult]]:
    policy = VerifyPolicy(
        clock_skew=job.clock_skew,
        safe_mode=job.safe_mode,
        trusted_issuers={issuer: IssuerTier(tier) for issuer, tier in job.trusted_issuers},
        min_status_list_entries=job.min_status_list_entries,
    )
    settings = state.settings
    async with GuardedFetcher(settings.fetch_policy) as fetcher:
        verifier = Verifier(
            contexts=state.contexts,
            fetcher=fetcher,
            status_cache_ttl=settings.status_cache_ttl,
            status_stale_if_error=settings.status_stale_if_error,
            max_input_bytes=settings.max_input_bytes,
            linked_data=state.linked_data,
        )
        return [
            (index, await verifier.verify(raw, now=job.now, holder=job.holder, policy=policy))
            for index, raw in job.items
        ]


class BulkVerifier:
    """A process pool of verifiers; results come back in input order."""

    def __init__(self, settings: BulkSettings, *, processes: int = 2) -> None:
        self._settings = settings
        self._processes = max(1, processes)
        self._pool: ProcessPoolExecutor | None = None

    async def __aenter__(self) -> BulkVerifier:
        self._pool = ProcessPoolExecutor(
            max_workers=self._processes,
            # spawn: workers never inherit the parent's event loop, sockets or threads.
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_initialize,
            initargs=(self._settings,),
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    async def verify_many(
        self,
        raws: Sequence[bytes | str | Mapping[str, Any]],
        *,
        now: datetime,
        holder: Holder | None = None,
        policy: VerifyPolicy = VerifyPolicy(),  # noqa: B008 - frozen, shared safely
        batch_size: int = 16,
    ) -> list[VerificationResult]:
        if self._pool is None:
            raise RuntimeError("use BulkVerifier as an async context manager")
        items = [
            (index, raw if isinstance(raw, bytes | str) else _json_text(raw))
            for index, raw in enumerate(raws)
        ]
        loop = asyncio.get_running_loop()
        futures = [
            loop.run_in_executor(
                self._pool,
                _run_job,
                _Job(
                    items=tuple(items[start : start + batch_size]),
                    now=now,
                    holder=holder,
                    clock_skew=policy.clock_skew,
                    safe_mode=policy.safe_mode,
                    trusted_issuers=tuple(
                        (issuer, str(tier)) for issuer, tier in policy.trusted_issuers.items()
                    ),
                    min_status_list_entries=policy.min_status_list_entries,
                ),
            )
            for start in range(0, len(items), batch_size)
        ]
        ordered: dict[int, VerificationResult] = {}
        for batch in await asyncio.gather(*futures):
            ordered.update(batch)
        return [ordered[index] for index in range(len(items))]


def _json_text(document: Mapping[str, Any]) -> str:
    return json.dumps(dict(document))

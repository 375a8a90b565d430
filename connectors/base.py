"""What every connector promises: the Protocols, the data they exchange, and their errors.

Connectors translate one external system (an ATS, an issuer, a wallet) into these frozen
dataclasses and back. They never verify, score or store anything, and they import nothing
from `service`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Generic, Literal, Protocol, TypeVar, runtime_checkable

import aiohttp

from connectors.errors import AuthError, ConnectorError, PermanentError, TransientError

__all__ = [
    "ApplicationRef",
    "AtsConnector",
    "AuthError",
    "CandidateRef",
    "ConnectorConfig",
    "ConnectorError",
    "ConnectorFactory",
    "CredentialSource",
    "JobRef",
    "MatchUpdate",
    "Page",
    "PermanentError",
    "PushReceipt",
    "RawCredential",
    "TransientError",
]

T = TypeVar("T")


@dataclass(frozen=True, kw_only=True, slots=True)
class Page(Generic[T]):
    """One page of results, in the remote system's order.

    `next_cursor` is the connector's opaque position of the following page (for logs and
    resumption), or None on the last page.
    """

    items: tuple[T, ...]
    next_cursor: str | None


@dataclass(frozen=True, kw_only=True, slots=True)
class ConnectorConfig:
    """Everything a connector needs to reach one account of one external system."""

    base_url: str
    # Decrypted credentials (api_key, client_secret...). Kept out of repr so that logging a
    # config, or an object holding one, cannot leak them.
    secrets: Mapping[str, str] = field(repr=False)
    # Tuning such as {"page_size": 50, "requests_per_second": 10}; see connectors.http.
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True, slots=True)
class RawCredential:
    """A credential exactly as the remote system holds it; connectors never interpret it.

    `media_type` is one of application/json, application/jwt, image/png, image/svg+xml or
    text/uri-list (a link to a hosted credential).
    """

    external_id: str
    media_type: str
    payload: bytes
    subject_hint: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class CandidateRef:
    """A candidate as the ATS knows them. `verified_emails` are those the ATS itself confirmed."""

    external_id: str
    first_name: str
    last_name: str
    emails: tuple[str, ...] = ()
    verified_emails: tuple[str, ...] = ()
    dids: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class JobRef:
    """A job (requisition) in the ATS."""

    external_id: str
    title: str
    description: str | None = None
    status: str = "open"
    department: str | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class ApplicationRef:
    """One candidate's application to one job, with any credentials attached to it."""

    external_id: str
    candidate: CandidateRef
    job_external_id: str
    status: str
    updated_at: datetime
    credentials: tuple[RawCredential, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class MatchUpdate:
    """The match Skillproof computed for one application, as the recruiter should see it."""

    application_external_id: str
    candidate_external_id: str
    job_external_id: str
    score: int
    max_score: int = 100
    band: str  # "strong" | "partial" | "weak" | "insufficient_evidence"
    summary: str  # plain text a recruiter can read
    top_skills: tuple[str, ...] = ()
    gaps: tuple[str, ...] = ()
    credentials_verified: int = 0
    credentials_rejected: int = 0
    evidence_url: str | None = None
    versions: Mapping[str, str] = field(default_factory=dict)  # algorithm, profile, taxonomy...
    computed_at: datetime
    # sha256 (hex) of the canonical JSON of what matters, without timestamps: equal hashes
    # mean nothing a recruiter would see has changed.
    payload_hash: str


@dataclass(frozen=True, kw_only=True, slots=True)
class PushReceipt:
    """What a push did: `remote_ref` names the remote object that now shows the match."""

    remote_ref: str
    outcome: Literal["created", "updated", "unchanged"]


@runtime_checkable
class AtsConnector(Protocol):
    """Reads applications and jobs from one ATS account and writes matches back into it.

    Contract shared by every method:

    * The base URL, credentials and tuning come from the `ConnectorConfig` given to the
      factory; the `aiohttp.ClientSession` given to the factory belongs to the caller.
    * Only `TransientError`, `AuthError` and `PermanentError` escape; never aiohttp or
      asyncio exceptions. Messages are already redacted.
    * Transient failures may be retried inside the call a small, bounded number of times;
      after that the error surfaces so the caller's outbox can schedule the next attempt.
    """

    kind: ClassVar[str]
    """Stable identifier of the connector type (``"greenhouse"``, ``"sandbox"``...)."""

    async def check(self) -> None:
        """Prove the configuration works by making one cheap authenticated read.

        :raises AuthError: if the credentials are rejected
        :raises TransientError: if the system cannot be reached right now
        :raises PermanentError: if the base URL or account is wrong
        """

    def iter_applications(self, *, since: datetime | None) -> AsyncIterator[Page[ApplicationRef]]:
        """Yield every application updated at or after `since` (all when None), page by page.

        Delivery is at least once: an application changed while paging, or updated exactly at
        `since`, may appear again, so callers dedupe on ``(external_id, updated_at)``. Pages are
        fetched lazily; stopping the iteration early makes no further requests.
        """

    async def get_job(self, job_ref: str) -> JobRef:
        """Return one job by its external id.

        :raises PermanentError: if no such job exists (status 404)
        """

    def iter_jobs(self) -> AsyncIterator[Page[JobRef]]:
        """Yield every job the account can see, page by page."""

    async def push_match(self, update: MatchUpdate, *, idempotency_key: str) -> PushReceipt:
        """Make the ATS show `update` on its application; safe to call again with the same data.

        The current match is *set* (for example in custom fields), so repeating a push leaves one
        value. Anything *appended* (a note) is marked with ``payload_hash`` and written at most
        once per distinct hash, including after a timeout whose outcome was unknown: the
        connector reads back before re-creating. Returns ``outcome="unchanged"`` when the ATS
        already shows this ``payload_hash``.

        `idempotency_key` identifies this delivery (the outbox row); it is sent along where the
        remote API accepts one and used in logs otherwise.
        """

    async def aclose(self) -> None:
        """Release anything the connector opened itself (never the caller's session)."""


@runtime_checkable
class CredentialSource(Protocol):
    """Pulls raw credentials from an issuer, a wallet or a candidate-facing API.

    The same rules as `AtsConnector` apply: configuration from `ConnectorConfig`, the session
    belongs to the caller, and only connector errors escape. Credentials are returned
    untouched; verification happens elsewhere.
    """

    kind: ClassVar[str]
    """Stable identifier of the source type (``"ob3_api"``, ``"credly"``...)."""

    async def check(self) -> None:
        """Prove the configuration works with one cheap authenticated read.

        :raises AuthError: if the credentials are rejected
        :raises TransientError: if the system cannot be reached right now
        """

    def iter_credentials(self, *, since: datetime | None) -> AsyncIterator[Page[RawCredential]]:
        """Yield credentials issued or changed at or after `since` (all when None), page by page.

        At least once: callers dedupe on ``external_id`` plus a hash of ``payload``.
        """

    async def aclose(self) -> None:
        """Release anything the source opened itself (never the caller's session)."""


ConnectorFactory = Callable[
    [ConnectorConfig, aiohttp.ClientSession], AtsConnector | CredentialSource
]
"""Builds a connector; a connector class whose constructor takes (config, session) is one."""

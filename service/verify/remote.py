"""Fetching what a credential points at (keys, DID documents, status lists) through the guard."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from service.fetch import (
    BlockedURL,
    FetchConnectionError,
    FetchedDocument,
    FetchError,
    FetchTimeout,
    FetchTooLarge,
    FetchUnsupportedType,
)
from service.verify.errors import VerificationError

JSON_MEDIA_TYPES: tuple[str, ...] = (
    "application/json",
    "application/ld+json",
    "application/did+json",
    "application/did+ld+json",
    "application/vc+ld+json",
    "application/vc",
    # Static hosts (raw.githubusercontent.com, S3 defaults) serve JSON as text/plain.
    "text/plain",
)
MAX_REMOTE_JSON_BYTES = 1_000_000


class Fetcher(Protocol):
    """What the engine needs from service.fetch.GuardedFetcher."""

    async def fetch(
        self, url: str, *, accept: tuple[str, ...] | None = None, max_bytes: int | None = None
    ) -> FetchedDocument: ...


class RemoteDocumentError(VerificationError):
    """A pointed-at document could not be used.

    `infrastructure` is True when the failure says nothing about the credential (timeout,
    connection refused, 5xx): the check becomes `unknown`, never `pass`. `transient` is True when
    trying again later may well work (timeout, connection failure, 408, 429, 5xx); a refusal by
    the fetch policy, a redirect loop, a 404 or a bad body is not transient.
    """

    def __init__(
        self,
        message: str,
        *,
        infrastructure: bool,
        status: int | None = None,
        transient: bool = False,
    ) -> None:
        self.infrastructure = infrastructure
        self.status = status
        self.transient = transient
        super().__init__(message)


@dataclass(frozen=True, kw_only=True, slots=True)
class RemoteJson:
    url: str
    status: int
    headers: Mapping[str, str]
    data: Any
    size: int = 0  # bytes of the body, for budgets of kept copies


async def fetch_document(
    fetcher: Fetcher,
    url: str,
    *,
    what: str,
    accept: tuple[str, ...] = JSON_MEDIA_TYPES,
    max_bytes: int = MAX_REMOTE_JSON_BYTES,
) -> FetchedDocument:
    """GET through the guard; refusals and HTTP errors become RemoteDocumentError."""
    try:
        document = await fetcher.fetch(url, accept=accept, max_bytes=max_bytes)
    except (BlockedURL, FetchTooLarge, FetchUnsupportedType) as exc:
        raise RemoteDocumentError(f"{what} {url} refused: {exc}", infrastructure=False) from exc
    except (FetchTimeout, FetchConnectionError) as exc:
        raise RemoteDocumentError(
            f"{what} {url} unreachable: {exc}", infrastructure=True, transient=True
        ) from exc
    except FetchError as exc:
        raise RemoteDocumentError(f"{what} {url} unreachable: {exc}", infrastructure=True) from exc
    if document.status in (404, 410):
        raise RemoteDocumentError(
            f"{what} {url} does not exist (HTTP {document.status})",
            infrastructure=False,
            status=document.status,
        )
    if document.status >= 400 or document.status < 200:
        raise RemoteDocumentError(
            f"{what} {url} answered HTTP {document.status}",
            infrastructure=document.status >= 429 or document.status == 408,
            status=document.status,
            transient=document.status in (408, 429) or 500 <= document.status < 600,
        )
    return document


async def fetch_json(
    fetcher: Fetcher,
    url: str,
    *,
    what: str,
    accept: tuple[str, ...] = JSON_MEDIA_TYPES,
    max_bytes: int = MAX_REMOTE_JSON_BYTES,
) -> RemoteJson:
    document = await fetch_document(fetcher, url, what=what, accept=accept, max_bytes=max_bytes)
    try:
        data = json.loads(document.body)
    except (ValueError, RecursionError) as exc:
        raise RemoteDocumentError(f"{what} {url} is not valid JSON", infrastructure=False) from exc
    return RemoteJson(
        url=document.url,
        status=document.status,
        headers=document.headers,
        data=data,
        size=len(document.body),
    )

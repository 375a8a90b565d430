"""Revocation and suspension: BitstringStatusList, StatusList2021 and the 1EdTech revocation list.

A status list is trusted only after its own credential verifies (proof, dates, type, purpose).
Anything that stops us reading it (unreachable, unverifiable, undecodable) makes the status
`unknown`, never `pass`. Verified lists are fresh for min(list ttl, Cache-Control max-age, the
configured ceiling); verdicts are never cached. After that a verified copy is kept (stale-if-error,
in the spirit of RFC 5861): when a refresh fails for a transient reason (timeout, refused
connection, 5xx, 429) a copy younger than `stale_if_error` seconds answers instead, and the
check says so. A 404, a list that no longer verifies or a refusal by the fetch policy is the
issuer's (or our) answer, not an outage: the copy is dropped and the status is `unknown`.
After a transient failure a list's URL is not fetched again for a short while (service.verify.
backoff): the earlier failure answers at once, so an outage costs one fetch timeout, not one per
credential.
"""

from __future__ import annotations

import base64
import binascii
import time
import zlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from service.verify.backoff import Backoff
from service.verify.dates import check_validity
from service.verify.errors import StatusError
from service.verify.kept import (
    DEFAULT_STALE_IF_ERROR,
    KeptCopies,
    KeptCopy,
    KeyedLocks,
    duration,
    fresh_seconds,
    moment,
    stand_in_seconds,
)
from service.verify.keys import b64url_decode, multibase_decode
from service.verify.remote import Fetcher, RemoteDocumentError
from service.verify.result import CheckId, CheckResult, Outcome

MAX_LIST_BYTES = 16 * 1024 * 1024  # decompressed; 128 Mi entries
STATUS_LIST_MEDIA_TYPES = (
    "application/vc+ld+json",
    "application/vc",
    "application/ld+json",
    "application/json",
    "text/plain",
)
LIST_TYPES = {
    "BitstringStatusListEntry": ("BitstringStatusListCredential", "BitstringStatusList"),
    "StatusList2021Entry": ("StatusList2021Credential", "StatusList2021"),
}
REVOCATION_LIST_TYPE = "1EdTechRevocationList"
# Kept lists are usually 16 KiB (131,072 entries); the byte budget bounds the 16 MiB extremes.
MAX_KEPT_LISTS = 4096
MAX_KEPT_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True, kw_only=True, slots=True)
class ListCredentialCheck:
    """What the engine found when verifying a status list credential itself."""

    ok: bool
    detail: str


ListCredentialVerifier = Callable[[Mapping[str, Any], datetime], Awaitable[ListCredentialCheck]]


@dataclass(frozen=True, kw_only=True, slots=True)
class StatusList:
    """A verified, decoded status list."""

    url: str
    purposes: tuple[str, ...]
    bits: bytes
    valid_until: datetime | None = None  # the list credential's own end of validity

    @property
    def length(self) -> int:
        return len(self.bits) * 8

    def value(self, index: int, size: int) -> int:
        """The `size`-bit value at entry `index`; bit 0 is the most significant bit of byte 0."""
        value = 0
        for bit in range(index * size, (index + 1) * size):
            value = (value << 1) | ((self.bits[bit // 8] >> (7 - bit % 8)) & 1)
        return value


@dataclass(frozen=True, kw_only=True, slots=True)
class EntryResult:
    outcome: Outcome
    detail: str


def decode_encoded_list(encoded: Any) -> bytes:
    """`u`-multibase base64url (Bitstring) or bare base64 (StatusList2021), then GZIP."""
    if not isinstance(encoded, str) or not encoded:
        raise StatusError("status list has no encodedList", infrastructure=False)
    # Bare base64 of GZIP starts "H4sI"; a leading "u" is the multibase base64url prefix.
    try:
        if encoded.startswith("u") and not encoded.startswith("H4sI"):
            compressed = multibase_decode(encoded)
        else:
            compressed = _base64_any(encoded)
    except (ValueError, binascii.Error) as exc:
        raise StatusError(
            f"status list encodedList is not base64: {exc}", infrastructure=False
        ) from exc
    try:
        inflater = zlib.decompressobj(wbits=31)
        bits = inflater.decompress(compressed, MAX_LIST_BYTES)
        if inflater.unconsumed_tail:
            raise StatusError("status list is larger than 16 MiB", infrastructure=False)
    except zlib.error as exc:
        raise StatusError(f"status list is not GZIP data: {exc}", infrastructure=False) from exc
    if not bits:
        raise StatusError("status list is empty", infrastructure=False)
    return bits


def _base64_any(value: str) -> bytes:
    if "-" in value or "_" in value:
        return b64url_decode(value.rstrip("="))
    return base64.b64decode(value + "=" * (-len(value) % 4), validate=True)


def _cache_seconds(subject: Mapping[str, Any], headers: Mapping[str, str], ceiling: float) -> float:
    ttl = subject.get("ttl")
    if isinstance(ttl, int | float) and not isinstance(ttl, bool) and ttl >= 0:
        return fresh_seconds(headers, ceiling, ttl / 1000.0)
    return fresh_seconds(headers, ceiling)


def _types(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


class StatusChecker:
    """Checks credentialStatus entries, fetching lists through the guard."""

    def __init__(
        self,
        fetcher: Fetcher,
        *,
        cache_ttl: float = 300.0,
        stale_if_error: float = DEFAULT_STALE_IF_ERROR,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetcher = fetcher
        self._backoff = backoff or Backoff(clock=clock)
        self._ceiling = cache_ttl
        self._stale_if_error = max(0.0, stale_if_error)
        self._clock = clock
        self._copies: KeptCopies[tuple[str, str], StatusList] = KeptCopies(
            max_entries=MAX_KEPT_LISTS, max_bytes=MAX_KEPT_BYTES
        )
        self._locks: KeyedLocks[tuple[str, str]] = KeyedLocks()

    async def check(
        self,
        credential: Mapping[str, Any],
        *,
        now: datetime,
        verify_list: ListCredentialVerifier,
        min_entries: int,
    ) -> CheckResult:
        entries = credential.get("credentialStatus")
        if entries is None:
            return CheckResult(
                id=CheckId.STATUS,
                outcome=Outcome.PASS,
                detail="no credentialStatus: the issuer publishes no revocation for it",
            )
        results = [
            await self._entry(entry, credential, now, verify_list, min_entries)
            for entry in (entries if isinstance(entries, list) else [entries])
        ]
        if not results:
            return CheckResult(id=CheckId.STATUS, outcome=Outcome.PASS, detail="empty status")
        for outcome in (Outcome.FAIL, Outcome.UNKNOWN, Outcome.WARN, Outcome.PASS):
            if any(r.outcome is outcome for r in results):
                break
        detail = "; ".join(r.detail for r in results)
        return CheckResult(id=CheckId.STATUS, outcome=outcome, detail=detail)

    async def _entry(
        self,
        entry: Any,
        credential: Mapping[str, Any],
        now: datetime,
        verify_list: ListCredentialVerifier,
        min_entries: int,
    ) -> EntryResult:
        if not isinstance(entry, Mapping):
            return EntryResult(outcome=Outcome.FAIL, detail="credentialStatus is not an object")
        entry_type = entry.get("type")
        if entry_type in LIST_TYPES:
            return await self._bitstring(entry, str(entry_type), now, verify_list, min_entries)
        if entry_type == REVOCATION_LIST_TYPE:
            return await self._revocation_list(entry, credential)
        return EntryResult(
            outcome=Outcome.UNKNOWN,
            detail=f"status of type {entry_type!r} is not supported, so revocation is unknown",
        )

    async def _bitstring(
        self,
        entry: Mapping[str, Any],
        entry_type: str,
        now: datetime,
        verify_list: ListCredentialVerifier,
        min_entries: int,
    ) -> EntryResult:
        purpose = entry.get("statusPurpose")
        url = entry.get("statusListCredential")
        if not isinstance(purpose, str) or not isinstance(url, str):
            return EntryResult(
                outcome=Outcome.FAIL,
                detail=f"{entry_type} needs statusPurpose and statusListCredential",
            )
        try:
            index = int(str(entry.get("statusListIndex")))
            size = int(str(entry.get("statusSize", 1)))
        except ValueError:
            return EntryResult(outcome=Outcome.FAIL, detail=f"{entry_type} index is not a number")
        if index < 0 or not 1 <= size <= 8:
            return EntryResult(outcome=Outcome.FAIL, detail=f"{entry_type} index/size invalid")
        try:
            status_list, stand_in = await self._status_list(
                url, entry_type, purpose, now, verify_list
            )
        except StatusError as exc:
            return EntryResult(outcome=Outcome.UNKNOWN, detail=f"{purpose} status unknown: {exc}")
        # A stale copy decides exactly as a fresh one would (a set bit still revokes).
        source = f"; {stand_in}" if stand_in else ""
        if (index + 1) * size > status_list.length:
            return EntryResult(
                outcome=Outcome.UNKNOWN,
                detail=f"index {index} is outside the {status_list.length}-bit list {url}{source}",
            )
        value = status_list.value(index, size)
        short = status_list.length // size < min_entries
        note = (
            f" (list has {status_list.length // size} entries, fewer than the {min_entries}"
            " the specification requires for privacy)"
            if short
            else ""
        )
        if value and purpose in ("revocation", "suspension"):
            verb = "revoked" if purpose == "revocation" else "suspended"
            return EntryResult(
                outcome=Outcome.FAIL,
                detail=f"{verb} by its issuer (entry {index} of {url}){source}",
            )
        if value:
            return EntryResult(
                outcome=Outcome.WARN,
                detail=f"{purpose} status {value} set at entry {index}{note}{source}",
            )
        verb = {"revocation": "not revoked", "suspension": "not suspended"}.get(
            purpose, f"{purpose} status clear"
        )
        return EntryResult(
            outcome=Outcome.WARN if short else Outcome.PASS,
            detail=f"{verb} (entry {index} of {url}){note}{source}",
        )

    async def _status_list(
        self,
        url: str,
        entry_type: str,
        purpose: str,
        now: datetime,
        verify_list: ListCredentialVerifier,
    ) -> tuple[StatusList, str]:
        """The verified list, and how a stale copy came to answer for it ("" when fresh)."""
        key = (url, entry_type)
        async with self._locks.hold(key):
            kept = self._copies.get(key)
            if kept is not None and kept.is_fresh(self._clock()):
                status_list, stand_in = kept.value, ""
            else:
                try:
                    loaded = await self._load(url, entry_type, now, verify_list)
                except StatusError as exc:
                    status_list, stand_in = self._stand_in(key, kept, exc, now)
                else:
                    self._copies.put(key, loaded, clock=self._clock())
                    status_list, stand_in = loaded.value, ""
        if purpose not in status_list.purposes:
            raise StatusError(
                f"the list {url} is for {', '.join(status_list.purposes) or 'no purpose'},"
                f" not {purpose}",
                infrastructure=False,
            )
        return status_list, stand_in

    def _stand_in(
        self,
        key: tuple[str, str],
        kept: KeptCopy[StatusList] | None,
        error: StatusError,
        now: datetime,
    ) -> tuple[StatusList, str]:
        """The kept copy in place of a list that could not be refreshed, or the reason it cannot."""
        if not error.transient:
            # The server answered (404, a list that no longer verifies...) or the guard refused:
            # the old copy no longer speaks for the issuer.
            self._copies.discard(key)
            raise error
        if kept is None or self._stale_if_error <= 0:
            raise error
        age = kept.age(self._clock())
        copy = f"the copy verified at {moment(kept.verified_at)}"
        if not kept.can_stand_in(self._clock()):
            raise StatusError(
                f"{error}; {copy} is {duration(age)} old, more than the"
                f" {duration(kept.usable_for)} a copy may stand in for an unreachable list",
                transient=True,
            ) from error
        valid_until = kept.value.valid_until
        if valid_until is not None and now > valid_until:
            raise StatusError(
                f"{error}; {copy} expired at {moment(valid_until)}", transient=True
            ) from error
        return kept.value, (
            f"status list unreachable now ({error}); used {copy}, {duration(age)} old"
        )

    async def _load(
        self, url: str, entry_type: str, now: datetime, verify_list: ListCredentialVerifier
    ) -> KeptCopy[StatusList]:
        credential_type, subject_type = LIST_TYPES[entry_type]
        try:
            remote = await self._backoff.fetch_json(
                self._fetcher,
                url.partition("#")[0],
                what="status list",
                accept=STATUS_LIST_MEDIA_TYPES,
            )
        except RemoteDocumentError as exc:
            raise StatusError(str(exc), transient=exc.transient) from exc
        document = remote.data
        if not isinstance(document, Mapping):
            raise StatusError(f"status list {url} is not a JSON object")
        if credential_type not in _types(document.get("type")):
            raise StatusError(f"status list {url} is not a {credential_type}")
        subject = document.get("credentialSubject")
        if not isinstance(subject, Mapping) or subject_type not in _types(subject.get("type")):
            raise StatusError(f"status list {url} has no {subject_type} subject")
        verification = await verify_list(document, now)
        if not verification.ok:
            raise StatusError(f"status list {url} does not verify: {verification.detail}")
        bits = decode_encoded_list(subject.get("encodedList"))
        purposes = tuple(_types(subject.get("statusPurpose")))
        fresh = _cache_seconds(subject, remote.headers, self._ceiling)
        # verify_list has just checked the dates; only the end matters for a copy used later.
        valid_until = check_validity(document, now=now, clock_skew=timedelta(0)).valid_until
        return KeptCopy(
            value=StatusList(url=url, purposes=purposes, bits=bits, valid_until=valid_until),
            size=len(bits),
            verified_at=now,
            stored_at=self._clock(),
            fresh_for=fresh,
            usable_for=stand_in_seconds(remote.headers, fresh, self._stale_if_error),
        )

    async def _revocation_list(
        self, entry: Mapping[str, Any], credential: Mapping[str, Any]
    ) -> EntryResult:
        url = entry.get("id")
        credential_id = credential.get("id")
        if not isinstance(url, str):
            return EntryResult(outcome=Outcome.FAIL, detail="1EdTechRevocationList has no id URL")
        try:
            remote = await self._backoff.fetch_json(self._fetcher, url, what="revocation list")
        except RemoteDocumentError as exc:
            return EntryResult(outcome=Outcome.UNKNOWN, detail=f"revocation unknown: {exc}")
        revoked = remote.data.get("revokedCredential") if isinstance(remote.data, Mapping) else None
        if not isinstance(revoked, list):
            return EntryResult(
                outcome=Outcome.UNKNOWN, detail=f"revocation list {url} has no revokedCredential"
            )
        for item in revoked:
            item_id = item.get("id") if isinstance(item, Mapping) else item
            if item_id == credential_id and credential_id is not None:
                if isinstance(item, Mapping) and item.get("revoked") is False:
                    continue
                reason = item.get("revocationReason") if isinstance(item, Mapping) else None
                suffix = f": {reason}" if reason else ""
                return EntryResult(outcome=Outcome.FAIL, detail=f"revoked by its issuer{suffix}")
        return EntryResult(
            outcome=Outcome.WARN,
            detail=f"not listed as revoked in {url} (an unsigned 1EdTech revocation list)",
        )

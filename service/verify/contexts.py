"""Pinned JSON-LD contexts and JSON Schemas: verification reads them locally, never remotely.

Every accepted URL has its sha256 in pins.json (a URL published in more than one byte form may
have several). Documents come either from pyld's bundle, when those bytes match a pin, or from
the local store filled by `skillproof contexts sync`:

    <contexts_dir>/manifest.json        url -> {kind, file, sha256, source, synced_at}
    <contexts_dir>/<sha256>.json        one file per document, named by its hash

`load` re-hashes what it reads, so a file changed on disk is refused. An unpinned URL is refused
without any network attempt. To pin a new document (for instance an OB 3.0 JSON Schema), add its
URL and sha256 under "contexts" or "schemas" in pins.json (with "location" when it must be fetched
from another https address) and run `skillproof contexts sync`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from pyld import BUNDLED_CONTEXTS
from pyld.jsonld import JsonLdError

from service.fetch import FetchError, GuardedFetcher

if TYPE_CHECKING:
    from service.settings import Settings

PINS_FILE: Final = Path(__file__).with_name("pins.json")
MANIFEST: Final = "manifest.json"
_HEX64 = re.compile(r"[0-9a-f]{64}")
_FETCH_TYPES: Final = (
    "application/ld+json",
    "application/json",
    "application/schema+json",
    "text/plain",
    "application/octet-stream",
)
_SYNC_CONCURRENCY: Final = 4


class ContextError(Exception):
    """A context or schema cannot be used; str() says which and why."""


class UnknownContext(ContextError):
    """The URL is not pinned, or pinned but not provisioned: nothing will be fetched for it."""


class PinMismatch(ContextError):
    """The bytes at hand do not hash to the URL's pin (tampered file, changed upstream)."""


class DocumentKind(StrEnum):
    CONTEXT = "context"
    SCHEMA = "schema"


@dataclass(frozen=True, kw_only=True, slots=True)
class Pin:
    url: str
    kind: DocumentKind
    sha256: frozenset[str]
    location: str  # where `contexts sync` fetches it (the URL itself unless pins.json says)


Pins = Mapping[DocumentKind, Mapping[str, Pin]]


@functools.cache
def load_pins(path: Path = PINS_FILE) -> Pins:
    """Parse pins.json: {"contexts"|"schemas": {url: {"sha256": [hex...], "location"?: url}}}."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    pins: dict[DocumentKind, dict[str, Pin]] = {}
    for kind in DocumentKind:
        table: dict[str, Pin] = {}
        for url, entry in raw.get(f"{kind}s", {}).items():
            hashes = entry["sha256"]
            hashes = [hashes] if isinstance(hashes, str) else hashes
            if not hashes or not all(_HEX64.fullmatch(h) for h in hashes):
                raise ValueError(f"{path}: pin for {url} is not a list of sha256 hex digests")
            location = entry.get("location", url)
            table[url] = Pin(url=url, kind=kind, sha256=frozenset(hashes), location=location)
        pins[kind] = table
    return pins


@dataclass(frozen=True, kw_only=True, slots=True)
class StoreEntry:
    """One pinned URL as `contexts list` shows it; source is the mirror, a URL, pyld or missing."""

    url: str
    kind: DocumentKind
    sha256: str | None
    source: str
    synced_at: str | None


class ContextStore:
    """Read-only view over the pins, pyld's bundle and the synced store directory."""

    def __init__(self, directory: Path, *, pins: Pins | None = None) -> None:
        self._directory = directory
        self._pins = pins if pins is not None else load_pins()
        self._verified: dict[tuple[DocumentKind, str], bytes] = {}
        self._manifest_cache: tuple[tuple[int, int], dict[str, Any]] | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> ContextStore:
        return cls(settings.contexts_dir)

    def load(self, url: str) -> dict[str, Any]:
        """The parsed context. Each call returns a fresh dict (pyld rewrites contexts in place)."""
        return self._load(DocumentKind.CONTEXT, url)

    def load_schema(self, url: str) -> dict[str, Any]:
        """The parsed JSON Schema, under the same pinning rules as contexts."""
        return self._load(DocumentKind.SCHEMA, url)

    def has(self, url: str) -> bool:
        """True when the context is pinned and provisioned (load may still refuse a bad file)."""
        return self._source(DocumentKind.CONTEXT, url) is not None

    def has_schema(self, url: str) -> bool:
        return self._source(DocumentKind.SCHEMA, url) is not None

    def urls(self) -> tuple[str, ...]:
        """Every context URL that can be loaded now."""
        return tuple(sorted(url for url in self._pins[DocumentKind.CONTEXT] if self.has(url)))

    def entries(self) -> tuple[StoreEntry, ...]:
        """Every pinned URL and where its document comes from (pyld, a sync source, missing)."""
        manifest = self._manifest()
        rows = []
        for kind, table in self._pins.items():
            for url in sorted(table):
                stored = manifest.get(url)
                if stored is None or stored.get("kind") != kind:
                    source = self._source(kind, url)
                    digest = _bundled_digest(url) if source else None
                    stored = {"sha256": digest, "source": source or "missing"}
                rows.append(
                    StoreEntry(
                        url=url,
                        kind=kind,
                        sha256=stored["sha256"],
                        source=stored["source"],
                        synced_at=stored.get("synced_at"),
                    )
                )
        return tuple(rows)

    def document_loader(self) -> Callable[[str, dict[str, Any] | None], dict[str, Any]]:
        """A pyld documentLoader over this store only: unknown URLs raise, nothing is fetched."""

        def load_document(url: str, options: dict[str, Any] | None = None) -> dict[str, Any]:
            try:
                document = self.load(url)
            except ContextError as exc:
                raise JsonLdError(
                    str(exc),
                    "jsonld.LoadDocumentError",
                    {"url": url},
                    code="loading document failed",
                ) from exc
            return {
                "contentType": "application/ld+json",
                "contextUrl": None,
                "documentUrl": url,
                "document": document,
            }

        return load_document

    def _load(self, kind: DocumentKind, url: str) -> dict[str, Any]:
        key = (kind, url)
        data = self._verified.get(key)
        if data is None:
            data = self._read_verified(kind, url)
            self._verified[key] = data
        document = json.loads(data)
        if not isinstance(document, dict):
            raise ContextError(f"{kind} {url} is not a JSON object")
        return document

    def _read_verified(self, kind: DocumentKind, url: str) -> bytes:
        pin = self._pins[kind].get(url)
        if pin is None:
            raise UnknownContext(
                f"{kind} {url} is not pinned; Skillproof never fetches {kind}s while verifying"
            )
        entry = self._manifest().get(url)
        if entry is not None and entry.get("kind") == kind:
            path = self._directory / _document_file(str(entry.get("sha256", "")))
            try:
                data = path.read_bytes()
            except OSError:
                raise UnknownContext(
                    f"{kind} {url} is listed in {self._directory / MANIFEST} but its file is"
                    " missing; run `skillproof contexts sync`"
                ) from None
            digest = _sha256(data)
            if digest not in pin.sha256:
                raise PinMismatch(
                    f"stored copy of {kind} {url} (sha256 {digest}) does not match its pin"
                )
            return data
        bundled = _bundled_bytes(url) if kind is DocumentKind.CONTEXT else None
        if bundled is not None:
            digest = _sha256(bundled)
            if digest not in pin.sha256:
                raise PinMismatch(f"pyld's bundled {url} (sha256 {digest}) does not match its pin")
            return bundled
        raise UnknownContext(
            f"{kind} {url} is pinned but not provisioned in {self._directory};"
            " run `skillproof contexts sync`"
        )

    def _source(self, kind: DocumentKind, url: str) -> str | None:
        pin = self._pins[kind].get(url)
        if pin is None:
            return None
        entry = self._manifest().get(url)
        if entry is not None and entry.get("kind") == kind:
            return str(entry.get("source", "store"))
        if kind is DocumentKind.CONTEXT and _bundled_digest(url) in pin.sha256:
            return "pyld"
        return None

    def _manifest(self) -> dict[str, Any]:
        # Re-read only when the file changed, so a sync in this process is seen without a restart.
        path = self._directory / MANIFEST
        try:
            stat = path.stat()
        except OSError:
            return {}
        stamp = (stat.st_mtime_ns, stat.st_size)
        if self._manifest_cache is None or self._manifest_cache[0] != stamp:
            self._manifest_cache = (stamp, _read_manifest(self._directory))
            self._verified.clear()
        return self._manifest_cache[1]


# --------------------------------------------------------------------------- provisioning


class SyncOutcome(StrEnum):
    STORED = "stored"  # fetched or copied, hash matched, written to the store
    PRESENT = "present"  # the store already held a copy with a matching hash
    BUNDLED = "bundled"  # served from pyld's bundle, whose bytes match the pin
    MISMATCH = "mismatch"  # bytes found but their hash is not the pin: refused, not stored
    UNAVAILABLE = "unavailable"  # no source had it (not in the mirror, fetch failed)


@dataclass(frozen=True, kw_only=True, slots=True)
class SyncEntry:
    url: str
    kind: DocumentKind
    outcome: SyncOutcome
    sha256: str | None
    detail: str


@dataclass(frozen=True, kw_only=True, slots=True)
class SyncReport:
    entries: tuple[SyncEntry, ...]

    @property
    def ok(self) -> bool:
        """True when every pinned document can be loaded and nothing mismatched."""
        bad = {SyncOutcome.MISMATCH, SyncOutcome.UNAVAILABLE}
        return not any(entry.outcome in bad for entry in self.entries)

    def with_outcome(self, outcome: SyncOutcome) -> tuple[SyncEntry, ...]:
        return tuple(entry for entry in self.entries if entry.outcome is outcome)


def sync_from_mirror(store_dir: Path, mirror_dir: Path, *, pins: Pins | None = None) -> SyncReport:
    """Provision the store from a local mirror with a context-map.json (url -> {file, sha256}).

    `mirror_dir` may be the folder holding context-map.json or its parent (a vendor-data root).
    The mirror's own hashes are not trusted: every file is checked against pins.json.
    """
    map_path = next(
        (
            p
            for p in (
                mirror_dir / "context-map.json",
                mirror_dir / "credentials" / "context-map.json",
            )
            if p.is_file()
        ),
        None,
    )
    if map_path is None:
        raise ContextError(f"no context-map.json in {mirror_dir} (or its credentials/ folder)")
    base = map_path.parent.resolve()
    mirror = json.loads(map_path.read_text(encoding="utf-8"))
    provisioner = _Provisioner(store_dir, pins)
    for pin in provisioner.pending():
        listed = mirror.get(f"{pin.kind}s", {}).get(pin.url)
        if listed is None:
            provisioner.record(pin, SyncOutcome.UNAVAILABLE, None, f"not in {map_path}")
            continue
        path = (base / listed["file"]).resolve()
        if not path.is_relative_to(base) or not path.is_file():
            provisioner.record(pin, SyncOutcome.UNAVAILABLE, None, f"mirror file {path} missing")
            continue
        provisioner.offer(pin, path.read_bytes(), source=f"mirror {base}")
    return provisioner.finish()


async def sync_from_network(
    store_dir: Path, fetcher: GuardedFetcher, *, pins: Pins | None = None
) -> SyncReport:
    """Provision the store by fetching each pinned URL's location through the guarded fetcher."""
    provisioner = _Provisioner(store_dir, pins)
    limit = asyncio.Semaphore(_SYNC_CONCURRENCY)

    async def provision(pin: Pin) -> None:
        async with limit:
            try:
                response = await fetcher.fetch(pin.location, accept=_FETCH_TYPES)
            except FetchError as exc:
                provisioner.record(pin, SyncOutcome.UNAVAILABLE, None, str(exc))
                return
        if response.status != 200:
            detail = f"{pin.location} answered HTTP {response.status}"
            provisioner.record(pin, SyncOutcome.UNAVAILABLE, None, detail)
            return
        provisioner.offer(pin, response.body, source=response.url)

    await asyncio.gather(*(provision(pin) for pin in provisioner.pending()))
    return provisioner.finish()


class _Provisioner:
    """Shared bookkeeping for both syncs: decides what is pending, checks, writes, reports."""

    def __init__(self, store_dir: Path, pins: Pins | None) -> None:
        self._dir = store_dir
        self._pins = pins if pins is not None else load_pins()
        self._manifest = _read_manifest(store_dir)
        self._entries: list[SyncEntry] = []

    def pending(self) -> Iterator[Pin]:
        """Pins not yet usable; those already present or bundled are recorded as such."""
        for table in self._pins.values():
            for pin in table.values():
                stored = self._manifest.get(pin.url)
                if stored is not None and stored.get("kind") == pin.kind:
                    path = self._dir / _document_file(str(stored.get("sha256", "")))
                    digest = _sha256(path.read_bytes()) if path.is_file() else None
                    if digest is not None and digest in pin.sha256:
                        self.record(pin, SyncOutcome.PRESENT, digest, str(stored.get("source")))
                        continue
                bundled = _bundled_digest(pin.url) if pin.kind is DocumentKind.CONTEXT else None
                if bundled is not None and bundled in pin.sha256:
                    self.record(pin, SyncOutcome.BUNDLED, bundled, "pyld bundle")
                    continue
                yield pin

    def offer(self, pin: Pin, data: bytes, *, source: str) -> None:
        digest = _sha256(data)
        if digest not in pin.sha256:
            detail = f"sha256 {digest} from {source} is not the pinned value"
            self.record(pin, SyncOutcome.MISMATCH, digest, detail)
            return
        try:
            parsed = json.loads(data)
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            self.record(pin, SyncOutcome.MISMATCH, digest, "pinned bytes are not a JSON object")
            return
        self._dir.mkdir(parents=True, exist_ok=True)
        _write_atomic(self._dir / _document_file(digest), data)
        self._manifest[pin.url] = {
            "kind": str(pin.kind),
            "file": _document_file(digest),
            "sha256": digest,
            "source": source,
            "synced_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        self.record(pin, SyncOutcome.STORED, digest, source)

    def record(self, pin: Pin, outcome: SyncOutcome, digest: str | None, detail: str) -> None:
        self._entries.append(
            SyncEntry(url=pin.url, kind=pin.kind, outcome=outcome, sha256=digest, detail=detail)
        )

    def finish(self) -> SyncReport:
        if any(entry.outcome is SyncOutcome.STORED for entry in self._entries):
            body = json.dumps(self._manifest, indent=2, sort_keys=True) + "\n"
            _write_atomic(self._dir / MANIFEST, body.encode("utf-8"))
        order = {url: index for index, url in enumerate(sorted(e.url for e in self._entries))}
        return SyncReport(entries=tuple(sorted(self._entries, key=lambda e: order[e.url])))


def _read_manifest(directory: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ContextError(f"{directory / MANIFEST} cannot be read: {exc}") from None
    if not isinstance(manifest, dict):
        raise ContextError(f"{directory / MANIFEST} is not a JSON object")
    return manifest


def _document_file(digest: str) -> str:
    # The manifest is data on disk: never let it point outside the store.
    if not _HEX64.fullmatch(digest):
        raise PinMismatch(f"manifest entry has an invalid sha256 {digest!r}")
    return f"{digest}.json"


def _write_atomic(path: Path, data: bytes) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@functools.cache
def _bundled_bytes(url: str) -> bytes | None:
    path = BUNDLED_CONTEXTS.get(url)
    return None if path is None else Path(path).read_bytes()


def _bundled_digest(url: str) -> str | None:
    data = _bundled_bytes(url)
    return None if data is None else _sha256(data)

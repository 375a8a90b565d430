"""Dereferencing verification methods: did:key, did:jwk, did:web and HTTPS controller documents.

A key is only ever taken from what its controller publishes (or, for did:key and did:jwk, from
the DID itself). A URL fragment such as `https://issuer.example/profile#z6Mk...` names a key; it
never *is* the key: the controller document at the URL is fetched and must list it.

Fetched documents are kept (service.verify.kept): fresh for `cache_ttl`, then a stand-in only
while the controller's host is unreachable for a transient reason, and the method then says so.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from urllib.parse import unquote, urlsplit

from service.verify.backoff import Backoff
from service.verify.errors import KeyResolutionError
from service.verify.kept import DEFAULT_STALE_IF_ERROR, KeptDocuments
from service.verify.keys import (
    PublicKey,
    b64url_decode,
    base58_ed25519_to_public_key,
    jwk_to_public_key,
    multikey_to_public_key,
)
from service.verify.remote import Fetcher, RemoteDocumentError, RemoteJson

RELATIONSHIPS = (
    "assertionMethod",
    "authentication",
    "capabilityInvocation",
    "capabilityDelegation",
    "keyAgreement",
)
ALL_RELATIONSHIPS = frozenset(RELATIONSHIPS)
DID_MEDIA_TYPES = (
    "application/did+json",
    "application/did+ld+json",
    "application/ld+json",
    "application/json",
    "text/plain",
)
# A controller document is a few KiB; the entry count is the real bound.
MAX_KEPT_DOCUMENTS = 1024
MAX_KEPT_DOCUMENT_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True, kw_only=True, slots=True)
class VerificationMethod:
    """A dereferenced key: who controls it and what the controller authorises it for."""

    id: str
    type: str
    controller: str
    public_key: PublicKey
    relationships: frozenset[str]
    # How a kept controller document came to answer for an unreachable one ("" when fetched).
    stand_in: str = field(default="", compare=False)


@dataclass(frozen=True, kw_only=True, slots=True)
class ControllerDocument:
    id: str
    methods: tuple[VerificationMethod, ...]
    # A document that is itself a key (an HTTPS key URL): its controller publishes the rest.
    self_method: VerificationMethod | None = None
    # Every method id the verification relationships name, defined here or not.
    references: Mapping[str, frozenset[str]] = field(default_factory=dict)
    stand_in: str = field(default="", compare=False)  # as VerificationMethod.stand_in

    def find(self, method_id: str) -> VerificationMethod | None:
        return next((m for m in self.methods if m.id == method_id), None)


def did_web_url(did: str) -> str:
    """The HTTPS URL of a did:web document (w3c-ccg did-method-web, section 3.2)."""
    parts = did.split(":")
    if len(parts) < 3 or parts[0] != "did" or parts[1] != "web" or not parts[2]:
        raise KeyResolutionError(f"{did} is not a did:web identifier")
    host = unquote(parts[2])
    hostname = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    try:
        ipaddress.ip_address(hostname.strip("[]"))
    except ValueError:
        pass
    else:
        raise KeyResolutionError(f"{did}: did:web must name a host, not an IP address")
    if not hostname or any(c in host for c in "/?#@\\ "):
        raise KeyResolutionError(f"{did}: invalid did:web host {host!r}")
    path = [unquote(segment) for segment in parts[3:]]
    if any(not segment or "/" in segment or segment in (".", "..") for segment in path):
        raise KeyResolutionError(f"{did}: invalid did:web path")
    if path:
        return f"https://{host}/{'/'.join(path)}/did.json"
    return f"https://{host}/.well-known/did.json"


@functools.lru_cache(maxsize=1024)
def did_key_document(did: str) -> ControllerDocument:
    """The DID document a did:key identifier stands for (Ed25519 `z6Mk`, P-256 `zDn`)."""
    identifier = did.split(":", 2)[2] if did.count(":") >= 2 else ""
    if not identifier.startswith("z"):
        raise KeyResolutionError(f"{did} is not a base58btc did:key")
    key = multikey_to_public_key(identifier)
    method = VerificationMethod(
        id=f"{did}#{identifier}",
        type="Multikey",
        controller=did,
        public_key=key,
        relationships=ALL_RELATIONSHIPS - {"keyAgreement"},
    )
    return ControllerDocument(id=did, methods=(method,))


def did_jwk_document(did: str) -> ControllerDocument:
    encoded = did.split(":", 2)[2] if did.count(":") >= 2 else ""
    try:
        jwk = json.loads(b64url_decode(encoded))
    except (ValueError, TypeError) as exc:
        raise KeyResolutionError(f"{did} does not encode a JSON JWK") from exc
    if jwk.get("use") == "enc":
        raise KeyResolutionError(f"{did} is an encryption key")
    method = VerificationMethod(
        id=f"{did}#0",
        type="JsonWebKey",
        controller=did,
        public_key=jwk_to_public_key(jwk),
        relationships=ALL_RELATIONSHIPS - {"keyAgreement"},
    )
    return ControllerDocument(id=did, methods=(method,))


def parse_controller_document(data: Any, expected_id: str) -> ControllerDocument:
    """Read the verification methods and relationships of a DID or controller document."""
    if not isinstance(data, Mapping):
        raise KeyResolutionError(f"controller document for {expected_id} is not a JSON object")
    doc_id = data.get("id")
    if doc_id != expected_id:
        raise KeyResolutionError(
            f"controller document at {expected_id} has id {doc_id!r}; it must equal {expected_id}"
        )
    raw_methods: dict[str, Mapping[str, Any]] = {}
    relationships: dict[str, set[str]] = {}

    def absolute(ref: Any) -> str | None:
        if not isinstance(ref, str) or not ref:
            return None
        if ref.startswith("#"):
            return expected_id + ref
        return ref

    def collect(entry: Any) -> str | None:
        if isinstance(entry, Mapping):
            method_id = absolute(entry.get("id"))
            if method_id is not None:
                raw_methods.setdefault(method_id, entry)
            return method_id
        return absolute(entry)

    for entry in _as_list(data.get("verificationMethod")):
        collect(entry)
    for relationship in RELATIONSHIPS:
        for entry in _as_list(data.get(relationship)):
            method_id = collect(entry)
            if method_id is not None:
                relationships.setdefault(method_id, set()).add(relationship)
    methods = []
    for method_id, raw in raw_methods.items():
        controller = absolute(raw.get("controller"))
        if controller != expected_id:
            # A method controlled by someone else says nothing about this controller.
            continue
        try:
            key = _method_key(raw)
        except KeyResolutionError:
            continue
        methods.append(
            VerificationMethod(
                id=method_id,
                type=str(raw.get("type", "")),
                controller=controller,
                public_key=key,
                relationships=frozenset(relationships.get(method_id, ())),
            )
        )
    self_method = None
    controller = absolute(data.get("controller"))
    if not methods and controller and controller != expected_id:
        own_key: PublicKey | None
        try:
            own_key = _method_key(data)
        except KeyResolutionError:
            own_key = None
        if own_key is not None:
            self_method = VerificationMethod(
                id=expected_id,
                type=str(data.get("type", "")),
                controller=controller,
                public_key=own_key,
                relationships=frozenset(),
            )
    return ControllerDocument(
        id=expected_id,
        methods=tuple(methods),
        self_method=self_method,
        references={ref: frozenset(rels) for ref, rels in relationships.items()},
    )


def _method_key(raw: Mapping[str, Any]) -> PublicKey:
    if isinstance(raw.get("publicKeyMultibase"), str):
        return multikey_to_public_key(raw["publicKeyMultibase"])
    if isinstance(raw.get("publicKeyJwk"), Mapping):
        return jwk_to_public_key(raw["publicKeyJwk"])
    if isinstance(raw.get("publicKeyBase58"), str):
        return base58_ed25519_to_public_key(raw["publicKeyBase58"])
    raise KeyResolutionError(f"verification method {raw.get('id')} has no usable public key")


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


class KeyResolver:
    """Dereferences verification methods through kept controller documents.

    A fetched document answers without a fetch for `cache_ttl` seconds. After that it is fetched
    again; a transient failure lets the copy stand in for up to `stale_if_error` seconds (a
    fresh document replaces it, a 404, 410 or unusable document drops it), and a failed URL is
    not fetched again during `backoff`'s window.
    """

    def __init__(
        self,
        fetcher: Fetcher,
        *,
        cache_ttl: float = 300.0,
        stale_if_error: float = DEFAULT_STALE_IF_ERROR,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = MAX_KEPT_DOCUMENTS,
    ) -> None:
        self._fetcher = fetcher
        self._backoff = backoff or Backoff(clock=clock)
        self._documents: KeptDocuments[str, ControllerDocument] = KeptDocuments(
            fresh_for=cache_ttl,
            stale_if_error=stale_if_error,
            clock=clock,
            max_entries=max_entries,
            max_bytes=MAX_KEPT_DOCUMENT_BYTES,
        )

    async def controller(self, controller_id: str, *, now: datetime) -> ControllerDocument:
        """The document of a DID or HTTPS controller (did:key/did:jwk need no network).

        `now` is the verification's time, shown if this copy later stands in.
        """
        if controller_id.startswith("did:key:"):
            return did_key_document(controller_id)
        if controller_id.startswith("did:jwk:"):
            return did_jwk_document(controller_id)
        if controller_id.startswith("did:web:"):
            url, what = did_web_url(controller_id), "did:web document"
        elif controller_id.startswith("https://"):
            url, what = controller_id, "controller document"
        elif controller_id.startswith("did:"):
            method = controller_id.split(":")[1]
            raise KeyResolutionError(f"DID method did:{method} is not supported ({controller_id})")
        else:
            scheme = urlsplit(controller_id).scheme or "(none)"
            raise KeyResolutionError(
                f"cannot dereference {controller_id}: scheme {scheme} is not did: or https:"
            )

        async def fetch() -> RemoteJson:
            return await self._backoff.fetch_json(
                self._fetcher, url, what=what, accept=DID_MEDIA_TYPES
            )

        def parse(remote: RemoteJson) -> ControllerDocument:
            return parse_controller_document(remote.data, controller_id)

        try:
            retrieved = await self._documents.get(
                controller_id, fetch=fetch, parse=parse, what=what, now=now
            )
        except RemoteDocumentError as exc:
            raise KeyResolutionError(str(exc), infrastructure=exc.infrastructure) from exc
        if retrieved.stand_in:
            return replace(retrieved.value, stand_in=retrieved.stand_in)
        return retrieved.value

    async def resolve(self, method_url: str, *, now: datetime) -> VerificationMethod:
        """Dereference a verification method URL to its key, controller and relationships."""
        if not isinstance(method_url, str) or not method_url:
            raise KeyResolutionError("proof has no verificationMethod")
        base, _, fragment = method_url.partition("#")
        document = await self.controller(base, now=now)
        if base.startswith(("did:key:", "did:jwk:")) and not fragment:
            # The bare DID names its only key (seen in 1EdTech and CLR fixtures).
            return document.methods[0]
        if base.startswith("did:key:") and fragment != base.split(":", 2)[2]:
            raise KeyResolutionError(f"{method_url}: the fragment does not name the did:key key")
        method = document.find(method_url)
        if method is None and document.self_method is not None and not fragment:
            # An HTTPS key document: its controller must list it to authorise it.
            key_doc = document.self_method
            owner = await self.controller(key_doc.controller, now=now)
            relationships = owner.references.get(key_doc.id, frozenset())
            return VerificationMethod(
                id=key_doc.id,
                type=key_doc.type,
                controller=key_doc.controller,
                public_key=key_doc.public_key,
                relationships=relationships,
                stand_in="; ".join(n for n in (document.stand_in, owner.stand_in) if n),
            )
        if method is None:
            source = f" ({document.stand_in})" if document.stand_in else ""
            raise KeyResolutionError(
                f"{document.id} does not publish the verification method {method_url}{source}"
            )
        if document.stand_in:
            return replace(method, stand_in=document.stand_in)
        return method

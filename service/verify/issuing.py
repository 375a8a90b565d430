"""Signing helpers: did:key issuers, eddsa-rdfc-2022 / eddsa-jcs-2022 proofs, status lists.

Used by the demo (to issue real, verifiable OB 3.0 credentials) and by tests to build valid
credentials and their tampered variants. Signing runs the exact transformations verification
runs (service.verify.dataintegrity), so what is issued here verifies there.
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from service.verify.dataintegrity import jcs_hash_data, rdfc_hash_data, without
from service.verify.jsonld import ContextSource, LinkedData
from service.verify.keys import b64url_encode, ed25519_to_multikey, multibase_encode_base58

VC_V2 = "https://www.w3.org/ns/credentials/v2"
MIN_STATUS_LIST_ENTRIES = 131_072

Loader = LinkedData | ContextSource | Callable[..., Mapping[str, Any]]


class _LoaderContexts:
    """A pyld document loader (url -> {"document": ...}) seen as a context source."""

    def __init__(self, loader: Callable[..., Mapping[str, Any]]) -> None:
        self._loader = loader

    def load(self, url: str) -> dict[str, Any]:
        return dict(self._loader(url, {})["document"])


def _linked_data(loader: Loader) -> LinkedData:
    if isinstance(loader, LinkedData):
        return loader
    if hasattr(loader, "load"):
        return LinkedData(loader)
    return LinkedData(_LoaderContexts(loader))


def generate_did_key_ed25519() -> tuple[str, Ed25519PrivateKey]:
    """A fresh Ed25519 key and its did:key (the verification method is did#<key>)."""
    private_key = Ed25519PrivateKey.generate()
    return "did:key:" + ed25519_to_multikey(private_key.public_key()), private_key


def did_key_method(did: str) -> str:
    """The verification method URL of a did:key."""
    return f"{did}#{did.split(':', 2)[2]}"


def _timestamp(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("created must be an aware datetime")
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _proof_options(
    cryptosuite: str, verification_method: str, created: datetime, context: Any
) -> dict[str, Any]:
    options: dict[str, Any] = {
        "type": "DataIntegrityProof",
        "cryptosuite": cryptosuite,
        "created": _timestamp(created),
        "verificationMethod": verification_method,
        "proofPurpose": "assertionMethod",
    }
    if cryptosuite == "eddsa-jcs-2022" and context is not None:
        options["@context"] = context
    return options


def _attach(credential: Mapping[str, Any], proof: dict[str, Any]) -> dict[str, Any]:
    signed = dict(credential)
    existing = credential.get("proof")
    if existing is None:
        signed["proof"] = proof
    else:
        signed["proof"] = [*(existing if isinstance(existing, list) else [existing]), proof]
    return signed


def sign_eddsa_rdfc_2022(
    credential: Mapping[str, Any],
    *,
    private_key: Ed25519PrivateKey,
    verification_method: str,
    created: datetime,
    loader: Loader,
) -> dict[str, Any]:
    """`credential` with an eddsa-rdfc-2022 DataIntegrityProof added (a proof set if it had one)."""
    unsecured = without(credential, "proof")
    options = _proof_options(
        "eddsa-rdfc-2022", verification_method, created, unsecured.get("@context")
    )
    hash_data = rdfc_hash_data(_linked_data(loader), unsecured, options)
    options["proofValue"] = multibase_encode_base58(private_key.sign(hash_data))
    return _attach(credential, options)


def sign_eddsa_jcs_2022(
    credential: Mapping[str, Any],
    *,
    private_key: Ed25519PrivateKey,
    verification_method: str,
    created: datetime,
    loader: Loader | None = None,
) -> dict[str, Any]:
    """`credential` with an eddsa-jcs-2022 proof (JCS needs no contexts; `loader` is ignored)."""
    unsecured = without(credential, "proof")
    options = _proof_options(
        "eddsa-jcs-2022", verification_method, created, unsecured.get("@context")
    )
    hash_data = jcs_hash_data(unsecured, options)
    options["proofValue"] = multibase_encode_base58(private_key.sign(hash_data))
    return _attach(credential, options)


def encode_status_list(revoked_indexes: Iterable[int], *, length: int) -> str:
    """A BitstringStatusList encodedList: GZIP, then multibase base64url (`u`)."""
    bits = bytearray((length + 7) // 8)
    for index in revoked_indexes:
        if not 0 <= index < length:
            raise ValueError(f"index {index} is outside a {length}-entry list")
        bits[index // 8] |= 0x80 >> (index % 8)
    return "u" + b64url_encode(gzip.compress(bytes(bits), mtime=0))


def make_status_list_credential(
    *,
    url: str,
    issuer: str,
    private_key: Ed25519PrivateKey,
    verification_method: str,
    revoked_indexes: Iterable[int],
    created: datetime,
    loader: Loader,
    length: int = MIN_STATUS_LIST_ENTRIES,
    purpose: str = "revocation",
    valid_until: datetime | None = None,
) -> dict[str, Any]:
    """A signed BitstringStatusListCredential published at `url` (at least 131,072 entries)."""
    if length < MIN_STATUS_LIST_ENTRIES:
        raise ValueError(f"a status list needs at least {MIN_STATUS_LIST_ENTRIES} entries")
    credential: dict[str, Any] = {
        "@context": [VC_V2],
        "id": url,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": issuer,
        "validFrom": _timestamp(created),
        "credentialSubject": {
            "id": f"{url}#list",
            "type": "BitstringStatusList",
            "statusPurpose": purpose,
            "encodedList": encode_status_list(revoked_indexes, length=length),
        },
    }
    if valid_until is not None:
        credential["validUntil"] = _timestamp(valid_until)
    return sign_eddsa_rdfc_2022(
        credential,
        private_key=private_key,
        verification_method=verification_method,
        created=created,
        loader=loader,
    )


def status_entry(list_url: str, index: int, *, purpose: str = "revocation") -> dict[str, Any]:
    """The credentialStatus member pointing at entry `index` of a status list."""
    return {
        "id": f"{list_url}#{index}",
        "type": "BitstringStatusListEntry",
        "statusPurpose": purpose,
        "statusListIndex": str(index),
        "statusListCredential": list_url,
    }


def hashed_email_identifier(email: str, salt: str) -> dict[str, Any]:
    """An OB 3.0 IdentityObject naming the recipient by a salted SHA-256 of their email."""
    digest = hashlib.sha256((email + salt).encode("utf-8")).hexdigest()
    return {
        "type": "IdentityObject",
        "identityHash": f"sha256${digest}",
        "identityType": "emailAddress",
        "hashed": True,
        "salt": salt,
    }

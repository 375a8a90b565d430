"""Data Integrity proofs: eddsa-rdfc-2022, eddsa-jcs-2022, Ed25519Signature2020, sets, chains.

Each proof is checked on its own (w3c/vc-di-eddsa): purpose, proofValue encoding, the key its
verification method dereferences to (and that the controller authorises it for
assertionMethod), then the Ed25519 signature over hash(proof options) || hash(document).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from service.verify.dates import parse_datetime
from service.verify.dids import KeyResolver, VerificationMethod
from service.verify.errors import (
    CanonicalizationLimit,
    ContextError,
    KeyResolutionError,
    VerificationError,
)
from service.verify.jsonld import Canonical, LinkedData
from service.verify.keys import multibase_decode
from service.verify.result import Outcome

RDFC_SUITES = frozenset({"eddsa-rdfc-2022", "eddsa-2022", "Ed25519Signature2020"})
JCS_SUITES = frozenset({"eddsa-jcs-2022"})
SUPPORTED_SUITES = RDFC_SUITES | JCS_SUITES
EXPECTED_PURPOSE = "assertionMethod"


@dataclass(frozen=True, kw_only=True, slots=True)
class ProofReport:
    """One proof: pass (valid), fail (invalid), warn (ignored), unknown (key unreachable)."""

    suite: str
    verification_method: str | None
    outcome: Outcome
    detail: str
    method: VerificationMethod | None = None


class ProofInvalid(VerificationError):
    """This proof is malformed or does not verify."""


def proofs_of(document: Mapping[str, Any]) -> list[Any]:
    proof = document.get("proof")
    if proof is None:
        return []
    return list(proof) if isinstance(proof, list) else [proof]


def suite_of(proof: Any) -> str:
    """The cryptosuite name (or proof type for pre-DataIntegrityProof suites)."""
    if not isinstance(proof, Mapping):
        return "(malformed proof)"
    proof_type = proof.get("type")
    if proof_type == "DataIntegrityProof":
        return str(proof.get("cryptosuite") or "DataIntegrityProof without cryptosuite")
    return str(proof_type) if proof_type else "(proof without type)"


def without(mapping: Mapping[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if k not in keys}


def with_source(detail: str, method: VerificationMethod | None) -> str:
    """`detail`, saying so when a kept copy of the key's document stood in for it."""
    if method is None or not method.stand_in:
        return detail
    return f"{detail}; {method.stand_in}"


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def rdfc_hash_data(
    linked_data: LinkedData,
    unsecured: Mapping[str, Any],
    proof_options: Mapping[str, Any],
    *,
    document_canonical: Canonical | None = None,
) -> bytes:
    """sha256(RDFC(proof options)) || sha256(RDFC(document)) for the RDFC-based suites."""
    config = without(proof_options, "proofValue")
    if "@context" in unsecured:
        config["@context"] = unsecured["@context"]
    config_canon = linked_data.canonicalize(config)
    if config_canon.problems:
        raise ProofInvalid(
            "the proof options use terms its contexts do not define: "
            + "; ".join(config_canon.problems)
        )
    doc_canon = document_canonical or linked_data.canonicalize(unsecured)
    return _sha256(config_canon.nquads.encode()) + _sha256(doc_canon.nquads.encode())


def jcs_hash_data(unsecured: Mapping[str, Any], proof_options: Mapping[str, Any]) -> bytes:
    """sha256(JCS(proof options)) || sha256(JCS(document)) for eddsa-jcs-2022."""
    document = dict(unsecured)
    config = without(proof_options, "proofValue")
    if "@context" in config:
        proof_context = _as_list(config["@context"])
        document_context = _as_list(document.get("@context"))
        if document_context[: len(proof_context)] != proof_context:
            raise ProofInvalid("the proof's @context does not start the document's @context")
        document["@context"] = config["@context"]
    if "@context" in document:
        config["@context"] = document["@context"]
    try:
        return _sha256(rfc8785.dumps(config)) + _sha256(rfc8785.dumps(document))
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise ProofInvalid(f"the document cannot be JCS-canonicalised: {exc}") from exc


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _unsecured(
    document: Mapping[str, Any], proof: Mapping[str, Any], proofs: list[Any]
) -> tuple[dict[str, Any], bool]:
    """The document the proof signed: without proofs, plus the previous proofs of a chain."""
    unsecured = without(document, "proof")
    previous = proof.get("previousProof")
    if previous is None:
        return unsecured, False
    wanted = _as_list(previous)
    by_id = {p.get("id"): p for p in proofs if isinstance(p, Mapping) and p.get("id")}
    missing = [ref for ref in wanted if ref not in by_id]
    if missing or not all(isinstance(ref, str) for ref in wanted):
        raise ProofInvalid(f"previousProof {', '.join(map(str, missing))} is not in the proof set")
    unsecured["proof"] = [by_id[ref] for ref in wanted]
    return unsecured, True


async def verify_proof(
    document: Mapping[str, Any],
    proof: Any,
    *,
    proofs: list[Any],
    linked_data: LinkedData,
    keys: KeyResolver,
    now: datetime,
    clock_skew: timedelta,
    document_canonical: Canonical | None,
) -> ProofReport:
    """Check one embedded proof; never raises for anything the credential controls."""
    suite = suite_of(proof)
    if not isinstance(proof, Mapping):
        return ProofReport(
            suite=suite, verification_method=None, outcome=Outcome.FAIL, detail="malformed proof"
        )
    method_url = proof.get("verificationMethod")
    vm = method_url if isinstance(method_url, str) else None
    if suite not in SUPPORTED_SUITES:
        return ProofReport(
            suite=suite,
            verification_method=vm,
            outcome=Outcome.WARN,
            detail=f"proof of unsupported type {suite} ignored",
        )

    def fail(detail: str, method: VerificationMethod | None = None) -> ProofReport:
        return ProofReport(
            suite=suite,
            verification_method=vm,
            outcome=Outcome.FAIL,
            detail=with_source(detail, method),
            method=method,
        )

    purpose = proof.get("proofPurpose")
    if purpose != EXPECTED_PURPOSE:
        return fail(
            f"{suite} proof has proofPurpose {purpose!r}; a credential needs assertionMethod"
        )
    if vm is None:
        return fail(f"{suite} proof has no verificationMethod")
    try:
        signature = multibase_decode(str(proof.get("proofValue", "")))
    except ValueError as exc:
        return fail(f"{suite} proofValue is not multibase: {exc}")
    if not str(proof.get("proofValue", "")).startswith("z") or len(signature) != 64:
        return fail(f"{suite} proofValue is not a base58btc Ed25519 signature")
    expires = proof.get("expires")
    if expires is not None:
        expiry = parse_datetime(expires)
        if expiry is None or now > expiry + clock_skew:
            return fail(f"{suite} proof expired at {expires}")
    try:
        method = await keys.resolve(vm, now=now)
    except KeyResolutionError as exc:
        outcome = Outcome.UNKNOWN if exc.infrastructure else Outcome.FAIL
        return ProofReport(
            suite=suite,
            verification_method=vm,
            outcome=outcome,
            detail=f"key for the {suite} proof not available: {exc}",
        )
    if EXPECTED_PURPOSE not in method.relationships:
        return fail(
            f"{method.controller} does not authorise {vm} for assertionMethod", method=method
        )
    if not isinstance(method.public_key, Ed25519PublicKey):
        return fail(f"{suite} needs an Ed25519 key; {vm} is another type", method=method)
    try:
        unsecured, chained = _unsecured(document, proof, proofs)
        if suite in JCS_SUITES:
            if proof.get("type") != "DataIntegrityProof":
                return fail("eddsa-jcs-2022 must be a DataIntegrityProof", method=method)
            hash_data = jcs_hash_data(unsecured, proof)
        else:
            hash_data = rdfc_hash_data(
                linked_data,
                unsecured,
                proof,
                document_canonical=None if chained else document_canonical,
            )
    except ProofInvalid as exc:
        return fail(f"{suite} proof invalid: {exc}", method=method)
    except (ContextError, CanonicalizationLimit) as exc:
        return fail(f"{suite} proof could not be checked: {exc}", method=method)
    try:
        method.public_key.verify(signature, hash_data)
    except InvalidSignature:
        return fail(
            f"{suite} signature by {vm} does not match: the credential was changed after"
            " signing, or the proof belongs to another document",
            method=method,
        )
    return ProofReport(
        suite=suite,
        verification_method=vm,
        outcome=Outcome.PASS,
        detail=with_source(f"valid {suite} signature by {vm}", method),
        method=method,
    )

"""JOSE-secured credentials: VC-JOSE `vc+jwt` and OB 3.0 VC-JWT (a VC 1.1 `vc` claim).

The algorithm is pinned by the key, never chosen by the token: EdDSA for Ed25519, ES256 for
P-256, RS256 for RSA; `none` and HS* are refused outright. A key carried in the header (`jwk`,
`x5c`) is self-asserted: it only counts when the issuer's own DID or controller document
publishes the same key.
"""

from __future__ import annotations

import base64
import binascii
import json
import warnings
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from joserfc import jws
from joserfc.errors import JoseError, SecurityWarning
from joserfc.jwk import JWKRegistry
from joserfc.jws import JWSRegistry

from service.verify.checks import issuer_id
from service.verify.dataintegrity import ProofReport, with_source
from service.verify.dates import parse_datetime
from service.verify.dids import KeyResolver, VerificationMethod
from service.verify.errors import KeyResolutionError, MalformedCredential
from service.verify.keys import (
    ALGORITHMS_BY_KEY,
    PublicKey,
    b64url_decode,
    jwk_to_public_key,
    key_type,
    public_key_to_jwk,
    same_key,
)
from service.verify.policy import Holder, VerifyPolicy
from service.verify.result import Outcome, VerificationResult
from service.verify.vc import Envelope, NestedVerifier, VcPipeline

ACCEPTED_ALGORITHMS = frozenset({"EdDSA", "Ed25519", "ES256", "RS256"})
VC_V1 = "https://www.w3.org/2018/credentials/v1"


class _CredentialJWSRegistry(JWSRegistry):
    """joserfc's limits are sized for auth tokens; credentials carry keys and whole CLRs."""

    max_header_length = 16_384  # a header jwk or x5c chain
    max_payload_length = 2_000_000  # the service's credential size cap


def decode_unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and payload of a compact JWS, for routing only (nothing is trusted yet)."""
    parts = token.split(".")
    if len(parts) != 3:
        raise MalformedCredential("a compact JWT has three dot-separated parts")
    try:
        header = json.loads(b64url_decode(parts[0]))
        payload = json.loads(b64url_decode(parts[1]))
    except (ValueError, binascii.Error, UnicodeDecodeError, RecursionError) as exc:
        raise MalformedCredential(f"JWT header or payload is not base64url JSON: {exc}") from exc
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise MalformedCredential("JWT header and payload must be JSON objects")
    return header, payload


def verify_jws(token: str, key: PublicKey, alg: str) -> bool:
    """Signature check with exactly one algorithm, the one the key type allows."""
    if alg not in ACCEPTED_ALGORITHMS or alg not in ALGORITHMS_BY_KEY.get(key_type(key), ()):
        return False
    try:
        jose_key = JWKRegistry.import_key(public_key_to_jwk(key))  # type: ignore[arg-type]
        with warnings.catch_warnings():
            # RFC 9864 deprecates the name "EdDSA" in favour of "Ed25519"; OB 3.0 and VC-JOSE
            # issuers still use it and the algorithm itself is sound.
            warnings.simplefilter("ignore", SecurityWarning)
            registry = _CredentialJWSRegistry(algorithms=[alg], strict_check_header=False)
            jws.deserialize_compact(token, jose_key, registry=registry)
    except (JoseError, ValueError):
        return False
    return True


def _epoch(value: Any) -> datetime | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    return None


def credential_from_claims(payload: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The credential a JWT secures and any claim that contradicts it.

    OB 3.0 VC-JWT wraps a VC 1.1 credential in `vc`, with iss/jti/sub/nbf/exp repeating its
    issuer, id, subject and dates; VC-JOSE (`vc+jwt`) makes the payload the credential.
    """
    problems: list[str] = []
    if "vc" in payload:
        credential = payload["vc"]
        if not isinstance(credential, dict):
            raise MalformedCredential("JWT `vc` claim is not a JSON object")
        credential = dict(credential)
    elif "@context" in payload:
        credential = dict(payload)
        if "vp" in payload:
            raise MalformedCredential("a VC-JWT must not carry a `vp` claim")
    else:
        raise MalformedCredential("JWT payload is neither a credential nor a `vc` claim")
    issuer = issuer_id(credential)
    iss = payload.get("iss")
    if iss is not None:
        if issuer is None and "vc" in payload:
            credential["issuer"] = iss
        elif iss != issuer:
            problems.append(f"JWT iss {iss!r} is not the credential's issuer {issuer!r}")
    jti = payload.get("jti")
    if jti is not None and credential.get("id") not in (None, jti):
        problems.append(f"JWT jti {jti!r} is not the credential id {credential.get('id')!r}")
    sub = payload.get("sub")
    subject = credential.get("credentialSubject")
    subject_id = subject.get("id") if isinstance(subject, Mapping) else None
    if sub is not None and subject_id is not None and sub != subject_id:
        problems.append(f"JWT sub {sub!r} is not the credential subject {subject_id!r}")
    v1 = _is_v1(credential)
    for claim, keys, name in (
        ("nbf", ("validFrom", "issuanceDate"), "validFrom" if not v1 else "issuanceDate"),
        ("exp", ("validUntil", "expirationDate"), "validUntil" if not v1 else "expirationDate"),
    ):
        if claim not in payload:
            continue
        when = _epoch(payload[claim])
        if when is None:
            problems.append(f"JWT {claim} is not a NumericDate")
            continue
        stated = [parse_datetime(credential[k]) for k in keys if k in credential]
        if not stated:
            # The claim is signed: it carries the date the `vc` object leaves out.
            credential[name] = when.isoformat().replace("+00:00", "Z")
        elif claim == "exp" and all(s is not None and s > when for s in stated):
            # Expiry in the claim wins when it is earlier than the document says.
            credential[name] = when.isoformat().replace("+00:00", "Z")
    return credential, problems


def _is_v1(credential: Mapping[str, Any]) -> bool:
    context = credential.get("@context")
    first = context[0] if isinstance(context, list) and context else context
    return first == VC_V1


async def jwt_proof(
    token: str,
    header: Mapping[str, Any],
    issuer: str | None,
    keys: KeyResolver,
    *,
    now: datetime,
) -> ProofReport:
    """Check the JWS of a VC-JWT: algorithm, key, binding of a header key, signature."""
    alg = header.get("alg")
    suite = f"JWT {alg}"

    def report(
        outcome: Outcome, detail: str, method: VerificationMethod | None = None
    ) -> ProofReport:
        return ProofReport(
            suite=suite,
            verification_method=header.get("kid") if isinstance(header.get("kid"), str) else None,
            outcome=outcome,
            detail=with_source(detail, method),
            method=method,
        )

    if alg not in ACCEPTED_ALGORITHMS:
        return report(Outcome.FAIL, f"JWT alg {alg!r} refused (only EdDSA, ES256 and RS256)")
    if header.get("crit"):
        return report(Outcome.FAIL, "JWT has critical header parameters Skillproof cannot honour")
    kid = header.get("kid")
    method: VerificationMethod | None = None
    self_asserted = False
    try:
        if isinstance(kid, str) and kid:
            reference = f"{issuer}{kid}" if kid.startswith("#") and issuer else kid
            method = await keys.resolve(reference, now=now)
            if "assertionMethod" not in method.relationships:
                return report(
                    Outcome.FAIL,
                    f"{method.controller} does not authorise {reference} for assertions",
                    method,
                )
            key = method.public_key
            if isinstance(header.get("jwk"), Mapping) and not same_key(
                key, jwk_to_public_key(header["jwk"])
            ):
                return report(
                    Outcome.FAIL, "JWT header jwk differs from the key its kid names", method
                )
        else:
            key = _header_key(header)
            self_asserted = True
    except KeyResolutionError as exc:
        outcome = Outcome.UNKNOWN if exc.infrastructure else Outcome.FAIL
        return report(outcome, f"JWT key not available: {exc}")
    if alg not in ALGORITHMS_BY_KEY.get(key_type(key), frozenset()):
        return report(Outcome.FAIL, f"JWT alg {alg} does not fit a {key_type(key)} key")
    if not verify_jws(token, key, str(alg)):
        return report(Outcome.FAIL, f"JWT {alg} signature does not verify", method)
    if self_asserted:
        try:
            method = await _bound_method(key, issuer, keys, now=now)
        except KeyResolutionError as exc:
            return report(
                Outcome.PASS,
                f"valid {alg} signature by a key the token carries itself; whether the issuer"
                f" publishes that key could not be checked: {exc}",
            )
        if method is None:
            return report(
                Outcome.PASS,
                f"valid {alg} signature by a key the token carries itself; the issuer does not"
                " publish that key, so it proves nothing about who issued it",
            )
    assert method is not None
    return report(Outcome.PASS, f"valid {alg} signature by {method.id}", method)


def _header_key(header: Mapping[str, Any]) -> PublicKey:
    jwk = header.get("jwk")
    if isinstance(jwk, Mapping):
        return jwk_to_public_key(jwk)
    chain = header.get("x5c")
    if isinstance(chain, list) and chain and isinstance(chain[0], str):
        try:
            certificate = x509.load_der_x509_certificate(base64.b64decode(chain[0]))
        except (ValueError, binascii.Error) as exc:
            raise KeyResolutionError(f"JWT x5c certificate is unreadable: {exc}") from exc
        public = certificate.public_key()
        if isinstance(public, Ed25519PublicKey | rsa.RSAPublicKey) or (
            isinstance(public, ec.EllipticCurvePublicKey) and isinstance(public.curve, ec.SECP256R1)
        ):
            # Through JWK so the same checks apply (RSA size) as for any other key.
            return jwk_to_public_key(public_key_to_jwk(public))
        raise KeyResolutionError("JWT x5c certificate key is not Ed25519, P-256 or RSA")
    raise KeyResolutionError("JWT names no key (no kid, jwk or x5c)")


async def _bound_method(
    key: PublicKey, issuer: str | None, keys: KeyResolver, *, now: datetime
) -> VerificationMethod | None:
    """The issuer's own method for a header key, if the issuer publishes that very key."""
    if not issuer or not issuer.startswith(("did:", "https://")):
        return None
    try:
        document = await keys.controller(issuer, now=now)
    except KeyResolutionError as exc:
        if exc.infrastructure:
            raise
        return None
    for method in document.methods:
        if "assertionMethod" in method.relationships and same_key(method.public_key, key):
            return replace(method, stand_in=document.stand_in) if document.stand_in else method
    return None


async def verify_vc_jwt(
    token: str,
    *,
    pipeline: VcPipeline,
    keys: KeyResolver,
    now: datetime,
    holder: Holder | None,
    policy: VerifyPolicy,
    container: str,
    depth: int = 0,
    nested_verifier: NestedVerifier | None = None,
) -> VerificationResult:
    """Verify the JWS, then run the VC checks on the credential it carries."""
    header, payload = decode_unverified(token)
    credential, problems = credential_from_claims(payload)
    report = await jwt_proof(token, header, issuer_id(credential), keys, now=now)
    if problems:
        report = ProofReport(
            suite=report.suite,
            verification_method=report.verification_method,
            outcome=Outcome.FAIL,
            detail="; ".join(problems) + f" ({report.detail})",
            method=report.method,
        )
    kind = "VC-JOSE vc+jwt" if "vc" not in payload else "VC-JWT (vc claim)"
    return await pipeline.verify(
        credential,
        now=now,
        holder=holder,
        policy=policy,
        parse_detail=f"{kind} ({container})",
        envelope=Envelope(proofs=(report,)),
        depth=depth,
        nested_verifier=nested_verifier,
    )

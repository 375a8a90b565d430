"""Public keys as credentials carry them (Multikey, JWK, PEM) and the algorithms each allows."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

import base58
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from service.verify.errors import KeyResolutionError

PublicKey = Ed25519PublicKey | ec.EllipticCurvePublicKey | rsa.RSAPublicKey

# Multicodec varint prefixes (https://github.com/multiformats/multicodec/blob/master/table.csv).
ED25519_PUB = b"\xed\x01"
P256_PUB = b"\x80\x24"
P384_PUB = b"\x81\x24"

# The only JOSE algorithms Skillproof accepts, per key type: a token can never choose a weaker
# family (HS*, none) or a different one than its key (RS256 for an EC key).
ALGORITHMS_BY_KEY = {
    "Ed25519": frozenset({"EdDSA", "Ed25519"}),
    "P-256": frozenset({"ES256"}),
    "RSA": frozenset({"RS256"}),
}
MIN_RSA_BITS = 2048


def b64url_decode(value: str) -> bytes:
    """base64url without padding (JOSE, multibase `u`); raises ValueError on bad input."""
    if not isinstance(value, str):
        raise ValueError("expected a base64url string")
    padded = value + "=" * (-len(value) % 4)
    return base64.b64decode(padded.encode("ascii"), altchars=b"-_", validate=True)


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def multibase_decode(value: str) -> bytes:
    """Decode the multibase encodings credentials use: `z` base58btc and `u` base64url."""
    if not isinstance(value, str) or len(value) < 2:
        raise ValueError("not a multibase string")
    prefix, body = value[0], value[1:]
    if prefix == "z":
        try:
            return bytes(base58.b58decode(body))
        except ValueError as exc:
            raise ValueError(f"invalid base58btc: {exc}") from exc
    if prefix == "u":
        return b64url_decode(body)
    raise ValueError(f"unsupported multibase prefix {prefix!r}")


def multibase_encode_base58(data: bytes) -> str:
    return "z" + base58.b58encode(data).decode("ascii")


def key_type(key: PublicKey) -> str:
    """'Ed25519', 'P-256' or 'RSA'; other curves are refused where keys are decoded."""
    if isinstance(key, Ed25519PublicKey):
        return "Ed25519"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "P-256" if isinstance(key.curve, ec.SECP256R1) else key.curve.name
    return "RSA"


def multikey_to_public_key(multibase: str) -> PublicKey:
    """A Multikey / did:key public key: multibase(multicodec prefix + raw key)."""
    try:
        raw = multibase_decode(multibase)
    except ValueError as exc:
        raise KeyResolutionError(
            f"public key {multibase[:20]}... is not valid multibase: {exc}"
        ) from exc
    if raw.startswith(ED25519_PUB) and len(raw) == 34:
        return Ed25519PublicKey.from_public_bytes(raw[2:])
    if raw.startswith(P256_PUB) and len(raw) in (35, 67):
        try:
            return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw[2:])
        except ValueError as exc:
            raise KeyResolutionError(f"invalid P-256 public key: {exc}") from exc
    raise KeyResolutionError(
        "unsupported Multikey type (only Ed25519 0xed01 and P-256 0x1200 keys are accepted)"
    )


def ed25519_to_multikey(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return multibase_encode_base58(ED25519_PUB + raw)


def base58_ed25519_to_public_key(value: str) -> PublicKey:
    """Ed25519VerificationKey2018 `publicKeyBase58` (raw 32 bytes, no multicodec prefix)."""
    try:
        raw = bytes(base58.b58decode(value))
    except ValueError as exc:
        raise KeyResolutionError(f"publicKeyBase58 is not base58: {exc}") from exc
    if len(raw) != 32:
        raise KeyResolutionError("publicKeyBase58 is not a 32-byte Ed25519 key")
    return Ed25519PublicKey.from_public_bytes(raw)


def jwk_to_public_key(jwk: Mapping[str, Any]) -> PublicKey:
    """A public JWK (OKP Ed25519, EC P-256, RSA >= 2048 bits); private members are refused."""
    if not isinstance(jwk, Mapping):
        raise KeyResolutionError("publicKeyJwk is not a JSON object")
    if "d" in jwk:
        raise KeyResolutionError("JWK contains private key material; refusing to use it")
    kty = jwk.get("kty")
    try:
        if kty == "OKP" and jwk.get("crv") == "Ed25519":
            return Ed25519PublicKey.from_public_bytes(b64url_decode(str(jwk["x"])))
        if kty == "EC" and jwk.get("crv") == "P-256":
            x = int.from_bytes(b64url_decode(str(jwk["x"])), "big")
            y = int.from_bytes(b64url_decode(str(jwk["y"])), "big")
            return ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
        if kty == "RSA":
            n = int.from_bytes(b64url_decode(str(jwk["n"])), "big")
            e = int.from_bytes(b64url_decode(str(jwk["e"])), "big")
            key = rsa.RSAPublicNumbers(e, n).public_key()
            _check_rsa(key)
            return key
    except (KeyError, ValueError, TypeError) as exc:
        raise KeyResolutionError(f"invalid {kty} JWK: {exc}") from exc
    raise KeyResolutionError(f"unsupported JWK (kty={kty!r}, crv={jwk.get('crv')!r})")


def pem_to_public_key(pem: str) -> PublicKey:
    """A PEM SubjectPublicKeyInfo (OB 2.0 CryptographicKey.publicKeyPem)."""
    try:
        key = serialization.load_pem_public_key(pem.encode("ascii"))
    except (ValueError, TypeError, UnicodeEncodeError) as exc:
        raise KeyResolutionError(f"publicKeyPem is not a PEM public key: {exc}") from exc
    if isinstance(key, rsa.RSAPublicKey):
        _check_rsa(key)
        return key
    if isinstance(key, Ed25519PublicKey):
        return key
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return key
    raise KeyResolutionError("unsupported PEM key type (Ed25519, P-256 or RSA only)")


def _check_rsa(key: rsa.RSAPublicKey) -> None:
    if key.key_size < MIN_RSA_BITS:
        raise KeyResolutionError(f"RSA key of {key.key_size} bits is too short")


def public_key_to_jwk(key: PublicKey) -> dict[str, str]:
    """The public JWK of a key (used to compare a token's header key with the issuer's keys)."""
    if isinstance(key, Ed25519PublicKey):
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(raw)}
    if isinstance(key, ec.EllipticCurvePublicKey):
        numbers = key.public_numbers()
        size = (key.curve.key_size + 7) // 8
        return {
            "kty": "EC",
            "crv": "P-256",
            "x": b64url_encode(numbers.x.to_bytes(size, "big")),
            "y": b64url_encode(numbers.y.to_bytes(size, "big")),
        }
    rsa_numbers = key.public_numbers()
    return {
        "kty": "RSA",
        "n": b64url_encode(rsa_numbers.n.to_bytes((rsa_numbers.n.bit_length() + 7) // 8, "big")),
        "e": b64url_encode(rsa_numbers.e.to_bytes((rsa_numbers.e.bit_length() + 7) // 8, "big")),
    }


def same_key(a: PublicKey, b: PublicKey) -> bool:
    der = serialization.Encoding.DER
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    return a.public_bytes(der, spki) == b.public_bytes(der, spki)

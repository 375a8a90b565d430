"""Secret redaction for anything a connector logs, raises or stores."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from urllib.parse import quote

__all__ = ["REDACTED", "redact"]

REDACTED = "[redacted]"

# Shorter "secrets" would blank out ordinary words; such values are rejected elsewhere anyway.
_MIN_SECRET_LENGTH = 4

_AUTHORIZATION = re.compile(r"""(?i)("?\b(?:proxy-)?authorization"?\s*[:=]\s*"?)[^"\r\n]+""")
_SCHEME_TOKEN = re.compile(r"(?i)\b(bearer|basic|digest)(\s+)[A-Za-z0-9._~+/-]{12,}=*")
_CREDENTIAL_FIELD = re.compile(
    r"""(?i)("?\b[\w-]*(?:api[_-]?key|token|secret|password|passwd|signature)"?\s*[:=]\s*"?)"""
    r"""[^"&\s,;}\]]+"""
)


def _variants(secret: str) -> set[str]:
    """The forms a secret takes on the wire: as is, URL-quoted and inside Basic auth."""
    raw = secret.encode()
    return {
        secret,
        quote(secret, safe=""),
        base64.b64encode(raw).decode(),
        base64.b64encode(raw + b":").decode(),
        base64.b64encode(b":" + raw).decode(),
    }


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Return `text` without the given secret values, Authorization headers or token fields."""
    variants: set[str] = set()
    for secret in secrets:
        if len(secret) >= _MIN_SECRET_LENGTH:
            variants |= _variants(secret)
    # Longest first, so a secret's base64 form is not half-replaced by a shorter variant.
    for variant in sorted(variants, key=len, reverse=True):
        text = text.replace(variant, REDACTED)
    text = _AUTHORIZATION.sub(lambda m: m.group(1) + REDACTED, text)
    text = _SCHEME_TOKEN.sub(lambda m: m.group(1) + m.group(2) + REDACTED, text)
    return _CREDENTIAL_FIELD.sub(lambda m: m.group(1) + REDACTED, text)

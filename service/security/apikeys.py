"""API keys: 160 random bits shown once, stored as an HMAC keyed with the service secret."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

KEY_PREFIX = "sp_"
PREFIX_CHARS = 8
# What `generate` can produce (token_urlsafe's alphabet); anything else is not a key and is
# refused before it reaches the database.
_KEY_SHAPE = re.compile(r"sp_[A-Za-z0-9_-]{16,64}")


@dataclass(frozen=True, kw_only=True, slots=True)
class NewApiKey:
    token: str  # shown once to the admin, never stored
    prefix: str
    key_hash: str


def hash_token(token: str, *, pepper: str) -> str:
    return hmac.new(pepper.encode(), token.encode(), hashlib.sha256).hexdigest()


def generate(*, pepper: str) -> NewApiKey:
    body = secrets.token_urlsafe(20)
    token = f"{KEY_PREFIX}{body}"
    return NewApiKey(
        token=token,
        prefix=token[: len(KEY_PREFIX) + PREFIX_CHARS],
        key_hash=hash_token(token, pepper=pepper),
    )


def prefix_of(token: str) -> str | None:
    if not _KEY_SHAPE.fullmatch(token):
        return None
    return token[: len(KEY_PREFIX) + PREFIX_CHARS]


def matches(token: str, key_hash: str, *, pepper: str) -> bool:
    return hmac.compare_digest(hash_token(token, pepper=pepper), key_hash)

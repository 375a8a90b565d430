"""Ingest: recognise what a submitted credential is before its exact bytes are stored.

Nothing is interpreted here beyond the envelope (JSON object, compact JWS, PNG, SVG, URL);
verification decides what the content is worth. What cannot be a credential is refused with a
message that says what was expected, and nothing is stored.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass

from service.errors import BadRequest, PayloadTooLarge, UnsupportedCredential
from service.verify.errors import MalformedCredential
from service.verify.parse import parse_input

JSON = "application/json"
JWT = "application/jwt"
PNG = "image/png"
SVG = "image/svg+xml"
URI_LIST = "text/uri-list"

_COMPACT_JWS = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$")
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
EXPECTED = (
    "expected a W3C Verifiable Credential or Open Badge (JSON with @context), a compact JWT,"
    ' a baked PNG or SVG badge, or {"url": "https://..."} pointing to one'
)


@dataclass(frozen=True, kw_only=True, slots=True)
class Submission:
    media_type: str
    content: bytes  # exactly what will be stored; for URL submissions, the URL itself
    url: str | None = None


def recognise(body: bytes, *, declared: str | None, max_bytes: int) -> Submission:
    """Classify a submitted body or raise a 4xx ServiceError explaining what is wrong."""
    if len(body) > max_bytes:
        raise PayloadTooLarge(f"credential is {len(body)} bytes; the limit is {max_bytes} bytes")
    if not body.strip():
        raise BadRequest(f"empty body: {EXPECTED}")
    if body.startswith(_PNG_MAGIC):
        return _baked(body, PNG, max_bytes)
    head = body.lstrip()[:512].lower()
    if head.startswith(b"<svg") or (head.startswith(b"<?xml") and b"<svg" in body[:4096].lower()):
        return _baked(body, SVG, max_bytes)
    if head.startswith((b"{", b"[")) or (declared or "").endswith("json"):
        return _recognise_json(body)
    text = _text(body).strip()
    if _COMPACT_JWS.match(text):
        _check_jws_header(text)
        return Submission(media_type=JWT, content=text.encode())
    if text.startswith(("http://", "https://")) and "\n" not in text:
        return Submission(media_type=URI_LIST, content=text.encode(), url=text)
    raise UnsupportedCredential(f"unrecognised credential format: {EXPECTED}")


def _baked(body: bytes, media_type: str, max_bytes: int) -> Submission:
    """An image counts only with a badge baked into it; a plain picture is not a credential."""
    try:
        parse_input(body, media_type=media_type, max_bytes=max_bytes)
    except MalformedCredential as exc:
        kind = "PNG" if media_type == PNG else "SVG"
        raise UnsupportedCredential(f"{kind} is not a baked badge ({exc}): {EXPECTED}") from exc
    return Submission(media_type=media_type, content=body)


def _recognise_json(body: bytes) -> Submission:
    try:
        document = json.loads(_text(body))
    except (json.JSONDecodeError, RecursionError) as exc:
        raise BadRequest(f"body is not valid JSON ({exc}): {EXPECTED}") from exc
    if not isinstance(document, dict):
        raise UnsupportedCredential(f"JSON body must be an object: {EXPECTED}")
    if set(document) == {"url"}:
        url = document["url"]
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise BadRequest('"url" must be an http(s) URL')
        return Submission(media_type=URI_LIST, content=url.encode(), url=url)
    if set(document) == {"jwt"} and isinstance(document["jwt"], str):
        return recognise(document["jwt"].encode(), declared=None, max_bytes=len(body))
    if "@context" not in document:
        raise UnsupportedCredential(f"JSON has no @context, so it is not a credential: {EXPECTED}")
    return Submission(media_type=JSON, content=body)


def _text(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"body is not UTF-8 text: {EXPECTED}") from exc


def _check_jws_header(token: str) -> None:
    header_b64 = token.split(".", 1)[0]
    try:
        header = json.loads(base64.urlsafe_b64decode(header_b64 + "=" * (-len(header_b64) % 4)))
    except (binascii.Error, ValueError) as exc:
        raise UnsupportedCredential(f"token header is not base64url JSON: {EXPECTED}") from exc
    if not isinstance(header, dict) or "alg" not in header:
        raise UnsupportedCredential(f"token header has no alg: {EXPECTED}")

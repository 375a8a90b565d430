"""Input sniffing: JSON, compact JWS/JWT, JWS JSON (JAdES), baked PNG (iTXt) and SVG badges.

Never raises anything but MalformedCredential, whatever the bytes: size, depth and
decompression are capped before anything is parsed.
"""

from __future__ import annotations

import base64
import json
import re
import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from xml.etree.ElementTree import Element

from defusedxml import ElementTree as SafeElementTree
from defusedxml.common import DefusedXmlException

from service.verify.errors import MalformedCredential

MAX_DEPTH = 48
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# OB 2.0 bakes under "openbadges", OB 3.0 under "openbadgecredential".
BAKED_KEYWORDS = (b"openbadges", b"openbadgecredential")
_COMPACT_JWS = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*$")


class InputKind(StrEnum):
    JSON = "json"  # a JSON credential or assertion
    JWT = "jwt"  # a compact JWS (VC-JWT, OB 2.0 signed assertion)
    JWS_JSON = "jws-json"  # JWS JSON serialisation (JAdES-sealed EDC)
    URL = "url"  # a pointer to a hosted credential


@dataclass(frozen=True, kw_only=True, slots=True)
class ParsedInput:
    kind: InputKind
    container: str  # json | text | png | svg
    document: dict[str, Any] | None = None
    token: str | None = None
    url: str | None = None
    signatures: tuple[dict[str, Any], ...] = ()


def parse_input(
    raw: bytes | str | Mapping[str, Any], *, media_type: str | None = None, max_bytes: int
) -> ParsedInput:
    """Work out what `raw` is and decode it (without verifying anything)."""
    if isinstance(raw, Mapping):
        _check_depth(raw)
        return _from_json_value(dict(raw), container="json")
    if isinstance(raw, str):
        data = raw.encode("utf-8", errors="strict")
    elif isinstance(raw, bytes | bytearray | memoryview):
        data = bytes(raw)
    else:
        raise MalformedCredential(f"unsupported input type {type(raw).__name__}")
    if len(data) > max_bytes:
        raise MalformedCredential(f"input is {len(data)} bytes, more than the {max_bytes} allowed")
    if not data.strip():
        raise MalformedCredential("input is empty")
    media = (media_type or "").split(";")[0].strip().lower()
    if data.startswith(PNG_SIGNATURE) or media == "image/png":
        return _from_text(_png_payload(data, max_bytes), container="png")
    head = data.lstrip()[:512].lower()
    if media == "image/svg+xml" or (head.startswith(b"<") and b"<svg" in data[:4096].lower()):
        return _svg(data)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise MalformedCredential("input is not UTF-8 text, a PNG or an SVG") from exc
    return _from_text(text, container="text" if media not in ("application/json",) else "json")


def _from_text(text: str, *, container: str) -> ParsedInput:
    stripped = text.strip()
    if stripped.startswith("{"):
        return _from_json_value(
            _load_json(stripped), container="json" if container == "text" else container
        )
    if _COMPACT_JWS.match(stripped):
        return ParsedInput(kind=InputKind.JWT, container=container, token=stripped)
    if (
        stripped.startswith(("https://", "http://"))
        and len(stripped) < 2048
        and " " not in stripped
    ):
        return ParsedInput(kind=InputKind.URL, container=container, url=stripped)
    raise MalformedCredential(
        "not a credential: expected JSON, a compact JWT, a baked PNG/SVG or a URL"
    )


def _load_json(text: str) -> Any:
    def refuse_constant(name: str) -> Any:
        raise MalformedCredential(f"JSON contains {name}, which is not valid JSON")

    try:
        value = json.loads(text, parse_constant=refuse_constant)
    except RecursionError as exc:
        raise MalformedCredential("JSON is nested too deeply") from exc
    except ValueError as exc:
        raise MalformedCredential(f"not valid JSON: {exc}") from exc
    _check_depth(value)
    return value


def _check_depth(value: Any) -> None:
    # Only containers go on the stack: a credential is mostly strings, and the Mapping test
    # (an ABC) is slow on them. Children of a container at MAX_DEPTH would be too deep.
    stack: list[tuple[Any, int]] = [(value, 0)] if _is_container(value) else []
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict | Mapping) else item
        if not children:
            continue
        if depth >= MAX_DEPTH:
            raise MalformedCredential(f"JSON is nested more than {MAX_DEPTH} levels deep")
        for child in children:
            if not isinstance(child, _SCALARS) and _is_container(child):
                stack.append((child, depth + 1))


_SCALARS = (str, int, float, type(None))


def _is_container(value: Any) -> bool:
    return isinstance(value, dict | list | Mapping)


def _from_json_value(value: Any, *, container: str) -> ParsedInput:
    if not isinstance(value, dict):
        raise MalformedCredential("JSON input is not an object")
    if isinstance(value.get("payload"), str) and isinstance(value.get("signatures"), list):
        return _jws_json(value, container)
    return ParsedInput(kind=InputKind.JSON, container=container, document=value)


def _jws_json(value: dict[str, Any], container: str) -> ParsedInput:
    """JWS JSON serialisation; with b64=false (JAdES) the payload is the JSON text itself."""
    signatures = tuple(s for s in value["signatures"] if isinstance(s, dict))
    unencoded = False
    for signature in signatures:
        protected = signature.get("protected")
        if isinstance(protected, str):
            try:
                header = json.loads(
                    base64.urlsafe_b64decode(protected + "=" * (-len(protected) % 4))
                )
            except ValueError:
                continue
            if isinstance(header, dict) and header.get("b64") is False:
                unencoded = True
    payload_text = value["payload"]
    if not unencoded:
        try:
            payload_text = base64.urlsafe_b64decode(
                payload_text + "=" * (-len(payload_text) % 4)
            ).decode("utf-8")
        except ValueError as exc:
            raise MalformedCredential("JWS JSON payload is not base64url") from exc
    document = _load_json(payload_text)
    if not isinstance(document, dict):
        raise MalformedCredential("JWS JSON payload is not a JSON object")
    return ParsedInput(
        kind=InputKind.JWS_JSON, container=container, document=document, signatures=signatures
    )


def _png_payload(data: bytes, max_bytes: int) -> str:
    """The text of the baked iTXt (or legacy tEXt) chunk of an Open Badges PNG."""
    if not data.startswith(PNG_SIGNATURE):
        raise MalformedCredential("not a PNG file")
    offset = len(PNG_SIGNATURE)
    while offset + 8 <= len(data):
        length, chunk_type = struct.unpack(">I4s", data[offset : offset + 8])
        body = data[offset + 8 : offset + 8 + length]
        if len(body) != length:
            break
        if chunk_type == b"iTXt":
            text = _itxt_text(body, max_bytes)
            if text is not None:
                return text
        elif chunk_type == b"tEXt":
            keyword, _, text_bytes = body.partition(b"\x00")
            if keyword in BAKED_KEYWORDS:
                return text_bytes.decode("latin-1")
        elif chunk_type == b"IEND":
            break
        offset += 12 + length
    raise MalformedCredential("PNG has no Open Badges iTXt chunk (keyword openbadges)")


def _itxt_text(body: bytes, max_bytes: int) -> str | None:
    keyword, _, rest = body.partition(b"\x00")
    if keyword not in BAKED_KEYWORDS or len(rest) < 2:
        return None
    compressed, _method = rest[0], rest[1]
    _language, _, rest = rest[2:].partition(b"\x00")
    _translated, _, text = rest.partition(b"\x00")
    if compressed:
        inflater = zlib.decompressobj()
        try:
            text = inflater.decompress(text, max_bytes)
        except zlib.error as exc:
            raise MalformedCredential("PNG iTXt chunk is not valid zlib data") from exc
        if inflater.unconsumed_tail:
            raise MalformedCredential("PNG iTXt chunk decompresses past the size limit")
    try:
        return text.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedCredential("PNG iTXt chunk is not UTF-8") from exc


def _svg(data: bytes) -> ParsedInput:
    try:
        root = SafeElementTree.fromstring(data, forbid_dtd=True)
    except (DefusedXmlException, SafeElementTree.ParseError, ValueError) as exc:
        raise MalformedCredential(f"SVG could not be parsed safely: {exc}") from exc
    for element in root.iter():
        if _is_badge_element(element):
            verify = element.get("verify")
            text = (element.text or "").strip()
            if text:
                return _from_text(text, container="svg")
            if verify:
                return _from_text(verify, container="svg")
    raise MalformedCredential("SVG has no <openbadges:assertion> or <openbadges:credential>")


def _is_badge_element(element: Element) -> bool:
    tag = element.tag if isinstance(element.tag, str) else ""
    namespace, _, local = tag[1:].partition("}") if tag.startswith("{") else ("", "", tag)
    return local in ("assertion", "credential") and (
        "openbadges" in namespace or "imsglobal" in namespace
    )

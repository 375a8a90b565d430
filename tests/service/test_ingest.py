"""Submitted bodies are recognised or refused with a message that says what was expected."""

from __future__ import annotations

import base64
import json

import pytest

from service.errors import BadRequest, PayloadTooLarge, UnsupportedCredential
from service.ingest import recognise
from tests.service.support import baked_png

LIMIT = 1000


def test_json_credential_is_kept_byte_for_byte() -> None:
    body = (
        b'{"@context": ["https://www.w3.org/ns/credentials/v2"], "type": ["VerifiableCredential"]}'
    )
    submission = recognise(body, declared="application/json", max_bytes=LIMIT)
    assert submission.media_type == "application/json"
    assert submission.content == body


def test_compact_jwt_is_recognised() -> None:
    header = base64.urlsafe_b64encode(json.dumps({"alg": "EdDSA"}).encode()).rstrip(b"=")
    token = header + b".eyJ2YyI6e319.c2ln"
    assert recognise(token, declared="text/plain", max_bytes=LIMIT).media_type == "application/jwt"


def test_url_submission() -> None:
    submission = recognise(
        b'{"url": "https://badges.example/a/1"}', declared="application/json", max_bytes=LIMIT
    )
    assert submission.url == "https://badges.example/a/1"


CREDENTIAL = (
    '{"@context": ["https://www.w3.org/ns/credentials/v2"], "type": ["VerifiableCredential"]}'
)


def test_baked_png_and_svg_are_recognised() -> None:
    baked = baked_png((b"iTXt", b"openbadges\x00\x00\x00\x00\x00" + CREDENTIAL.encode()))
    assert recognise(baked, declared=None, max_bytes=LIMIT).content == baked
    svg = (
        "<svg xmlns='http://www.w3.org/2000/svg' xmlns:openbadges='https://purl.imsglobal.org/ob/v3p0'>"
        f"<openbadges:credential><![CDATA[{CREDENTIAL}]]></openbadges:credential></svg>"
    ).encode()
    assert recognise(svg, declared=None, max_bytes=LIMIT).media_type == "image/svg+xml"


@pytest.mark.parametrize(
    "body",
    [
        baked_png((b"tEXt", b"Comment\x00just a picture")),
        b"<svg xmlns='http://www.w3.org/2000/svg'/>",
    ],
    ids=["plain-png", "plain-svg"],
)
def test_an_image_without_a_baked_badge_is_not_a_credential(body: bytes) -> None:
    with pytest.raises(UnsupportedCredential, match="not a baked badge"):
        recognise(body, declared=None, max_bytes=LIMIT)


@pytest.mark.parametrize(
    ("body", "error", "phrase"),
    [
        (b"not json at all {", UnsupportedCredential, "unrecognised"),
        (b'{"broken": ', BadRequest, "not valid JSON"),
        (b'{"name": "no context"}', UnsupportedCredential, "no @context"),
        (b"[1, 2, 3]", UnsupportedCredential, "must be an object"),
        (b"", BadRequest, "empty"),
        (b'{"url": "file:///etc/passwd"}', BadRequest, "http(s)"),
        (b"\xff\xfe\x00garbage", BadRequest, "UTF-8"),
    ],
)
def test_refusals_explain_themselves(body: bytes, error: type[Exception], phrase: str) -> None:
    with pytest.raises(error) as caught:
        recognise(body, declared=None, max_bytes=LIMIT)
    assert phrase in str(caught.value)


def test_too_large() -> None:
    with pytest.raises(PayloadTooLarge, match="limit"):
        recognise(b"{" + b" " * LIMIT + b"}", declared="application/json", max_bytes=LIMIT)

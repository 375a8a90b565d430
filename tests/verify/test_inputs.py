"""Every way a credential arrives: JSON (bytes, text, parsed), JWT, baked PNG and SVG, a URL.

And the hostile ones: not JSON, absurdly deep JSON, oversized input, poison blank-node graphs.
Each must end in a result (never an exception), quickly, with a detail a person can read.
"""

from __future__ import annotations

import json
import struct
import zlib
from datetime import UTC, datetime
from typing import Any

import pytest
from joserfc import jws
from joserfc.jwk import OKPKey

from service.verify import CheckId, Holder, Outcome, Verdict, Verifier
from service.verify.contexts import ContextStore
from service.verify.jsonld import CanonicalLimits
from tests.verify.builders import Issuer, eddsa_jwt
from tests.verify.conftest import NOW, FakeWeb

CANDIDATE = Holder(emails=("a@example.com",))


def png_with_itxt(text: str, *, keyword: bytes = b"openbadges", compressed: bool = False) -> bytes:
    """A 1x1 PNG with the credential baked in an iTXt chunk, built from scratch."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    payload = text.encode()
    if compressed:
        payload = zlib.compress(payload)
    itxt = (
        keyword + b"\x00" + (b"\x01" if compressed else b"\x00") + b"\x00" + b"\x00\x00" + payload
    )
    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"iTXt", itxt)
        + chunk(b"IDAT", idat)
        + chunk(b"IEND", b"")
    )


def svg_with_assertion(text: str) -> bytes:
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" xmlns:openbadges="http://openbadges.org"'
        ' width="10" height="10"><rect width="10" height="10"/>'
        f"<openbadges:assertion><![CDATA[{text}]]></openbadges:assertion></svg>"
    ).encode()


@pytest.fixture
def issuer(vendored_contexts: ContextStore) -> Issuer:
    return Issuer.fresh(vendored_contexts)


@pytest.mark.vendor_data
async def test_the_same_credential_in_every_json_form(issuer: Issuer, verifier: Verifier) -> None:
    credential = issuer.sign(issuer.ob3())
    text = json.dumps(credential)
    for raw in (credential, text, text.encode(), ("\ufeff" + text).encode("utf-8")):
        result = await verifier.verify(raw, now=NOW, holder=CANDIDATE)
        assert result.verdict is Verdict.VERIFIED, (type(raw), result.checks)


@pytest.mark.vendor_data
@pytest.mark.parametrize("compressed", [False, True])
async def test_baked_png(issuer: Issuer, verifier: Verifier, compressed: bool) -> None:
    credential = issuer.sign(issuer.ob3())
    image = png_with_itxt(json.dumps(credential), compressed=compressed)

    result = await verifier.verify(image, now=NOW, holder=CANDIDATE, media_type="image/png")

    assert result.verdict is Verdict.VERIFIED, result.checks
    parse = result.check(CheckId.PARSE)
    assert parse is not None
    assert "png" in parse.detail


@pytest.mark.vendor_data
async def test_baked_png_with_ob3_keyword(issuer: Issuer, verifier: Verifier) -> None:
    credential = issuer.sign(issuer.ob3())
    image = png_with_itxt(json.dumps(credential), keyword=b"openbadgecredential")

    result = await verifier.verify(image, now=NOW, holder=CANDIDATE)

    assert result.verdict is Verdict.VERIFIED, result.checks


@pytest.mark.vendor_data
async def test_baked_svg(issuer: Issuer, verifier: Verifier) -> None:
    credential = issuer.sign(issuer.ob3())

    result = await verifier.verify(svg_with_assertion(json.dumps(credential)), now=NOW)

    assert result.verdict is Verdict.VERIFIED, result.checks


async def test_svg_with_entity_expansion_is_refused(
    bundled_contexts: ContextStore, web: FakeWeb
) -> None:
    verifier = Verifier(contexts=bundled_contexts, fetcher=web.fetcher)
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
        b'<svg xmlns="http://www.w3.org/2000/svg">&lol2;</svg>'
    )

    result = await verifier.verify(bomb, now=NOW)

    assert result.verdict is Verdict.REJECTED
    assert result.failed_checks == ("parse",)


@pytest.mark.vendor_data
async def test_vc_jose_jwt_with_did_key_kid(issuer: Issuer, verifier: Verifier) -> None:
    token = eddsa_jwt(
        issuer, issuer.ob3(), header={"typ": "vc+jwt", "cty": "vc", "kid": issuer.method}
    )

    result = await verifier.verify(token, now=NOW, holder=CANDIDATE)

    assert result.verdict is Verdict.VERIFIED, result.checks
    proof = result.check(CheckId.PROOF)
    assert proof is not None
    assert "EdDSA" in proof.detail


@pytest.mark.vendor_data
async def test_ob3_vc_jwt_with_vc_claim_and_registered_claims(
    issuer: Issuer, verifier: Verifier
) -> None:
    credential = issuer.ob3()
    payload = {
        "vc": credential,
        "iss": issuer.did,
        "jti": credential["id"],
        "nbf": int(datetime(2026, 5, 1, tzinfo=UTC).timestamp()),
        "exp": int(datetime(2026, 5, 20, tzinfo=UTC).timestamp()),
    }
    token = eddsa_jwt(issuer, payload, header={"typ": "JWT", "kid": issuer.method})

    result = await verifier.verify(token, now=NOW, holder=CANDIDATE)

    # The signed `exp` claim ends validity even though the `vc` object has no validUntil.
    assert result.verdict is Verdict.REJECTED
    validity = result.check(CheckId.VALIDITY_PERIOD)
    assert validity is not None
    assert "expired" in validity.detail


@pytest.mark.vendor_data
async def test_vc_jwt_whose_iss_contradicts_the_issuer(issuer: Issuer, verifier: Verifier) -> None:
    credential = issuer.ob3()
    token = eddsa_jwt(
        issuer,
        {"vc": credential, "iss": "did:web:university.example"},
        header={"kid": issuer.method},
    )

    result = await verifier.verify(token, now=NOW)

    assert result.verdict is Verdict.REJECTED
    proof = result.check(CheckId.PROOF)
    assert proof is not None
    assert "iss" in proof.detail


@pytest.mark.vendor_data
@pytest.mark.parametrize("alg", ["none", "HS256"])
async def test_vc_jwt_with_refused_algorithm(issuer: Issuer, verifier: Verifier, alg: str) -> None:
    good = eddsa_jwt(issuer, issuer.ob3(), header={"kid": issuer.method})
    _, payload, signature = good.split(".")
    header = jws_header({"alg": alg, "kid": issuer.method})
    token = f"{header}.{payload}." + ("" if alg == "none" else signature)

    result = await verifier.verify(token, now=NOW)

    assert result.verdict is Verdict.REJECTED
    proof = result.check(CheckId.PROOF)
    assert proof is not None
    assert f"alg '{alg}' refused" in proof.detail


def jws_header(header: dict[str, Any]) -> str:
    import base64

    return base64.urlsafe_b64encode(json.dumps(header).encode()).rstrip(b"=").decode()


@pytest.mark.vendor_data
async def test_self_asserted_header_key_is_not_the_issuer(
    issuer: Issuer, verifier: Verifier
) -> None:
    key = OKPKey.import_key(issuer.key)  # type: ignore[arg-type]
    public = key.as_dict(private=False)
    token = eddsa_jwt(issuer, issuer.ob3(), header={"jwk": public})

    result = await verifier.verify(token, now=NOW)

    # did:key publishes exactly that key, so a header jwk equal to it is bound.
    assert result.verdict is Verdict.VERIFIED, result.checks

    stranger = Issuer.fresh(issuer.contexts)
    stranger_key = OKPKey.import_key(stranger.key)  # type: ignore[arg-type]
    forged = eddsa_jwt(stranger, issuer.ob3(), header={"jwk": stranger_key.as_dict(private=False)})
    forged_result = await verifier.verify(forged, now=NOW)
    assert forged_result.verdict is not Verdict.VERIFIED
    binding = forged_result.check(CheckId.ISSUER_BINDING)
    assert binding is not None
    assert binding.outcome in (Outcome.UNKNOWN, Outcome.FAIL)


@pytest.mark.vendor_data
async def test_credential_by_url(issuer: Issuer, verifier: Verifier, web: FakeWeb) -> None:
    credential = issuer.sign(issuer.ob3())
    await web.publish("https://wallet.example/credentials/42", credential)

    by_url = await verifier.verify_url("https://wallet.example/credentials/42", now=NOW)
    as_text = await verifier.verify(b"https://wallet.example/credentials/42", now=NOW)

    assert by_url.verdict is Verdict.VERIFIED, by_url.checks
    assert as_text.verdict is Verdict.VERIFIED, as_text.checks


async def test_url_to_a_private_address_is_refused(
    bundled_contexts: ContextStore, web: FakeWeb
) -> None:
    from service.fetch import FetchPolicy, GuardedFetcher

    async with GuardedFetcher(FetchPolicy(), resolver=web.network.resolver) as strict:
        verifier = Verifier(contexts=bundled_contexts, fetcher=strict)
        result = await verifier.verify_url("https://10.0.0.1/credential.json", now=NOW)

    assert result.verdict is Verdict.REJECTED
    assert "refused" in result.checks[0].detail


# -- hostile input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b"\x00\x01\x02 not a credential",
        b"<html><body>hello</body></html>",
        "[1, 2, 3]",
        '{"@context": ',
        b"",
        "   ",
        '{"a": NaN}',
    ],
)
async def test_not_a_credential(bundled_contexts: ContextStore, web: FakeWeb, raw: Any) -> None:
    verifier = Verifier(contexts=bundled_contexts, fetcher=web.fetcher)

    result = await verifier.verify(raw, now=NOW)

    assert result.verdict is Verdict.REJECTED
    assert result.failed_checks == ("parse",)
    assert result.checks[0].detail


async def test_deeply_nested_json(bundled_contexts: ContextStore, web: FakeWeb) -> None:
    verifier = Verifier(contexts=bundled_contexts, fetcher=web.fetcher)

    deep_array = await verifier.verify("[" * 100_000 + "]" * 100_000, now=NOW)
    deep_object = await verifier.verify('{"a":' * 5000 + "1" + "}" * 5000, now=NOW)

    assert deep_array.verdict is Verdict.REJECTED
    assert deep_object.verdict is Verdict.REJECTED
    assert "nested" in deep_object.checks[0].detail, "refused by the depth guard, not a crash"


async def test_oversized_input(bundled_contexts: ContextStore, web: FakeWeb) -> None:
    verifier = Verifier(contexts=bundled_contexts, fetcher=web.fetcher, max_input_bytes=10_000)

    result = await verifier.verify(b"{" + b" " * 20_000 + b"}", now=NOW)

    assert result.verdict is Verdict.REJECTED
    assert "bytes" in result.checks[0].detail


def poison_graph(nodes: int) -> dict[str, Any]:
    """Blank nodes that all look alike and all link to each other (w3c/rdf-canon#120)."""
    return {
        "@context": [
            "https://www.w3.org/ns/credentials/v2",
            "https://www.w3.org/ns/credentials/examples/v2",
        ],
        "type": ["VerifiableCredential"],
        "issuer": "did:key:z6MkhWqdDBPojHA7cprTGTt5yHv5yUi1B8cnXn8ReLumkw6E",
        "credentialSubject": [
            {"id": f"_:n{i}", "knows": [{"id": f"_:n{j}"} for j in range(nodes) if j != i]}
            for i in range(nodes)
        ],
        "proof": {
            "type": "DataIntegrityProof",
            "cryptosuite": "eddsa-rdfc-2022",
            "proofPurpose": "assertionMethod",
            "verificationMethod": "did:key:z6MkhWqdDBPojHA7cprTGTt5yHv5yUi1B8cnXn8ReLumkw6E",
            "proofValue": "z" + "1" * 80,
        },
    }


@pytest.mark.vendor_data
async def test_poison_graph_is_refused_quickly(
    vendored_contexts: ContextStore, web: FakeWeb
) -> None:
    verifier = Verifier(contexts=vendored_contexts, fetcher=web.fetcher)

    result = await verifier.verify(poison_graph(12), now=NOW)

    assert result.verdict is Verdict.REJECTED
    context = result.check(CheckId.CONTEXT)
    assert context is not None
    assert context.outcome is Outcome.FAIL
    # The canonicalisation budget stopped it (the detail says so), rather than a run to the end.
    assert "poison" in context.detail or "too costly" in context.detail


@pytest.mark.vendor_data
async def test_too_many_blank_nodes_is_refused(
    vendored_contexts: ContextStore, web: FakeWeb
) -> None:
    verifier = Verifier(
        contexts=vendored_contexts,
        fetcher=web.fetcher,
        limits=CanonicalLimits(max_blank_nodes=100),
    )
    document = poison_graph(2)
    document["credentialSubject"] = [{"name": f"n{i}"} for i in range(500)]

    result = await verifier.verify(document, now=NOW)

    assert result.verdict is Verdict.REJECTED
    context = result.check(CheckId.CONTEXT)
    assert context is not None
    assert "blank nodes" in context.detail


@pytest.mark.vendor_data
async def test_es256_jwt_from_a_did_jwk_issuer(
    vendored_contexts: ContextStore, verifier: Verifier
) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec
    from joserfc.jwk import ECKey

    from service.verify.keys import b64url_encode, public_key_to_jwk

    private = ec.generate_private_key(ec.SECP256R1())
    did = "did:jwk:" + b64url_encode(json.dumps(public_key_to_jwk(private.public_key())).encode())
    issuer = Issuer.fresh(vendored_contexts)
    issuer.did = did
    key = ECKey.import_key(private)  # type: ignore[arg-type]
    token = jws.serialize_compact(
        {"alg": "ES256", "kid": f"{did}#0", "typ": "vc+jwt"},
        json.dumps(issuer.ob3()).encode(),
        key,
        algorithms=["ES256"],
    )
    confused = jws.serialize_compact(
        {"alg": "ES256", "kid": f"{did}#0"},
        json.dumps(issuer.ob3()).encode(),
        ECKey.generate_key("P-256"),
        algorithms=["ES256"],
    )

    result = await verifier.verify(token, now=NOW, holder=CANDIDATE)
    wrong_key = await verifier.verify(confused, now=NOW)

    assert result.verdict is Verdict.VERIFIED, result.checks
    assert wrong_key.verdict is Verdict.REJECTED

"""Open Badges 2.0 (hosted and signed) and the CLR 2.0 VC-JWT from the vendor manifest's extras.

https://example.org/X is served from ob20/assets/X over loopback HTTPS (http:// references in
the fixtures are tried over https first, as the verifier does in production).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path

import pytest

from service.verify import CheckId, Holder, Outcome, Verdict, Verifier
from tests.verify.conftest import NOW, FakeWeb

pytestmark = pytest.mark.vendor_data

OB20 = "1edtech-digital-credentials-public-validator/inspector-vc/src/test/resources/ob20"
ASSERTION_URL = "https://example.org/beths-robotics-badge.json"


def ob20(vendor_data: Path) -> Path:
    return vendor_data / "credentials" / OB20


async def serve_assets(web: FakeWeb, vendor_data: Path) -> None:
    for file in sorted((ob20(vendor_data) / "assets").iterdir()):
        await web.publish(f"https://example.org/{file.name}", file.read_bytes())


def outcome(result: object, check_id: CheckId) -> Outcome:
    check = result.check(check_id)  # type: ignore[attr-defined]
    assert check is not None, f"no {check_id}: {result}"
    return check.outcome


@pytest.mark.parametrize(
    ("name", "verdict"),
    [("simple.jwt", Verdict.VERIFIED), ("simple-not-revoked.jwt", Verdict.VERIFIED)],
)
async def test_signed_assertions(
    vendor_data: Path, web: FakeWeb, verifier: Verifier, name: str, verdict: Verdict
) -> None:
    await serve_assets(web, vendor_data)
    token = (ob20(vendor_data) / name).read_text().strip()

    result = await verifier.verify(token, now=NOW)

    assert result.verdict is verdict, result.checks
    assert result.format == "ob2-signed"
    assert outcome(result, CheckId.PROOF) is Outcome.PASS
    [achievement] = result.achievements
    assert achievement.name


async def test_signed_and_revoked(vendor_data: Path, web: FakeWeb, verifier: Verifier) -> None:
    await serve_assets(web, vendor_data)
    token = (ob20(vendor_data) / "simple-revoked.jwt").read_text().strip()

    result = await verifier.verify(token, now=NOW)

    assert result.verdict is Verdict.REJECTED
    status = result.check(CheckId.STATUS)
    assert status is not None
    assert status.outcome is Outcome.FAIL
    assert "revoked" in status.detail


async def test_recipient_matches_only_the_right_email(
    vendor_data: Path, web: FakeWeb, verifier: Verifier
) -> None:
    await serve_assets(web, vendor_data)
    token = (ob20(vendor_data) / "simple.jwt").read_text().strip()

    right = await verifier.verify(token, now=NOW, holder=Holder(emails=("nobody@example.org",)))
    wrong = await verifier.verify(token, now=NOW, holder=Holder(emails=("else@example.org",)))

    assert right.verdict is Verdict.VERIFIED
    assert outcome(right, CheckId.HOLDER) is Outcome.PASS
    assert wrong.verdict is Verdict.REJECTED
    assert outcome(wrong, CheckId.HOLDER) is Outcome.FAIL


async def test_algorithm_confusion_hs256_with_the_public_pem(
    vendor_data: Path, web: FakeWeb, verifier: Verifier
) -> None:
    """The classic attack: sign HS256 with the issuer's *public* PEM as the HMAC secret."""
    await serve_assets(web, vendor_data)
    token = (ob20(vendor_data) / "simple.jwt").read_text().strip()
    _, payload, _ = token.split(".")
    pem = json.loads((ob20(vendor_data) / "assets" / "key1.json").read_text())["publicKeyPem"]
    header = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=").decode()
    signing_input = f"{header}.{payload}".encode()
    mac = hmac.new(pem.encode(), signing_input, hashlib.sha256).digest()
    forged = f"{header}.{payload}." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

    result = await verifier.verify(forged, now=NOW)

    assert result.verdict is Verdict.REJECTED
    assert outcome(result, CheckId.PROOF) is Outcome.FAIL
    assert result.achievements == ()


async def test_alg_none(vendor_data: Path, web: FakeWeb, verifier: Verifier) -> None:
    await serve_assets(web, vendor_data)
    token = (ob20(vendor_data) / "simple.jwt").read_text().strip()
    _, payload, _ = token.split(".")
    header = base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode()

    result = await verifier.verify(f"{header}.{payload}.", now=NOW)

    assert result.verdict is Verdict.REJECTED
    assert outcome(result, CheckId.PROOF) is Outcome.FAIL


@pytest.mark.parametrize(
    ("name", "verdict", "failing"),
    [
        ("basic-assertion.json", Verdict.VERIFIED, None),
        ("basic-assertion-expired.json", Verdict.REJECTED, CheckId.VALIDITY_PERIOD),
        ("basic-assertion-in-future.json", Verdict.REJECTED, CheckId.VALIDITY_PERIOD),
        ("basic-assertion-expired-before-issued.json", Verdict.REJECTED, CheckId.VALIDITY_PERIOD),
        (
            "basic-assertion-with-allowed-origins-invalid-starts-with.json",
            Verdict.REJECTED,
            CheckId.ISSUER_BINDING,
        ),
        ("basic-assertion-invalid-context.json", Verdict.REJECTED, CheckId.CONTEXT),
    ],
)
async def test_hosted_assertions(
    vendor_data: Path,
    web: FakeWeb,
    verifier: Verifier,
    name: str,
    verdict: Verdict,
    failing: CheckId | None,
) -> None:
    await serve_assets(web, vendor_data)
    raw = (ob20(vendor_data) / name).read_bytes()
    # The issuer publishes this very assertion at its id: only that copy is trusted.
    await web.publish(ASSERTION_URL, raw)

    result = await verifier.verify(raw, now=NOW)

    assert result.verdict is verdict, result.checks
    assert result.format == "ob2-hosted"
    if failing is not None:
        assert outcome(result, failing) is Outcome.FAIL, result.checks
    assert "/beths-robotics-badge.json" in web.sites["example.org"].paths


async def test_hosted_copy_wins_over_the_submitted_one(
    vendor_data: Path, web: FakeWeb, verifier: Verifier
) -> None:
    await serve_assets(web, vendor_data)
    published = json.loads((ob20(vendor_data) / "basic-assertion-expired.json").read_text())
    await web.publish(ASSERTION_URL, published)
    submitted = dict(published)
    submitted.pop("expires")  # the candidate "fixes" the expiry in their copy

    result = await verifier.verify(submitted, now=NOW)

    assert result.verdict is Verdict.REJECTED
    assert outcome(result, CheckId.VALIDITY_PERIOD) is Outcome.FAIL


async def test_hosted_assertion_gone_is_revoked(
    vendor_data: Path, web: FakeWeb, verifier: Verifier
) -> None:
    await serve_assets(web, vendor_data)
    site = await web.host("example.org")
    site.status("/beths-robotics-badge.json", 410)
    raw = (ob20(vendor_data) / "basic-assertion.json").read_bytes()

    result = await verifier.verify(raw, now=NOW)

    assert result.verdict is Verdict.REJECTED
    assert outcome(result, CheckId.STATUS) is Outcome.FAIL


async def test_hosted_issuer_unreachable_is_indeterminate(
    vendor_data: Path, web: FakeWeb, verifier: Verifier
) -> None:
    site = await web.host("example.org")
    site.status("/beths-robotics-badge.json", 503)
    raw = (ob20(vendor_data) / "basic-assertion.json").read_bytes()

    result = await verifier.verify(raw, now=NOW)

    assert result.verdict is Verdict.INDETERMINATE


async def test_clr_vc_jwt_with_a_self_asserted_header_key(
    vendor_data: Path, web: FakeWeb, verifier: Verifier
) -> None:
    """The signature verifies with the header jwk, but nothing binds that key to the issuer,
    and the token uses draft CLR/OB contexts that are not pinned: never verified."""
    path = "1edtech-digital-credentials-public-validator/inspector-clr/src/test/resources/clr20"
    token = (vendor_data / "credentials" / path / "simple.jwt").read_text().strip()

    result = await verifier.verify(token, now=NOW)

    assert result.verdict is Verdict.REJECTED
    proof = result.check(CheckId.PROOF)
    assert proof is not None
    assert "valid RS256 signature by a key the token carries itself" in proof.detail
    assert outcome(result, CheckId.CONTEXT) is Outcome.FAIL
    assert outcome(result, CheckId.ISSUER_BINDING) is not Outcome.PASS

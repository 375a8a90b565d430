"""Negative generators: every way of bending a signed credential must end in a rejection.

Built on the W3C vc-di-eddsa vectors, a DCC fixture and credentials issued at test time:
cryptosuite swap, verification-method swap, wrong proofPurpose, a changed claim, a proof
transplanted from another credential, terms added after signing and hostile contexts.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from service.verify import CheckId, Verdict, Verifier, VerifyPolicy
from service.verify.contexts import ContextStore
from tests.fakes.network import forbid_external_connections
from tests.verify.builders import Issuer
from tests.verify.conftest import NOW, FakeWeb

pytestmark = pytest.mark.vendor_data

RDFC_VECTOR = "w3c-vc-di-eddsa/TestVectors/eddsa-rdfc-2022/signedDataInt.json"
JCS_VECTOR = "w3c-vc-di-eddsa/TestVectors/eddsa-jcs-2022/signedJCS.json"
OB3_FIXTURE = (
    "digitalcredentials-vc-test-fixtures/verifiableCredentials/v2/dataIntegrityProof/didKey/"
    "legacyRegistry-noStatus-noExpiry-basicOBv3.json"
)
OTHER_KEY = "did:key:z6MkhWqdDBPojHA7cprTGTt5yHv5yUi1B8cnXn8ReLumkw6E"


def load(vendor_data: Path, path: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((vendor_data / "credentials" / path).read_text())
    return data


def detail(result: Any, check_id: CheckId) -> str:
    check = result.check(check_id)
    assert check is not None, f"no {check_id} check: {result.checks}"
    return str(check.outcome) + ": " + check.detail


async def test_untouched_vectors_verify(vendor_data: Path, verifier: Verifier) -> None:
    for path in (RDFC_VECTOR, JCS_VECTOR, OB3_FIXTURE):
        result = await verifier.verify(load(vendor_data, path), now=NOW)
        assert result.verdict is Verdict.VERIFIED, f"{path}: {result.checks}"


@pytest.mark.parametrize(
    ("path", "relabel"),
    [(RDFC_VECTOR, "eddsa-jcs-2022"), (JCS_VECTOR, "eddsa-rdfc-2022")],
)
async def test_cryptosuite_swap_is_rejected(
    vendor_data: Path, verifier: Verifier, path: str, relabel: str
) -> None:
    credential = load(vendor_data, path)
    credential["proof"]["cryptosuite"] = relabel

    result = await verifier.verify(credential, now=NOW)

    assert result.verdict is Verdict.REJECTED
    assert detail(result, CheckId.PROOF).startswith("fail"), result.checks


async def test_verification_method_swap_is_rejected(vendor_data: Path, verifier: Verifier) -> None:
    credential = load(vendor_data, RDFC_VECTOR)
    credential["proof"]["verificationMethod"] = f"{OTHER_KEY}#{OTHER_KEY.split(':')[2]}"

    result = await verifier.verify(credential, now=NOW)

    assert result.verdict is Verdict.REJECTED
    assert "does not match" in detail(result, CheckId.PROOF)


async def test_wrong_proof_purpose_is_rejected(vendor_data: Path, verifier: Verifier) -> None:
    credential = load(vendor_data, RDFC_VECTOR)
    credential["proof"]["proofPurpose"] = "authentication"

    result = await verifier.verify(credential, now=NOW)

    assert result.verdict is Verdict.REJECTED
    assert "proofPurpose" in detail(result, CheckId.PROOF)


async def test_changed_claim_breaks_the_digest(vendor_data: Path, verifier: Verifier) -> None:
    credential = load(vendor_data, RDFC_VECTOR)
    credential["credentialSubject"]["alumniOf"] = "The School of Forgeries"

    result = await verifier.verify(credential, now=NOW)

    assert result.verdict is Verdict.REJECTED
    assert "does not match" in detail(result, CheckId.PROOF)
    assert result.achievements == ()


async def test_changed_achievement_of_an_issued_credential(
    vendored_contexts: ContextStore, verifier: Verifier
) -> None:
    issuer = Issuer.fresh(vendored_contexts)
    credential = issuer.sign(issuer.ob3())
    credential["credentialSubject"]["achievement"]["name"] = "Senior Kubernetes Architect"

    result = await verifier.verify(credential, now=NOW)

    assert result.verdict is Verdict.REJECTED
    assert detail(result, CheckId.PROOF).startswith("fail")
    assert not any("Kubernetes" in a.name for a in result.achievements)


async def test_proof_transplanted_from_another_credential(
    vendored_contexts: ContextStore, verifier: Verifier
) -> None:
    issuer = Issuer.fresh(vendored_contexts)
    genuine = issuer.sign(issuer.ob3(email="a@example.com"))
    other = issuer.ob3(email="mallory@example.com")
    other["proof"] = copy.deepcopy(genuine["proof"])

    result = await verifier.verify(other, now=NOW)

    assert result.verdict is Verdict.REJECTED
    assert "does not match" in detail(result, CheckId.PROOF)


async def test_key_swapped_into_an_issued_proof(
    vendored_contexts: ContextStore, verifier: Verifier
) -> None:
    issuer, other = Issuer.fresh(vendored_contexts), Issuer.fresh(vendored_contexts)
    credential = issuer.sign(issuer.ob3())
    credential["proof"]["verificationMethod"] = other.method

    result = await verifier.verify(credential, now=NOW)

    assert result.verdict is Verdict.REJECTED
    assert detail(result, CheckId.PROOF).startswith("fail")


async def test_undefined_property_added_after_signing_is_rejected_by_name(
    vendor_data: Path, verifier: Verifier
) -> None:
    credential = load(vendor_data, OB3_FIXTURE)
    credential["credentialSubject"]["skillLevel"] = "expert"

    result = await verifier.verify(credential, now=NOW)

    assert result.verdict is Verdict.REJECTED
    context = detail(result, CheckId.CONTEXT)
    assert context.startswith("fail")
    assert "skillLevel" in context
    # The signature cannot see the dropped term: that is exactly why safe mode exists.
    assert detail(result, CheckId.PROOF).startswith("pass")
    assert "expert" not in json.dumps(result.to_json()["achievements"])


async def test_undefined_skills_never_reach_achievements_even_without_safe_mode(
    vendored_contexts: ContextStore, verifier: Verifier
) -> None:
    issuer = Issuer.fresh(vendored_contexts)
    credential = issuer.sign(issuer.ob3())
    credential["credentialSubject"]["achievement"]["skills"] = ["Kubernetes"]
    credential["credentialSubject"]["achievement"]["tag"] = ["python", "pandas"]

    strict = await verifier.verify(credential, now=NOW)
    lenient = await verifier.verify(credential, now=NOW, policy=VerifyPolicy(safe_mode=False))

    assert strict.verdict is Verdict.REJECTED
    assert "'skills'" in detail(strict, CheckId.CONTEXT)
    assert strict.achievements == ()
    assert detail(lenient, CheckId.CONTEXT).startswith("warn")
    assert lenient.verdict is Verdict.VERIFIED
    assert "Kubernetes" not in json.dumps(lenient.to_json()["achievements"])


async def test_issuance_date_in_a_v2_credential_is_undefined(
    vendor_data: Path, verifier: Verifier
) -> None:
    credential = load(vendor_data, OB3_FIXTURE)
    credential["issuanceDate"] = "2000-01-01T00:00:00Z"

    result = await verifier.verify(credential, now=NOW)

    assert result.verdict is Verdict.REJECTED
    assert "issuanceDate" in detail(result, CheckId.CONTEXT)


async def test_unknown_context_is_rejected_without_any_network_request(
    vendor_data: Path, verifier: Verifier, web: FakeWeb, monkeypatch: pytest.MonkeyPatch
) -> None:
    refused = forbid_external_connections(monkeypatch)
    credential = load(vendor_data, OB3_FIXTURE)
    credential["@context"].append("http://169.254.169.254/ctx")

    result = await verifier.verify(credential, now=NOW)

    assert result.verdict is Verdict.REJECTED
    context = detail(result, CheckId.CONTEXT)
    assert "http://169.254.169.254/ctx" in context
    assert "not fetched" in context
    assert refused == [], "no socket may be opened for a context"
    assert web.network.resolver.lookups == [], "no name may be resolved for a context"
    assert web.requests == []


async def test_context_pointing_inside_the_network_in_a_nested_object(
    vendor_data: Path, verifier: Verifier, web: FakeWeb
) -> None:
    credential = load(vendor_data, OB3_FIXTURE)
    credential["credentialSubject"]["@context"] = "https://10.0.0.7/private-context.jsonld"

    result = await verifier.verify(credential, now=NOW)

    assert result.verdict is Verdict.REJECTED
    assert "10.0.0.7" in detail(result, CheckId.CONTEXT)
    assert web.network.resolver.lookups == []


async def test_unsupported_proof_alone_is_not_enough(vendor_data: Path, verifier: Verifier) -> None:
    credential = load(vendor_data, RDFC_VECTOR)
    credential["proof"]["cryptosuite"] = "ecdsa-sd-2023"

    result = await verifier.verify(credential, now=NOW)

    assert result.verdict is Verdict.REJECTED
    assert "no supported proof" in detail(result, CheckId.PROOF)


async def test_unsigned_credential_is_rejected(vendor_data: Path, verifier: Verifier) -> None:
    credential = load(vendor_data, RDFC_VECTOR)
    del credential["proof"]

    result = await verifier.verify(credential, now=NOW)

    assert result.verdict is Verdict.REJECTED
    assert "no proof" in detail(result, CheckId.PROOF)


async def test_invalid_proof_among_valid_ones_rejects(
    vendored_contexts: ContextStore, verifier: Verifier
) -> None:
    issuer = Issuer.fresh(vendored_contexts)
    credential = issuer.sign(issuer.ob3())
    twice = issuer.sign(credential, suite="eddsa-jcs-2022")
    assert isinstance(twice["proof"], list)
    twice["proof"][1]["proofValue"] = twice["proof"][0]["proofValue"]

    result = await verifier.verify(twice, now=NOW)

    assert result.verdict is Verdict.REJECTED

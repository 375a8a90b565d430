"""What a credential points at, served by loopback HTTPS fakes: did:web documents, HTTPS
controller documents, BitstringStatusList / StatusList2021 lists and 1EdTech revocation lists.

Infrastructure failures must give `unknown` (indeterminate), never `pass`; documents that say
no (404 DID, key not listed, revoked) must give `fail`.
"""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import pytest

from service.verify import CheckId, Outcome, Verdict, Verifier
from service.verify.backoff import DEFAULT_BACKOFF_SECONDS as BACKOFF
from service.verify.contexts import ContextStore
from service.verify.issuing import (
    encode_status_list,
    make_status_list_credential,
    sign_eddsa_rdfc_2022,
    status_entry,
)
from service.verify.keys import ed25519_to_multikey
from tests.verify.builders import STATUS_URL, Issuer
from tests.verify.conftest import NOW, FakeWeb, MonotonicClock, controller_document

pytestmark = pytest.mark.vendor_data

DID_WEB = "did:web:badges.university.example"
DI_V2 = "https://w3id.org/security/data-integrity/v2"
SL2021 = "https://w3id.org/vc/status-list/2021/v1"


def outcome(result: Any, check_id: CheckId) -> Outcome:
    check = result.check(check_id)
    assert check is not None, f"no {check_id}: {result.checks}"
    return check.outcome  # type: ignore[no-any-return]


def did_web_issuer(contexts: ContextStore) -> tuple[Issuer, dict[str, Any]]:
    """An issuer whose key is published in its did:web document."""
    issuer = Issuer.fresh(contexts)
    key = ed25519_to_multikey(issuer.key.public_key())
    issuer.did = DID_WEB
    document = {
        "@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"],
        "id": DID_WEB,
        "verificationMethod": [
            {
                "id": f"{DID_WEB}#key-1",
                "type": "Multikey",
                "controller": DID_WEB,
                "publicKeyMultibase": key,
            }
        ],
        "assertionMethod": [f"{DID_WEB}#key-1"],
    }
    return issuer, document


def sign_with(issuer: Issuer, credential: dict[str, Any], method: str) -> dict[str, Any]:
    return sign_eddsa_rdfc_2022(
        credential,
        private_key=issuer.key,
        verification_method=method,
        created=NOW - timedelta(days=3),
        loader=issuer.contexts,
    )


# -- did:web ------------------------------------------------------------------------------


async def test_did_web_issuer(
    vendored_contexts: ContextStore, web: FakeWeb, verifier: Verifier
) -> None:
    issuer, document = did_web_issuer(vendored_contexts)
    await web.publish_did_web(DID_WEB, document)
    credential = sign_with(issuer, issuer.ob3(), f"{DID_WEB}#key-1")

    result = await verifier.verify(credential, now=NOW)

    assert result.verdict is Verdict.VERIFIED, result.checks
    assert outcome(result, CheckId.ISSUER_BINDING) is Outcome.PASS
    assert web.sites["badges.university.example"].paths == ["/.well-known/did.json"]


async def test_did_web_document_about_another_did(
    vendored_contexts: ContextStore, web: FakeWeb, verifier: Verifier
) -> None:
    issuer, document = did_web_issuer(vendored_contexts)
    document = copy.deepcopy(document)
    document["id"] = "did:web:attacker.example"
    await web.publish_did_web(DID_WEB, document)
    credential = sign_with(issuer, issuer.ob3(), f"{DID_WEB}#key-1")

    result = await verifier.verify(credential, now=NOW)

    assert result.verdict is Verdict.REJECTED
    proof = result.check(CheckId.PROOF)
    assert proof is not None
    assert "must equal" in proof.detail


async def test_did_web_key_not_authorised_for_assertions(
    vendored_contexts: ContextStore, web: FakeWeb, verifier: Verifier
) -> None:
    issuer, document = did_web_issuer(vendored_contexts)
    document = copy.deepcopy(document)
    document["authentication"] = document.pop("assertionMethod")
    await web.publish_did_web(DID_WEB, document)
    credential = sign_with(issuer, issuer.ob3(), f"{DID_WEB}#key-1")

    result = await verifier.verify(credential, now=NOW)

    assert result.verdict is Verdict.REJECTED
    assert outcome(result, CheckId.PROOF) is Outcome.FAIL


async def test_did_web_unreachable_is_indeterminate(
    vendored_contexts: ContextStore, verifier: Verifier
) -> None:
    issuer, _ = did_web_issuer(vendored_contexts)  # nothing serves badges.university.example
    credential = sign_with(issuer, issuer.ob3(), f"{DID_WEB}#key-1")

    result = await verifier.verify(credential, now=NOW)

    assert result.verdict is Verdict.INDETERMINATE
    assert outcome(result, CheckId.PROOF) is Outcome.UNKNOWN


async def test_did_web_server_error_is_indeterminate_and_404_is_rejected(
    vendored_contexts: ContextStore, web: FakeWeb, clock: MonotonicClock
) -> None:
    issuer, _ = did_web_issuer(vendored_contexts)
    site = await web.host("badges.university.example")
    site.status("/.well-known/did.json", 500)
    credential = sign_with(issuer, issuer.ob3(), f"{DID_WEB}#key-1")
    verifier = Verifier(contexts=vendored_contexts, fetcher=web.fetcher, clock=clock)

    failing = await verifier.verify(credential, now=NOW)
    site.status("/.well-known/did.json", 404)
    clock.advance(BACKOFF + 1)  # within the back-off the 500 would answer again
    missing = await verifier.verify(credential, now=NOW)

    assert failing.verdict is Verdict.INDETERMINATE
    assert missing.verdict is Verdict.REJECTED


# -- HTTPS controller documents -------------------------------------------------------------


async def test_https_key_must_be_listed_by_its_controller(
    vendored_contexts: ContextStore, web: FakeWeb, verifier: Verifier
) -> None:
    """The fragment names a key; the controller document, not the fragment, supplies it."""
    issuer = Issuer.fresh(vendored_contexts)
    controller = "https://issuer.example/profile"
    key = ed25519_to_multikey(issuer.key.public_key())
    issuer.did = controller
    credential = sign_with(issuer, issuer.ob3(), f"{controller}#{key}")

    await web.publish(controller, controller_document(controller, []))
    unlisted = await verifier.verify(credential, now=NOW)
    await web.publish(controller, controller_document(controller, [key]))
    fresh_verifier = Verifier(contexts=vendored_contexts, fetcher=web.fetcher)
    listed = await fresh_verifier.verify(credential, now=NOW)

    assert unlisted.verdict is Verdict.REJECTED
    proof = unlisted.check(CheckId.PROOF)
    assert proof is not None
    assert "does not publish" in proof.detail
    assert listed.verdict is Verdict.VERIFIED, listed.checks


async def test_https_controller_with_another_key_in_the_fragment(
    vendored_contexts: ContextStore, web: FakeWeb, verifier: Verifier
) -> None:
    """An attacker signs with their key and names it in the fragment of a real issuer URL."""
    issuer, attacker = Issuer.fresh(vendored_contexts), Issuer.fresh(vendored_contexts)
    controller = "https://issuer.example/profile"
    real_key = ed25519_to_multikey(issuer.key.public_key())
    attacker_key = ed25519_to_multikey(attacker.key.public_key())
    await web.publish(controller, controller_document(controller, [real_key]))
    attacker.did = controller
    forged = sign_with(attacker, attacker.ob3(), f"{controller}#{attacker_key}")

    result = await verifier.verify(forged, now=NOW)

    assert result.verdict is Verdict.REJECTED


# -- status lists -------------------------------------------------------------------------


async def test_short_status_list_is_a_warning(
    vendored_contexts: ContextStore, web: FakeWeb, verifier: Verifier
) -> None:
    issuer = Issuer.fresh(vendored_contexts)
    short = issuer.status_list(revoked=[])
    short["credentialSubject"]["encodedList"] = encode_status_list([], length=16_384)
    del short["proof"]
    await web.publish(STATUS_URL, issuer.sign(short))
    credential = issuer.sign(issuer.ob3(status_index=7))

    result = await verifier.verify(credential, now=NOW)

    assert result.verdict is Verdict.VERIFIED
    status = result.check(CheckId.STATUS)
    assert status is not None
    assert status.outcome is Outcome.WARN
    assert "131072" in status.detail


async def test_suspension_and_purpose_mismatch(
    vendored_contexts: ContextStore, web: FakeWeb, verifier: Verifier
) -> None:
    issuer = Issuer.fresh(vendored_contexts)
    suspension_url = "https://status.issuer.example/lists/suspension"
    await web.publish(
        suspension_url,
        make_status_list_credential(
            url=suspension_url,
            issuer=issuer.did,
            private_key=issuer.key,
            verification_method=issuer.method,
            revoked_indexes=[7],
            created=NOW - timedelta(days=1),
            loader=vendored_contexts,
            purpose="suspension",
        ),
    )
    suspended = issuer.ob3()
    suspended["credentialStatus"] = status_entry(suspension_url, 7, purpose="suspension")
    mismatched = issuer.ob3()
    mismatched["credentialStatus"] = status_entry(suspension_url, 7, purpose="revocation")

    suspended_result = await verifier.verify(issuer.sign(suspended), now=NOW)
    mismatch_result = await verifier.verify(issuer.sign(mismatched), now=NOW)

    assert suspended_result.verdict is Verdict.REJECTED
    status = suspended_result.check(CheckId.STATUS)
    assert status is not None
    assert "suspended" in status.detail
    assert mismatch_result.verdict is Verdict.INDETERMINATE
    assert outcome(mismatch_result, CheckId.STATUS) is Outcome.UNKNOWN


async def test_status_list_2021(
    vendored_contexts: ContextStore, web: FakeWeb, verifier: Verifier
) -> None:
    issuer = Issuer.fresh(vendored_contexts)
    url = "https://status.issuer.example/2021/1"
    status_list = {
        "@context": ["https://www.w3.org/2018/credentials/v1", SL2021, DI_V2],
        "id": url,
        "type": ["VerifiableCredential", "StatusList2021Credential"],
        "issuer": issuer.did,
        "issuanceDate": "2026-01-01T00:00:00Z",
        "credentialSubject": {
            "id": f"{url}#list",
            "type": "StatusList2021",
            "statusPurpose": "revocation",
            # StatusList2021 lists are usually bare base64 (no multibase prefix).
            "encodedList": encode_status_list([5], length=131_072)[1:],
        },
    }
    await web.publish(url, issuer.sign(status_list))
    revoked, clear = issuer.ob3(), issuer.ob3()
    for credential, index in ((revoked, 5), (clear, 6)):
        credential["@context"] = [*credential["@context"], SL2021]
        credential["credentialStatus"] = {
            "id": f"{url}#{index}",
            "type": "StatusList2021Entry",
            "statusPurpose": "revocation",
            "statusListIndex": str(index),
            "statusListCredential": url,
        }

    revoked_result = await verifier.verify(issuer.sign(revoked), now=NOW)
    clear_result = await verifier.verify(issuer.sign(clear), now=NOW)

    assert revoked_result.verdict is Verdict.REJECTED, revoked_result.checks
    assert clear_result.verdict is Verdict.VERIFIED, clear_result.checks


async def test_cache_control_no_store_refetches(
    vendored_contexts: ContextStore, web: FakeWeb, verifier: Verifier
) -> None:
    issuer = Issuer.fresh(vendored_contexts)
    site = await web.host("status.issuer.example")
    import json

    site.add(
        "/lists/1",
        json.dumps(issuer.status_list(revoked=[])).encode(),
        headers={"Cache-Control": "no-store"},
    )
    credential = issuer.sign(issuer.ob3(status_index=7))

    for _ in range(2):
        assert (await verifier.verify(credential, now=NOW)).verdict is Verdict.VERIFIED

    assert site.paths == ["/lists/1", "/lists/1"]


async def test_1edtech_revocation_list(
    vendored_contexts: ContextStore, web: FakeWeb, clock: MonotonicClock
) -> None:
    issuer = Issuer.fresh(vendored_contexts)
    list_url = "https://issuer.example/revocations"
    credential = issuer.ob3()
    credential["@context"] = [
        *credential["@context"],
        "https://purl.imsglobal.org/spec/ob/v3p0/extensions.json",
    ]
    credential["credentialStatus"] = {"id": list_url, "type": "1EdTechRevocationList"}
    signed = issuer.sign(credential)
    verifier = Verifier(contexts=vendored_contexts, fetcher=web.fetcher, clock=clock)

    unreachable = await verifier.verify(signed, now=NOW)
    await web.publish(list_url, {"revokedCredential": [{"id": "urn:uuid:someone-else"}]})
    clock.advance(BACKOFF + 1)  # within the back-off the failure would answer again
    clear = await verifier.verify(signed, now=NOW)
    await web.publish(
        list_url,
        {"revokedCredential": [{"id": credential["id"], "revocationReason": "issued in error"}]},
    )
    revoked = await verifier.verify(signed, now=NOW)

    assert unreachable.verdict is Verdict.INDETERMINATE
    assert clear.verdict is Verdict.VERIFIED
    status = clear.check(CheckId.STATUS)
    assert status is not None
    assert status.outcome is Outcome.WARN
    assert "unsigned" in status.detail
    assert revoked.verdict is Verdict.REJECTED
    status = revoked.check(CheckId.STATUS)
    assert status is not None
    assert "issued in error" in status.detail

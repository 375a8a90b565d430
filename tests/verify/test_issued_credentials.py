"""OB 3.0 over did:key, issued here: the product's own path from issuing to a verdict.

eddsa-rdfc-2022 proofs, BitstringStatusList revocation (a signed list of 131,072 entries on a
loopback HTTPS fake), validity dates and holder binding by a salted email hash.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from service.verify import CheckId, Holder, IssuerTier, Outcome, Verdict, Verifier, VerifyPolicy
from service.verify.contexts import ContextStore
from tests.verify.builders import STATUS_URL, Issuer
from tests.verify.conftest import NOW, FakeWeb

pytestmark = pytest.mark.vendor_data

CANDIDATE = Holder(emails=("a@example.com",))


@pytest.fixture
def issuer(vendored_contexts: ContextStore) -> Issuer:
    return Issuer.fresh(vendored_contexts)


def outcome(result: object, check_id: CheckId) -> Outcome:
    check = result.check(check_id)  # type: ignore[attr-defined]
    assert check is not None, f"no {check_id} check in {result}"
    return check.outcome


async def test_issued_ob3_credential_verifies_with_its_skills(
    issuer: Issuer, verifier: Verifier, web: FakeWeb
) -> None:
    await web.publish(STATUS_URL, issuer.status_list(revoked=[3]))
    credential = issuer.sign(issuer.ob3(status_index=7))

    result = await verifier.verify(json.dumps(credential), now=NOW, holder=CANDIDATE)

    assert result.verdict is Verdict.VERIFIED, result.checks
    assert result.format == "ob3"
    assert outcome(result, CheckId.PROOF) is Outcome.PASS
    assert outcome(result, CheckId.ISSUER_BINDING) is Outcome.PASS
    assert outcome(result, CheckId.STATUS) is Outcome.PASS, "index 7 is not revoked"
    holder = result.check(CheckId.HOLDER)
    assert holder is not None
    assert holder.outcome is Outcome.PASS
    assert "a@example.com" in holder.detail
    [achievement] = result.achievements
    assert achievement.name == "Data Analysis with Python"
    assert achievement.achievement_type == "MicroCredential"
    assert achievement.tags == ("python", "pandas")
    assert achievement.eqf_level == 5, "the ext:EQF alignment gives the EQF level"
    assert {a.target_framework for a in achievement.alignments} == {"ESCO", None}
    assert result.issuer.id == issuer.did


async def test_revoked_in_the_status_list_is_rejected(
    issuer: Issuer, verifier: Verifier, web: FakeWeb
) -> None:
    await web.publish(STATUS_URL, issuer.status_list(revoked=[3, 7]))
    credential = issuer.sign(issuer.ob3(status_index=7))

    result = await verifier.verify(credential, now=NOW, holder=CANDIDATE)

    assert result.verdict is Verdict.REJECTED
    status = result.check(CheckId.STATUS)
    assert status is not None
    assert status.outcome is Outcome.FAIL
    assert "revoked" in status.detail


async def test_unreachable_status_list_is_indeterminate_never_verified(
    issuer: Issuer, verifier: Verifier, web: FakeWeb
) -> None:
    site = await web.host("status.issuer.example")
    site.status("/lists/1", 503)
    credential = issuer.sign(issuer.ob3(status_index=7))

    result = await verifier.verify(credential, now=NOW, holder=CANDIDATE)

    assert result.verdict is Verdict.INDETERMINATE
    assert outcome(result, CheckId.STATUS) is Outcome.UNKNOWN


async def test_status_list_signed_by_someone_else_key_is_not_trusted(
    issuer: Issuer, verifier: Verifier, web: FakeWeb, vendored_contexts: ContextStore
) -> None:
    forger = Issuer.fresh(vendored_contexts)
    status_list = issuer.status_list(revoked=[])
    forged = forger.status_list(revoked=[])
    # The forger's list claims to be the issuer's, with the forger's proof on the real content.
    status_list["proof"] = forged["proof"]
    await web.publish(STATUS_URL, status_list)
    credential = issuer.sign(issuer.ob3(status_index=7))

    result = await verifier.verify(credential, now=NOW, holder=CANDIDATE)

    assert result.verdict is Verdict.INDETERMINATE
    assert outcome(result, CheckId.STATUS) is Outcome.UNKNOWN


async def test_expired_and_not_yet_valid(issuer: Issuer, verifier: Verifier) -> None:
    expired = issuer.sign(
        issuer.ob3(valid_from=NOW - timedelta(days=400), valid_until=NOW - timedelta(days=1))
    )
    future = issuer.sign(issuer.ob3(valid_from=NOW + timedelta(days=2)))

    expired_result = await verifier.verify(expired, now=NOW, holder=CANDIDATE)
    future_result = await verifier.verify(future, now=NOW, holder=CANDIDATE)

    assert expired_result.verdict is Verdict.REJECTED
    validity = expired_result.check(CheckId.VALIDITY_PERIOD)
    assert validity is not None
    assert "expired" in validity.detail
    assert future_result.verdict is Verdict.REJECTED
    validity = future_result.check(CheckId.VALIDITY_PERIOD)
    assert validity is not None
    assert "not yet valid" in validity.detail


async def test_clock_skew_tolerates_a_few_minutes(issuer: Issuer, verifier: Verifier) -> None:
    credential = issuer.sign(issuer.ob3(valid_from=NOW + timedelta(seconds=120)))

    result = await verifier.verify(credential, now=NOW, holder=CANDIDATE)

    assert outcome(result, CheckId.VALIDITY_PERIOD) is Outcome.PASS


async def test_holder_mismatch_rejects_for_this_candidate(
    issuer: Issuer, verifier: Verifier
) -> None:
    credential = issuer.sign(issuer.ob3(email="someone.else@example.com"))

    result = await verifier.verify(credential, now=NOW, holder=CANDIDATE)

    assert result.verdict is Verdict.REJECTED
    holder = result.check(CheckId.HOLDER)
    assert holder is not None
    assert holder.outcome is Outcome.FAIL
    assert "someone else" in holder.detail


async def test_no_holder_given_is_a_warning(issuer: Issuer, verifier: Verifier) -> None:
    result = await verifier.verify(issuer.sign(issuer.ob3()), now=NOW)

    assert result.verdict is Verdict.VERIFIED
    holder = result.check(CheckId.HOLDER)
    assert holder is not None
    assert holder.outcome is Outcome.WARN
    assert holder.detail == "no holder identifiers to compare"


async def test_trusted_issuer_tier_is_granted_only_with_a_bound_key(
    issuer: Issuer, verifier: Verifier
) -> None:
    policy = VerifyPolicy(trusted_issuers={issuer.did: IssuerTier.ACCREDITED_INSTITUTION})

    result = await verifier.verify(issuer.sign(issuer.ob3()), now=NOW, policy=policy)

    assert outcome(result, CheckId.ISSUER_TRUST) is Outcome.PASS
    assert result.issuer.tier is IssuerTier.ACCREDITED_INSTITUTION


async def test_claiming_a_trusted_did_issuer_with_another_key_fails(
    issuer: Issuer, verifier: Verifier, vendored_contexts: ContextStore
) -> None:
    impostor = Issuer.fresh(vendored_contexts)
    credential = issuer.ob3()  # names the real issuer's DID ...
    forged = impostor.sign(credential)  # ... but is signed with the impostor's key
    policy = VerifyPolicy(trusted_issuers={issuer.did: IssuerTier.ACCREDITED_INSTITUTION})

    result = await verifier.verify(forged, now=NOW, policy=policy)

    assert result.verdict is Verdict.REJECTED
    assert outcome(result, CheckId.ISSUER_BINDING) is Outcome.FAIL
    assert result.issuer.tier is IssuerTier.UNKNOWN


async def test_jcs_issued_credential_verifies(issuer: Issuer, verifier: Verifier) -> None:
    credential = issuer.sign(issuer.ob3(), suite="eddsa-jcs-2022")

    result = await verifier.verify(credential, now=NOW, holder=CANDIDATE)

    assert result.verdict is Verdict.VERIFIED, result.checks


async def test_status_list_is_cached_between_verifications(
    issuer: Issuer, verifier: Verifier, web: FakeWeb
) -> None:
    await web.publish(STATUS_URL, issuer.status_list(revoked=[]))
    credential = issuer.sign(issuer.ob3(status_index=7))

    for _ in range(3):
        result = await verifier.verify(credential, now=NOW, holder=CANDIDATE)
        assert result.verdict is Verdict.VERIFIED

    site = web.sites["status.issuer.example"]
    assert site.paths == ["/lists/1"], "a verified list is reused within its cache lifetime"

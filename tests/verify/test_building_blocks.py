"""The pieces under the Verifier: canonical forms, keys and DIDs, status lists, holder hashes,
dates, achievements, and the European Digital Credential sample."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from service.verify import CheckId, Holder, Outcome, Verdict, Verifier
from service.verify.achievements import ob3_achievements
from service.verify.contexts import ContextStore
from service.verify.dataintegrity import without
from service.verify.dates import check_validity, parse_datetime
from service.verify.dids import did_key_document, did_web_url, parse_controller_document
from service.verify.errors import KeyResolutionError, StatusError, UnknownContextError
from service.verify.holder import check_holder
from service.verify.issuing import (
    encode_status_list,
    generate_did_key_ed25519,
    hashed_email_identifier,
)
from service.verify.jsonld import LinkedData
from service.verify.status import StatusList, decode_encoded_list
from tests.verify.conftest import NOW

VECTORS = "w3c-vc-di-eddsa/TestVectors"
DCC_V2 = "digitalcredentials-vc-test-fixtures/verifiableCredentials/v2/dataIntegrityProof/didKey"
KOSHER_HASH = "sha256$b5809d8a92f8858436d7e6b87c12ebc0ae1eac4baecc2c0b913aee2c922ef399"


def vendor_json(vendor_data: Path, path: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((vendor_data / "credentials" / path).read_text())
    return data


# -- canonicalisation ---------------------------------------------------------------------


@pytest.mark.vendor_data
def test_rdfc_canonical_form_equals_the_w3c_vector(
    vendor_data: Path, vendored_contexts: ContextStore
) -> None:
    linked = LinkedData(vendored_contexts)
    signed = vendor_json(vendor_data, f"{VECTORS}/eddsa-rdfc-2022/signedDataInt.json")
    expected = vendor_data / "credentials" / VECTORS / "eddsa-rdfc-2022/canonDocDataInt.txt"

    canonical = linked.canonicalize(without(signed, "proof"))

    assert canonical.nquads == expected.read_text()
    assert canonical.problems == ()


@pytest.mark.vendor_data
def test_ob3_canonical_form_equals_the_1edtech_vector(
    vendor_data: Path, vendored_contexts: ContextStore
) -> None:
    linked = LinkedData(vendored_contexts)
    signed = vendor_json(
        vendor_data, "1edtech-openbadges-specification/derived/ob3-ldp-test-vector.signed.json"
    )
    expected = (
        vendor_data
        / "credentials/1edtech-openbadges-specification/ob_v3p0/impl/test-vectors/obv3p0"
        / "document-canon.txt"
    )

    assert linked.canonicalize(without(signed, "proof")).nquads == expected.read_text()


@pytest.mark.vendor_data
def test_warm_cache_gives_identical_canonical_forms(
    vendor_data: Path, vendored_contexts: ContextStore
) -> None:
    """The processed-context memo must never change a byte of the output."""
    from pyld import jsonld

    document = without(
        vendor_json(vendor_data, f"{DCC_V2}/legacyRegistry-noStatus-noExpiry-alignments.json"),
        "proof",
    )
    plain = jsonld.normalize(
        document,
        {
            "algorithm": "URDNA2015",
            "format": "application/n-quads",
            "documentLoader": vendored_contexts.document_loader(),
        },
    )
    linked = LinkedData(vendored_contexts)

    outputs = {linked.canonicalize(document).nquads for _ in range(5)}

    assert outputs == {plain}


def test_unknown_context_raises_before_any_processing(bundled_contexts: ContextStore) -> None:
    linked = LinkedData(bundled_contexts)
    document = {"@context": ["https://www.w3.org/ns/credentials/v2", "https://evil.example/c"]}

    with pytest.raises(UnknownContextError, match=r"https://evil\.example/c"):
        linked.canonicalize(document)


def test_safe_mode_names_undefined_terms_and_types(bundled_contexts: ContextStore) -> None:
    linked = LinkedData(bundled_contexts)
    document = {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "type": ["VerifiableCredential", "MadeUpCredential"],
        "issuer": "did:example:issuer",
        "credentialSubject": {"id": "did:example:subject", "skillLevel": "expert"},
    }

    problems = linked.canonicalize(document).problems

    assert "undefined property 'skillLevel'" in problems
    assert "undefined type 'MadeUpCredential'" in problems


# -- keys and DIDs ------------------------------------------------------------------------


def test_did_key_round_trip() -> None:
    did, private_key = generate_did_key_ed25519()
    document = did_key_document(did)

    [method] = document.methods
    assert method.id == f"{did}#{did.split(':')[2]}"
    assert method.controller == did
    assert "assertionMethod" in method.relationships
    message = b"skillproof"
    method.public_key.verify(private_key.sign(message), message)  # type: ignore[call-arg]


def test_did_key_p256() -> None:
    # A P-256 did:key (multicodec 0x1200), from the did:key test vectors.
    did = "did:key:zDnaerDaTF5BXEavCrfRZEk316dpbLsfPDZ3WJ5hRTPFU2169"
    [method] = did_key_document(did).methods
    assert method.public_key.curve.name == "secp256r1"  # type: ignore[union-attr]


def test_did_key_refuses_other_key_types() -> None:
    with pytest.raises(KeyResolutionError):
        did_key_document("did:key:z6LSbysY2xFMRpGMhb7tFTLMpeuPRaqaWM1yECx2AtzE3KCc")  # X25519


@pytest.mark.parametrize(
    ("did", "url"),
    [
        ("did:web:issuer.example", "https://issuer.example/.well-known/did.json"),
        ("did:web:issuer.example:users:alice", "https://issuer.example/users/alice/did.json"),
        ("did:web:issuer.example%3A8443", "https://issuer.example:8443/.well-known/did.json"),
    ],
)
def test_did_web_urls(did: str, url: str) -> None:
    assert did_web_url(did) == url


@pytest.mark.parametrize(
    "did", ["did:web:127.0.0.1", "did:web:10.0.0.1%3A80", "did:web:issuer.example:..:x"]
)
def test_did_web_refuses_addresses_and_traversal(did: str) -> None:
    with pytest.raises(KeyResolutionError):
        did_web_url(did)


def test_controller_document_must_be_about_itself() -> None:
    with pytest.raises(KeyResolutionError, match="must equal"):
        parse_controller_document({"id": "did:web:other.example"}, "did:web:issuer.example")


def test_controller_document_ignores_methods_controlled_by_others() -> None:
    key = "z6MkjZRZv3aez3r18pB1RBFJR1kwUVJ5jHt92JmQwXbd5hwi"
    document = parse_controller_document(
        {
            "id": "https://issuer.example/profile",
            "verificationMethod": [
                {
                    "id": "#k1",
                    "type": "Multikey",
                    "controller": "https://attacker.example/",
                    "publicKeyMultibase": key,
                },
                {
                    "id": "#k2",
                    "type": "Multikey",
                    "controller": "https://issuer.example/profile",
                    "publicKeyMultibase": key,
                },
            ],
            "assertionMethod": ["#k1", "#k2"],
        },
        "https://issuer.example/profile",
    )

    assert [m.id for m in document.methods] == ["https://issuer.example/profile#k2"]
    assert document.methods[0].relationships == frozenset({"assertionMethod"})


# -- status lists -------------------------------------------------------------------------


def test_status_list_bits_are_msb_first() -> None:
    bits = decode_encoded_list(encode_status_list([0, 9, 131_071], length=131_072))
    status_list = StatusList(url="https://s.example/1", purposes=("revocation",), bits=bits)

    assert status_list.length == 131_072
    assert [status_list.value(i, 1) for i in (0, 1, 8, 9, 10, 131_071)] == [1, 0, 0, 1, 0, 1]
    assert bits[0] == 0x80


def test_status_list_2021_bare_base64() -> None:
    encoded = encode_status_list([3], length=131_072)[1:]  # without the multibase "u"
    bits = decode_encoded_list(encoded)
    assert bits[0] == 0x10


def test_status_list_decompression_is_capped() -> None:
    import base64
    import gzip

    bomb = gzip.compress(bytes(20 * 1024 * 1024))
    encoded = "u" + base64.urlsafe_b64encode(bomb).rstrip(b"=").decode()

    with pytest.raises(StatusError, match="16 MiB"):
        decode_encoded_list(encoded)


# -- holder binding -----------------------------------------------------------------------


def test_hashed_email_with_salt_matches_the_research_sample() -> None:
    assert hashed_email_identifier("a@example.com", "Kosher")["identityHash"] == KOSHER_HASH
    credential = {
        "credentialSubject": {
            "identifier": [
                {
                    "type": "IdentityObject",
                    "identityHash": KOSHER_HASH,
                    "identityType": "emailAddress",
                    "hashed": True,
                    "salt": "Kosher",
                }
            ]
        }
    }

    match = check_holder(credential, Holder(emails=("A@Example.com",)))
    other = check_holder(credential, Holder(emails=("b@example.com",)))

    assert match.outcome is Outcome.PASS
    assert "with salt" in match.detail
    assert other.outcome is Outcome.FAIL


def test_ob2_recipient_hashed_without_salt() -> None:
    import hashlib

    digest = hashlib.sha256(b"jane@example.org").hexdigest()
    assertion = {"recipient": {"type": "email", "hashed": True, "identity": f"sha256${digest}"}}

    assert check_holder(assertion, Holder(emails=("jane@example.org",))).outcome is Outcome.PASS


def test_holder_by_did_and_by_unknown_kind() -> None:
    credential = {"credentialSubject": {"id": "did:example:alice"}}

    assert check_holder(credential, Holder(dids=("did:example:alice",))).outcome is Outcome.PASS
    assert check_holder(credential, Holder(dids=("did:example:bob",))).outcome is Outcome.FAIL
    unknown = check_holder(credential, Holder(emails=("alice@example.com",)))
    assert unknown.outcome is Outcome.UNKNOWN
    assert "DID" in unknown.detail or "did" in unknown.detail


# -- dates --------------------------------------------------------------------------------


def test_dates() -> None:
    skew = timedelta(seconds=300)
    assert parse_datetime("2025-01-09T15:20:02.183Z") == datetime(
        2025, 1, 9, 15, 20, 2, 183000, tzinfo=UTC
    )
    assert parse_datetime("not a date") is None
    ok = check_validity({"validFrom": "2020-01-01T00:00:00Z"}, now=NOW, clock_skew=skew)
    bad = check_validity({"validFrom": "yesterday"}, now=NOW, clock_skew=skew)
    inverted = check_validity(
        {"validFrom": "2020-01-02T00:00:00Z", "validUntil": "2020-01-01T00:00:00Z"},
        now=NOW,
        clock_skew=skew,
    )
    v1 = check_validity({"expirationDate": "2026-05-31T23:58:00Z"}, now=NOW, clock_skew=skew)
    assert ok.check.outcome is Outcome.PASS
    assert bad.check.outcome is Outcome.FAIL
    assert inverted.check.outcome is Outcome.FAIL
    assert v1.check.outcome is Outcome.PASS, "two minutes ago is within the clock skew"


# -- achievements -------------------------------------------------------------------------


@pytest.mark.vendor_data
def test_alignments_are_read(vendor_data: Path) -> None:
    credential = vendor_json(
        vendor_data, f"{DCC_V2}/legacyRegistry-noStatus-noExpiry-alignments.json"
    )

    [achievement] = ob3_achievements(credential)

    assert achievement.name == "Text analysis"
    assert [a.target_name for a in achievement.alignments] == ["Requirements Analysis"] * 2
    assert achievement.alignments[0].target_framework == "Edmonds College Course Catalog"
    assert achievement.criteria is not None


def test_ignored_terms_are_never_read() -> None:
    credential = {
        "credentialSubject": {
            "achievement": {"name": "Python", "tag": ["pandas"], "fieldOfStudy": "Data"}
        }
    }

    [achievement] = ob3_achievements(credential, ignored_terms=frozenset({"tag"}))

    assert achievement.tags == ()
    assert achievement.field_of_study == "Data"


# -- European Digital Credential ---------------------------------------------------------

ELM = "european-commission-empl-European-Learning-Model/Credentials/JSON-LD Examples (ELM v3)"


@pytest.mark.vendor_data
async def test_sealed_edc_is_read_but_never_verified(vendor_data: Path, verifier: Verifier) -> None:
    raw = (vendor_data / "credentials" / ELM / "Sample-MC-Annex1-signed.jsonld").read_bytes()

    result = await verifier.verify(
        raw, now=NOW, holder=Holder(emails=("ana.andromeda.4edc@gmail.com",))
    )

    assert result.format == "edc"
    assert result.verdict is Verdict.INDETERMINATE
    proof = result.check(CheckId.PROOF)
    assert proof is not None
    assert proof.outcome is Outcome.WARN
    assert "JAdES seal not verified" in proof.detail
    holder = result.check(CheckId.HOLDER)
    assert holder is not None
    assert holder.outcome is Outcome.PASS
    [achievement] = result.achievements
    assert achievement.eqf_level == 6
    assert achievement.ects == 2.0
    assert achievement.hours == 60.0
    assert achievement.assessment_type == "artefact assessment"
    esco = [a for a in achievement.alignments if a.target_framework == "ESCO"]
    assert len(esco) == 4


@pytest.mark.vendor_data
async def test_unsigned_edc_is_rejected(vendor_data: Path, verifier: Verifier) -> None:
    raw = (vendor_data / "credentials" / ELM / "Sample-MC-Annex1-unsigned.jsonld").read_bytes()

    result = await verifier.verify(raw, now=NOW)

    assert result.verdict is Verdict.REJECTED
    assert result.failed_checks == ("proof",)


# -- JSON Schema (1EdTechJsonSchemaValidator2019) ----------------------------------------


class PinnedSchemas:
    """Stands in for the context store's schema side: only these URLs are pinned."""

    def __init__(self, schemas: dict[str, dict[str, Any]]) -> None:
        self._schemas = schemas

    def has_schema(self, url: str) -> bool:
        return url in self._schemas

    def load_schema(self, url: str) -> dict[str, Any]:
        return self._schemas[url]


SCHEMA_URL = (
    "https://purl.imsglobal.org/spec/ob/v3p0/schema/json/ob_v3p0_achievementcredential_schema.json"
)


def _schema_credential() -> dict[str, Any]:
    return {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "issuer": {"id": "did:example:issuer"},
        "credentialSubject": {"id": "did:example:s", "achievement": {"name": "X"}},
        "credentialSchema": [{"id": SCHEMA_URL, "type": "1EdTechJsonSchemaValidator2019"}],
    }


def test_pinned_json_schema_is_enforced() -> None:
    from service.verify.checks import check_structure

    schema = {
        "$schema": "https://json-schema.org/draft/2019-09/schema",
        "type": "object",
        "required": ["validFrom"],
    }
    pinned = PinnedSchemas({SCHEMA_URL: schema})

    result = check_structure(_schema_credential(), pinned)
    unpinned = check_structure(_schema_credential(), PinnedSchemas({}))

    assert result.outcome is Outcome.FAIL
    assert "validFrom" in result.detail
    assert unpinned.outcome is Outcome.WARN
    assert "not pinned" in unpinned.detail


def test_schema_reference_to_an_unpinned_schema_is_not_fetched() -> None:
    from service.verify.checks import check_structure

    schema = {
        "$schema": "https://json-schema.org/draft/2019-09/schema",
        "$ref": "https://schemas.attacker.example/x.json",
    }

    result = check_structure(_schema_credential(), PinnedSchemas({SCHEMA_URL: schema}))

    assert result.outcome is Outcome.WARN
    assert "could not be used" in result.detail


def test_canonicalisation_leaves_the_input_untouched(bundled_contexts: ContextStore) -> None:
    import copy

    document = {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "type": ["VerifiableCredential"],
        "issuer": {"id": "did:example:issuer", "name": "Issuer"},
        "validFrom": "2020-01-01T00:00:00Z",
        "credentialSubject": [{"id": "did:example:a"}, {"id": "did:example:b"}],
    }
    before = copy.deepcopy(document)

    LinkedData(bundled_contexts, canonical_cache_bytes=0).canonicalize(document)

    assert document == before

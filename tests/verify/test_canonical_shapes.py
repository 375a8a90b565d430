"""Per-shape templates: a new credential of a known shape gets pyld's canonical form, or none.

Every test warms a template with one document, then canonicalises a variant of it both ways:
through the template and through plain expansion (a LinkedData without templates, which other
tests tie to the W3C and 1EdTech vectors). They must agree byte for byte, with the same
safe-mode findings; where the template cannot be trusted it must step aside, never guess.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from service.verify import CheckId, Outcome, Verdict, Verifier
from service.verify.contexts import ContextStore
from service.verify.dataintegrity import without
from service.verify.errors import VerificationError
from service.verify.issuing import did_key_method, generate_did_key_ed25519, sign_eddsa_rdfc_2022
from service.verify.jsonld import LinkedData
from tests.fakes.network import FakeNetwork
from tests.verify.conftest import NOW

VC2 = "https://www.w3.org/ns/credentials/v2"
EXAMPLE_CONTEXT = {
    "ex": "https://example.org/ns#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "ExampleCredential": "ex:ExampleCredential",
    "Gold": "ex:Gold",
    "Silver": "ex:Silver",
    "score": {"@id": "ex:score", "@type": "xsd:double"},
    "blob": {"@id": "ex:blob", "@type": "@json"},
    "see": {"@id": "ex:see", "@type": "@id"},
    "kind": {"@id": "ex:kind", "@type": "@vocab"},
    "label": {"@id": "ex:label", "@container": "@language"},
    "count": {"@id": "ex:count", "@type": "xsd:integer"},
    "note": "ex:note",
    "items": {"@id": "ex:items", "@container": "@list"},
    "friend": {"@id": "ex:friend", "@type": "@id"},
    "detail": "ex:detail",
}

Canonical = tuple[str, tuple[str, ...], tuple[str, ...]]


def base_credential() -> dict[str, Any]:
    return {
        "@context": [VC2, EXAMPLE_CONTEXT],
        "id": "urn:uuid:00000000-0000-4000-8000-000000000001",
        "type": ["VerifiableCredential", "ExampleCredential"],
        "issuer": {"id": "did:example:issuer", "name": "Issuer"},
        "validFrom": "2024-01-01T00:00:00Z",
        "credentialSubject": {
            "id": "did:example:subject",
            "name": "Subject",
            "score": "1.5",
            "blob": "text",
            "see": "https://example.org/things/1",
            "kind": "Gold",
            "label": {"en": "Hello", "fr": "Bonjour"},
            "count": [7, "8"],
            "note": {"@value": "plain", "@language": "en"},
            "items": ["first", "second"],
            "friend": "did:example:friend",
            "detail": {"note": "in a blank node", "friend": "did:example:other"},
        },
    }


def subject(document: dict[str, Any]) -> dict[str, Any]:
    value: dict[str, Any] = document["credentialSubject"]
    return value


def warm(linked: LinkedData) -> None:
    """The first document of a shape is only noted; the second builds its template."""
    linked.canonicalize(base_credential())
    linked.canonicalize(base_credential())


def canonical(linked: LinkedData, document: dict[str, Any]) -> Canonical | str:
    try:
        result = linked.canonicalize(document)
    except (VerificationError, TypeError) as exc:  # TypeError: pyld on a keyword-like @id
        return f"{type(exc).__name__}: {exc}"
    return result.nquads, result.problems, result.dropped_terms


@pytest.fixture
def shaped(bundled_contexts: ContextStore) -> LinkedData:
    return LinkedData(bundled_contexts, canonical_cache_bytes=0)


@pytest.fixture
def plain(bundled_contexts: ContextStore) -> LinkedData:
    return LinkedData(bundled_contexts, canonical_cache_bytes=0, shape_cache_bytes=0)


def test_the_example_context_defines_every_member(plain: LinkedData) -> None:
    result = plain.canonicalize(base_credential())

    assert result.problems == (), "the base document must pass safe mode for these tests to mean"


def test_a_new_document_of_a_known_shape_uses_the_template(
    shaped: LinkedData, plain: LinkedData
) -> None:
    assert shaped.shapes is not None
    warm(shaped)
    variant = base_credential()
    variant["id"] = "urn:uuid:00000000-0000-4000-8000-000000000002"
    subject(variant)["id"] = "did:example:someone-else"
    subject(variant)["name"] = "Someone Else"
    subject(variant)["items"] = ["x", "y"]

    result = canonical(shaped, variant)

    assert shaped.shapes.built == 1, "one template for the shape"
    assert shaped.shapes.reused == 1, "the new document must come from the template"
    assert result == canonical(plain, variant)
    assert "did:example:someone-else" in result[0]


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(document: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = document
        for part in parents:
            node = node[part]
        node[last] = value

    return change


VARIANTS: dict[str, Callable[[dict[str, Any]], None]] = {
    # Nodes that merge in pyld when their ids are equal.
    "subject is the issuer": _set("credentialSubject.id", "did:example:issuer"),
    "friend is the subject": _set("credentialSubject.friend", "did:example:subject"),
    "id equals a fixed IRI": _set("credentialSubject.id", "https://example.org/ns#Gold"),
    "id equals a predicate": _set("id", "https://example.org/ns#score"),
    "two friends, one node": _set("credentialSubject.detail.friend", "did:example:friend"),
    # IRIs that pyld rewrites, drops or treats as blank nodes.
    "compact IRI": _set("credentialSubject.see", "ex:other"),
    "blank node id": _set("credentialSubject.id", "_:b0"),
    "blank node reference": _set("credentialSubject.friend", "_:b1"),
    "relative id": _set("credentialSubject.id", "relative/path"),
    "keyword-like id": _set("credentialSubject.id", "@nothing"),
    "id with a space": _set("id", "urn:a b"),
    "scheme with a comma": _set("id", "a,b:c"),
    "vocab term": _set("credentialSubject.kind", "Silver"),
    "vocab non-term": _set("credentialSubject.kind", "Bronze"),
    "vocab absolute": _set("credentialSubject.kind", "https://example.org/levels/3"),
    # Literals whose lexical form pyld rewrites, and literals that collide.
    "double": _set("credentialSubject.score", "2.50"),
    "not a double": _set("credentialSubject.score", "high"),
    "json": _set("credentialSubject.blob", 'a "quoted" text'),
    "integer collides with a number": _set("credentialSubject.count", [7, "7"]),
    "same string twice": _set("credentialSubject.items", ["same", "same"]),
    "name equals another name": _set("credentialSubject.name", "Issuer"),
    "name equals an id": _set("credentialSubject.name", "did:example:issuer"),
    "escapes": _set("credentialSubject.name", 'quote " backslash \\ newline \n tab \t é 🎓'),
    "language map": _set("credentialSubject.label", {"en": "Bonjour", "de": "Hallo"}),
    "value object": _set("credentialSubject.note", {"@value": "x", "@language": "fr"}),
    "empty string": _set("credentialSubject.name", ""),
    "date": _set("validFrom", "not a date"),
}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_variants_canonicalise_as_pyld_does(
    name: str, shaped: LinkedData, plain: LinkedData
) -> None:
    warm(shaped)
    variant = base_credential()
    VARIANTS[name](variant)

    results = [canonical(shaped, variant) for _ in range(3)]

    expected = canonical(plain, variant)
    assert results == [expected] * 3, f"{name}: a template gave another canonical form than pyld"


def test_undefined_members_are_reported_as_without_templates(
    shaped: LinkedData, plain: LinkedData
) -> None:
    document = base_credential()
    subject(document)["skillLevel"] = "expert"
    subject(document)["detail"]["undefinedToo"] = "x"
    shaped.canonicalize(document)
    shaped.canonicalize(document)
    variant = copy.deepcopy(document)
    subject(variant)["skillLevel"] = "novice"

    result = canonical(shaped, variant)

    assert result == canonical(plain, variant)
    assert not isinstance(result, str)
    assert "undefined property 'skillLevel'" in result[1]


def test_a_budget_too_small_for_a_template_processes_documents_normally(
    bundled_contexts: ContextStore, plain: LinkedData
) -> None:
    tiny = LinkedData(bundled_contexts, canonical_cache_bytes=0, shape_cache_bytes=1)
    variant = base_credential()
    subject(variant)["name"] = "Another"

    results = [canonical(tiny, document) for document in (base_credential(), variant)]

    assert tiny.shapes is not None
    assert (tiny.shapes.built, tiny.shapes.reused) == (0, 0)
    assert results == [canonical(plain, base_credential()), canonical(plain, variant)]


def test_forgotten_templates_are_built_again(shaped: LinkedData, plain: LinkedData) -> None:
    assert shaped.shapes is not None
    warm(shaped)
    shaped.shapes.clear()
    variant = base_credential()
    subject(variant)["name"] = "Another"

    results = [canonical(shaped, variant) for _ in range(3)]

    assert results == [canonical(plain, variant)] * 3
    assert (shaped.shapes.built, shaped.shapes.reused) == (2, 1)


def test_a_document_cannot_forge_a_placeholder(shaped: LinkedData, plain: LinkedData) -> None:
    assert shaped.shapes is not None
    warm(shaped)
    variant = base_credential()
    subject(variant)["name"] = shaped.shapes.placeholders.of(0)

    assert canonical(shaped, variant) == canonical(plain, variant)


def test_documents_that_are_not_plain_json_are_processed_normally(
    shaped: LinkedData, plain: LinkedData
) -> None:
    variant: dict[Any, Any] = base_credential()
    variant[1] = "a member name that is not a string"

    assert canonical(shaped, variant) == canonical(plain, variant)


# -- vendored credentials -----------------------------------------------------------------


def _vendored_documents(vendor_data: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    root = vendor_data / "credentials"
    for path in sorted(root.rglob("*.json")):
        try:
            document = json.loads(path.read_text())
        except (ValueError, UnicodeDecodeError):
            continue
        if isinstance(document, dict) and "@context" in document:
            yield str(path.relative_to(root)), document


# Strings that make pyld merge, drop or rewrite things when they replace an ordinary one.
AWKWARD = ("", "_:b0", "relative", "ex:thing", "urn:x", "@keyword", "did:example:issuer")


def _strings(document: Any, member: str = "") -> list[str]:
    if isinstance(document, dict):
        return [s for k, v in document.items() if k != "@context" for s in _strings(v, k)]
    if isinstance(document, list):
        return [s for item in document for s in _strings(item, member)]
    return [document] if isinstance(document, str) else []


def _mutated(document: Any, rng: random.Random) -> Any:
    """The document with about a third of its strings changed (never types or contexts): most
    get a suffix, some become another string of the document (so that nodes merge and values
    repeat) or an awkward one."""
    pool = _strings(document) + list(AWKWARD)

    def change(node: Any, member: str) -> Any:
        if isinstance(node, dict):
            return {k: v if k == "@context" else change(v, k) for k, v in node.items()}
        if isinstance(node, list):
            return [change(item, member) for item in node]
        if isinstance(node, str) and member not in ("type", "@type"):
            roll = rng.random()
            if roll < 0.25:
                return node + "-changed"
            if roll < 0.3:
                return node + ' "quoted"\n\\ é'
            if roll < 0.35:
                return rng.choice(pool)
        return node

    return change(document, "")


@pytest.mark.vendor_data
def test_vendored_credentials_and_variants_canonicalise_as_pyld_does(
    vendor_data: Path, vendored_contexts: ContextStore
) -> None:
    shaped = LinkedData(vendored_contexts, canonical_cache_bytes=0)
    plain = LinkedData(vendored_contexts, canonical_cache_bytes=0, shape_cache_bytes=0)
    rng = random.Random(20261122)
    checked = 0
    for name, document in _vendored_documents(vendor_data):
        unsecured = without(document, "proof")
        variants = [unsecured, document] * 2
        variants += [_mutated(variant, rng) for variant in variants]
        for variant in variants:
            expected = canonical(plain, variant)
            assert canonical(shaped, variant) == expected, f"{name}: template differs from pyld"
            checked += 1
    assert checked > 1000, f"only {checked} documents found in the vendor data"
    assert shaped.shapes is not None
    assert shaped.shapes.reused > 100, "templates must serve the mutated vendored credentials"


VECTORS = {
    "w3c-vc-di-eddsa/TestVectors/eddsa-rdfc-2022/signedDataInt.json": (
        "w3c-vc-di-eddsa/TestVectors/eddsa-rdfc-2022/canonDocDataInt.txt"
    ),
    "1edtech-openbadges-specification/derived/ob3-ldp-test-vector.signed.json": (
        "1edtech-openbadges-specification/ob_v3p0/impl/test-vectors/obv3p0/document-canon.txt"
    ),
}


@pytest.mark.vendor_data
@pytest.mark.parametrize("signed", sorted(VECTORS))
def test_templates_give_the_published_canonical_forms(
    signed: str, vendor_data: Path, vendored_contexts: ContextStore
) -> None:
    root = vendor_data / "credentials"
    document = without(json.loads((root / signed).read_text()), "proof")
    expected = (root / VECTORS[signed]).read_text()
    shaped = LinkedData(vendored_contexts, canonical_cache_bytes=0)
    before = copy.deepcopy(document)

    results = [shaped.canonicalize(document).nquads for _ in range(3)]

    assert shaped.shapes is not None
    assert shaped.shapes.reused == 1, "the third look must come from the template"
    assert results == [expected] * 3
    assert document == before, "canonicalisation must leave the document untouched"


# -- verdicts -----------------------------------------------------------------------------


def _signed(document: dict[str, Any], contexts: ContextStore, index: int) -> dict[str, Any]:
    return sign_eddsa_rdfc_2022(
        document,
        private_key=KEY,
        verification_method=did_key_method(DID),
        created=NOW - timedelta(days=1, seconds=index),
        loader=contexts,
    )


DID, KEY = generate_did_key_ed25519()


def _issued(number: int) -> dict[str, Any]:
    document = base_credential()
    document["id"] = f"urn:uuid:00000000-0000-4000-8000-{number:012d}"
    document["issuer"]["id"] = DID
    subject(document)["id"] = f"did:example:holder-{number}"
    return document


async def test_a_warm_template_never_lets_a_changed_credential_verify(
    bundled_contexts: ContextStore,
) -> None:
    async with FakeNetwork() as network, network.fetcher() as fetcher:
        verifier = Verifier(contexts=bundled_contexts, fetcher=fetcher)
        for number in range(3):
            signed = _signed(_issued(number), bundled_contexts, number)
            result = await verifier.verify(signed, now=NOW)
            assert result.verdict is Verdict.VERIFIED, result.checks
        shapes = verifier.linked_data.shapes
        assert shapes is not None
        assert shapes.reused >= 2, "later credentials (and their proofs) come from templates"

        signed = _signed(_issued(9), bundled_contexts, 9)
        for tamper in (
            _set("credentialSubject.id", "did:example:mallory"),
            _set("credentialSubject.name", "Mallory"),
            _set("credentialSubject.see", "ex:things/1"),
            _set("credentialSubject.kind", "Silver"),
            _set("credentialSubject.friend", "did:example:subject"),
        ):
            changed = copy.deepcopy(signed)
            tamper(changed)
            result = await verifier.verify(changed, now=NOW)
            proof = result.check(CheckId.PROOF)
            assert proof is not None
            assert proof.outcome is Outcome.FAIL, f"a changed credential verified: {changed}"
            assert result.verdict is Verdict.REJECTED

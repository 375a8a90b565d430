"""Bulk verification on a process pool gives exactly the verdicts of one-by-one verification."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from service.fetch import FetchPolicy
from service.verify import Holder, Verdict, Verifier
from service.verify.bulk import BulkSettings, BulkVerifier
from service.verify.contexts import ContextStore
from tests.verify.builders import Issuer
from tests.verify.conftest import NOW

pytestmark = pytest.mark.vendor_data


async def test_pool_matches_sequential_verification(
    vendored_contexts: ContextStore, vendored_contexts_dir: Path, verifier: Verifier
) -> None:
    issuer = Issuer.fresh(vendored_contexts)
    good = issuer.sign(issuer.ob3())
    tampered = json.loads(json.dumps(good))
    tampered["credentialSubject"]["achievement"]["name"] = "Something else"
    other_holder = issuer.sign(issuer.ob3(email="someone@example.org"))
    raws: list[bytes | str] = [
        json.dumps(good),
        json.dumps(tampered).encode(),
        "not a credential",
        json.dumps(other_holder),
    ] * 3
    holder = Holder(emails=("a@example.com",))
    expected = [await verifier.verify(raw, now=NOW, holder=holder) for raw in raws]

    settings = BulkSettings(contexts_dir=vendored_contexts_dir, fetch_policy=FetchPolicy())
    async with BulkVerifier(settings, processes=2) as bulk:
        results = await bulk.verify_many(raws, now=NOW, holder=holder, batch_size=3)
        again = await bulk.verify_many(raws[:4], now=NOW, holder=holder)

    assert [r.verdict for r in results] == [e.verdict for e in expected]
    assert [r.checks for r in results] == [e.checks for e in expected]
    assert [r.verdict for r in results[:4]] == [
        Verdict.VERIFIED,
        Verdict.REJECTED,
        Verdict.REJECTED,
        Verdict.REJECTED,
    ]
    assert [r.to_json() for r in again] == [r.to_json() for r in results[:4]]

"""Secrets at rest, API keys and signed links."""

from __future__ import annotations

import pytest

from service.security import apikeys
from service.security.links import LinkError, LinkSigner
from service.security.secrets import SecretBox, SecretDecryptionError

K1 = "k1-" + "x" * 40
K2 = "k2-" + "y" * 40


def test_secret_round_trip_and_ciphertext_hides_the_value() -> None:
    box = SecretBox([K1])
    sealed, key_id = box.seal({"api_key": "hunter2-secret"}, tenant_id="t1", connection_id="c1")
    assert b"hunter2" not in sealed
    assert box.open(sealed, key_id=key_id, tenant_id="t1", connection_id="c1") == {
        "api_key": "hunter2-secret"
    }


def test_ciphertext_moved_to_another_tenant_does_not_open() -> None:
    box = SecretBox([K1])
    sealed, key_id = box.seal({"api_key": "v"}, tenant_id="t1", connection_id="c1")
    with pytest.raises(SecretDecryptionError):
        box.open(sealed, key_id=key_id, tenant_id="t2", connection_id="c1")


def test_rotation_old_values_still_open_new_values_use_new_key() -> None:
    old = SecretBox([K1])
    sealed, key_id = old.seal({"api_key": "v"}, tenant_id="t", connection_id="c")
    rotated = SecretBox([K2, K1])
    assert rotated.open(sealed, key_id=key_id, tenant_id="t", connection_id="c") == {"api_key": "v"}
    _, new_id = rotated.seal({"api_key": "v"}, tenant_id="t", connection_id="c")
    assert new_id != key_id


def test_api_key_is_stored_only_as_a_keyed_hash() -> None:
    key = apikeys.generate(pepper=K1)
    assert key.token not in key.key_hash
    assert apikeys.prefix_of(key.token) == key.prefix
    assert apikeys.matches(key.token, key.key_hash, pepper=K1)
    assert not apikeys.matches(key.token + "x", key.key_hash, pepper=K1)
    assert not apikeys.matches(key.token, key.key_hash, pepper=K2)


def test_evidence_links_refuse_tampering_and_survive_rotation() -> None:
    token = LinkSigner([K1]).evidence_token(tenant_id="t", match_id="m")
    assert LinkSigner([K2, K1]).read_evidence_token(token) == ("t", "m")
    with pytest.raises(LinkError):
        LinkSigner([K1]).read_evidence_token(token[:-2] + "AA")
    with pytest.raises(LinkError):
        LinkSigner([K2]).read_evidence_token(token)

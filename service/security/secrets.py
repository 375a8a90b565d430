"""Connection secrets at rest: AES-256-GCM under a key derived from SECRET_KEY, bound to the row.

The associated data names the tenant and the connection, so a ciphertext copied into another
tenant's row fails to decrypt. `key_id` records which derived key sealed a value, so the secret
key can be rotated: decrypt with any known key, re-seal with the newest.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

NONCE_BYTES = 12


class SecretDecryptionError(Exception):
    """The stored secret cannot be opened with any configured key (wrong key or moved row)."""


def _derive(secret_key: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"skillproof/secrets-at-rest/v1", info=b"aes"
    ).derive(secret_key.encode())


def key_id_for(secret_key: str) -> str:
    return hashlib.sha256(_derive(secret_key)).hexdigest()[:16]


def _aad(tenant_id: str, connection_id: str) -> bytes:
    return f"skillproof|connections|{tenant_id}|{connection_id}".encode()


class SecretBox:
    """Seals and opens connection secrets. The first key seals; all keys open (for rotation)."""

    def __init__(self, secret_keys: Sequence[str]) -> None:
        if not secret_keys:
            raise ValueError("at least one secret key is needed")
        self._keys = {key_id_for(k): AESGCM(_derive(k)) for k in secret_keys}
        self.current_key_id = key_id_for(secret_keys[0])

    def seal(
        self, secrets: Mapping[str, str], *, tenant_id: str, connection_id: str
    ) -> tuple[bytes, str]:
        nonce = os.urandom(NONCE_BYTES)
        plaintext = json.dumps(dict(secrets), sort_keys=True).encode()
        sealed = self._keys[self.current_key_id].encrypt(
            nonce, plaintext, _aad(tenant_id, connection_id)
        )
        return nonce + sealed, self.current_key_id

    def open(
        self, ciphertext: bytes, *, key_id: str, tenant_id: str, connection_id: str
    ) -> dict[str, str]:
        aead = self._keys.get(key_id)
        if aead is None:
            raise SecretDecryptionError(f"no configured secret key matches key id {key_id}")
        try:
            plaintext = aead.decrypt(
                ciphertext[:NONCE_BYTES], ciphertext[NONCE_BYTES:], _aad(tenant_id, connection_id)
            )
        except InvalidTag as exc:
            raise SecretDecryptionError(
                "stored secret does not belong to this connection or was altered"
            ) from exc
        value = json.loads(plaintext)
        return {str(k): str(v) for k, v in value.items()}

"""Credentials issued at test time with service.verify.issuing (real keys, real signatures)."""

from __future__ import annotations

import copy
import json
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from joserfc import jws
from joserfc.errors import SecurityWarning
from joserfc.jwk import OKPKey

from service.verify.issuing import (
    did_key_method,
    generate_did_key_ed25519,
    hashed_email_identifier,
    make_status_list_credential,
    sign_eddsa_jcs_2022,
    sign_eddsa_rdfc_2022,
    status_entry,
)
from service.verify.jsonld import ContextSource
from tests.verify.conftest import NOW

VC2 = "https://www.w3.org/ns/credentials/v2"
OB3 = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
STATUS_URL = "https://status.issuer.example/lists/1"


@dataclass
class Issuer:
    did: str
    key: Ed25519PrivateKey
    contexts: ContextSource
    name: str = "Example Institute of Technology"
    signed: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def fresh(cls, contexts: ContextSource) -> Issuer:
        did, key = generate_did_key_ed25519()
        return cls(did=did, key=key, contexts=contexts)

    @property
    def method(self) -> str:
        return did_key_method(self.did)

    def ob3(
        self,
        *,
        email: str = "a@example.com",
        salt: str = "Kosher",
        valid_from: datetime | None = None,
        valid_until: datetime | None = None,
        status_index: int | None = None,
        extra_subject: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """An unsigned OB 3.0 credential for the holder of `email` (salted hash)."""
        credential: dict[str, Any] = {
            "@context": [VC2, OB3],
            "id": "urn:uuid:2d0d8c4e-9a0e-4a43-8b53-0d2b3c1f0a11",
            "type": ["VerifiableCredential", "OpenBadgeCredential"],
            "issuer": {"id": self.did, "type": ["Profile"], "name": self.name},
            "validFrom": (valid_from or NOW - timedelta(days=30)).isoformat(),
            "name": "Data Analysis with Python",
            "credentialSubject": {
                "type": ["AchievementSubject"],
                "identifier": [hashed_email_identifier(email, salt)],
                "achievement": {
                    "id": "https://issuer.example/achievements/python-data",
                    "type": ["Achievement"],
                    "achievementType": "MicroCredential",
                    "name": "Data Analysis with Python",
                    "description": "Cleans, analyses and visualises data sets with pandas.",
                    "criteria": {"narrative": "Passed a proctored practical assessment."},
                    "tag": ["python", "pandas"],
                    "alignment": [
                        {
                            "type": ["Alignment"],
                            "targetName": "use spreadsheets software",
                            "targetUrl": "http://data.europa.eu/esco/skill/1973c966-f236-40c9-b2d4-5d71a89019be",
                            "targetType": "ceasn:Competency",
                            "targetFramework": "ESCO",
                        },
                        {
                            "type": ["Alignment"],
                            "targetName": "EQF level 5",
                            "targetUrl": "http://data.europa.eu/snb/eqf/5",
                            "targetType": "ext:EQF",
                            "targetCode": "5",
                        },
                    ],
                },
            },
        }
        if extra_subject:
            credential["credentialSubject"].update(extra_subject)
        if valid_until is not None:
            credential["validUntil"] = valid_until.isoformat()
        if status_index is not None:
            credential["credentialStatus"] = status_entry(STATUS_URL, status_index)
        return credential

    def sign(self, credential: dict[str, Any], *, suite: str = "eddsa-rdfc-2022") -> dict[str, Any]:
        signer = sign_eddsa_rdfc_2022 if suite == "eddsa-rdfc-2022" else sign_eddsa_jcs_2022
        signed = signer(
            copy.deepcopy(credential),
            private_key=self.key,
            verification_method=self.method,
            created=NOW - timedelta(days=30),
            loader=self.contexts,
        )
        self.signed.append(signed)
        return signed

    def status_list(
        self, revoked: list[int], *, url: str = STATUS_URL, **options: Any
    ) -> dict[str, Any]:
        """The issuer's signed status list; `options` go to make_status_list_credential."""
        return make_status_list_credential(
            url=url,
            issuer=self.did,
            private_key=self.key,
            verification_method=self.method,
            revoked_indexes=revoked,
            created=NOW - timedelta(days=1),
            loader=self.contexts,
            **options,
        )


def eddsa_jwt(issuer: Issuer, payload: dict[str, Any], *, header: dict[str, Any]) -> str:
    """A compact JWS of `payload`, signed EdDSA with the issuer's key."""
    key = OKPKey.import_key(issuer.key)  # type: ignore[arg-type]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SecurityWarning)  # "EdDSA" is still what issuers send
        return jws.serialize_compact(
            {"alg": "EdDSA", **header}, json.dumps(payload).encode(), key, algorithms=["EdDSA"]
        )

"""The demo issuer: a did:key that signs OB 3.0 credentials and serves its revocation list."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from service.demo.people import DemoAchievement, DemoCredential
from service.verify import issuing
from service.verify.contexts import ContextStore
from service.verify.keys import ed25519_to_multikey

VC_V2 = "https://www.w3.org/ns/credentials/v2"
OB_V3 = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
STARTER_BASE = "https://skillproof.dev/taxonomies/skillproof-starter/"
STATUS_LIST_PATH = "/demo-issuer/status/1"
STATUS_LIST_LENGTH = 131_072


@dataclass(frozen=True, kw_only=True, slots=True)
class DemoIssuer:
    key: str
    name: str
    private_key: Ed25519PrivateKey

    @property
    def did(self) -> str:
        return f"did:key:{ed25519_to_multikey(self.private_key.public_key())}"

    @property
    def verification_method(self) -> str:
        return issuing.did_key_method(self.did)


def demo_issuers(secret: str) -> dict[str, DemoIssuer]:
    """Deterministic keys, so a restarted demo keeps the same issuer DIDs."""
    issuers = {}
    for key, name in (
        ("northbridge", "Northbridge Institute of Technology"),
        ("cloudskills", "Cloud Skills Academy"),
    ):
        seed = hashlib.sha256(f"skillproof-demo-issuer/{key}/{secret}".encode()).digest()
        issuers[key] = DemoIssuer(
            key=key, name=name, private_key=Ed25519PrivateKey.from_private_bytes(seed)
        )
    return issuers


def _achievement(achievement: DemoAchievement, labels: dict[str, str]) -> dict[str, Any]:
    slug = achievement.name.lower().replace(" ", "-")
    body: dict[str, Any] = {
        "id": f"https://northbridge.example/achievements/{slug}",
        "type": ["Achievement"],
        "name": achievement.name,
        "description": achievement.description,
        "criteria": {"narrative": achievement.criteria},
        "achievementType": achievement.achievement_type,
    }
    if achievement.skills:
        body["alignment"] = [
            {
                "type": ["Alignment"],
                "targetName": labels.get(skill, skill),
                "targetUrl": STARTER_BASE + skill.removeprefix("sp:"),
                "targetCode": skill,
                "targetFramework": "Skillproof starter taxonomy",
            }
            for skill in achievement.skills
        ]
    if achievement.tags:
        body["tag"] = list(achievement.tags)
    return body


def issue(
    credential: DemoCredential,
    *,
    issuer: DemoIssuer,
    email: str,
    now: datetime,
    status_url: str,
    status_index: int,
    labels: dict[str, str],
    contexts: ContextStore,
) -> bytes:
    """Sign one demo credential; the bytes are exactly what the candidate submits."""
    subject_email = "someone.else@example.org" if credential.defect == "other_email" else email
    salt = uuid.uuid5(uuid.NAMESPACE_URL, f"{email}/{credential.achievement.name}").hex[:12]
    valid_from = now - timedelta(days=200)
    document: dict[str, Any] = {
        "@context": [VC_V2, OB_V3],
        "id": f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, salt + issuer.key)}",
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "name": credential.achievement.name,
        "issuer": {"id": issuer.did, "type": ["Profile"], "name": issuer.name},
        "validFrom": valid_from.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "credentialSubject": {
            "type": ["AchievementSubject"],
            "identifier": [issuing.hashed_email_identifier(subject_email, salt)],
            "achievement": _achievement(credential.achievement, labels),
        },
        "credentialStatus": issuing.status_entry(status_url, status_index),
    }
    if credential.defect == "expired":
        document["validUntil"] = (now - timedelta(days=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    signed = issuing.sign_eddsa_rdfc_2022(
        document,
        private_key=issuer.private_key,
        verification_method=issuer.verification_method,
        created=valid_from,
        loader=contexts,
    )
    if credential.defect == "tampered":
        # Altered after signing: the proof no longer covers what the document says.
        signed["credentialSubject"]["achievement"]["name"] = (
            "Advanced " + credential.achievement.name
        )
    return json.dumps(signed, indent=2).encode()


def status_list_credential(
    *,
    issuer: DemoIssuer,
    status_url: str,
    revoked: set[int],
    now: datetime,
    contexts: ContextStore,
) -> dict[str, Any]:
    return issuing.make_status_list_credential(
        url=status_url,
        issuer=issuer.did,
        private_key=issuer.private_key,
        verification_method=issuer.verification_method,
        revoked_indexes=sorted(revoked),
        length=STATUS_LIST_LENGTH,
        created=now - timedelta(days=365),
        loader=contexts,
    )


class IssuerSite:
    """Serves the demo issuer's signed revocation list once seeding has produced it."""

    def __init__(self) -> None:
        self.document: bytes | None = None

    def publish(self, document: dict[str, Any]) -> None:
        self.document = json.dumps(document).encode()

    def app(self) -> web.Application:
        app = web.Application()

        async def status_list(request: web.Request) -> web.Response:
            if self.document is None:
                raise web.HTTPServiceUnavailable(text="the demo issuer is starting")
            return web.Response(
                body=self.document,
                content_type="application/json",
                headers={"Cache-Control": "max-age=60"},
            )

        app.router.add_get("/status/1", status_list)
        return app

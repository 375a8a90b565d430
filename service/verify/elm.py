"""European Digital Credentials (ELM 3): read the credential, report the JAdES seal as unverified.

An EDC is sealed with JAdES (JWS JSON, RS256, an x5c qualified eSeal, timestamps). Checking it
means JAdES plus an X.509 chain to the EU trusted lists, which Skillproof does not do yet: the
proof is reported as a warning and the issuer as not established, so an EDC is never
`verified` on the strength of an unchecked seal.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from cryptography import x509

from service.verify.dataintegrity import ProofReport
from service.verify.policy import Holder, VerifyPolicy
from service.verify.result import Outcome, VerificationResult
from service.verify.vc import Envelope, VcPipeline


def seal_signer(signatures: Sequence[Mapping[str, Any]]) -> str | None:
    """The subject of the sealing certificate (x5c leaf), for the report only."""
    for signature in signatures:
        protected = signature.get("protected")
        if not isinstance(protected, str):
            continue
        try:
            header = json.loads(base64.urlsafe_b64decode(protected + "=" * (-len(protected) % 4)))
            chain = header.get("x5c") if isinstance(header, dict) else None
            if isinstance(chain, list) and chain and isinstance(chain[0], str):
                certificate = x509.load_der_x509_certificate(base64.b64decode(chain[0]))
                return certificate.subject.rfc4514_string()
        except (ValueError, binascii.Error, TypeError):
            continue
    return None


async def verify_sealed(
    document: Mapping[str, Any],
    signatures: Sequence[Mapping[str, Any]],
    *,
    pipeline: VcPipeline,
    now: datetime,
    holder: Holder | None,
    policy: VerifyPolicy,
) -> VerificationResult:
    signer = seal_signer(signatures)
    by = f" (sealed by {signer})" if signer else ""
    seal = ProofReport(
        suite="JAdES",
        verification_method=None,
        outcome=Outcome.WARN,
        detail=f"JAdES seal not verified{by}: the content and issuer are not proven",
    )
    return await pipeline.verify(
        document,
        now=now,
        holder=holder,
        policy=policy,
        parse_detail="European Digital Credential (JAdES-sealed JWS JSON)",
        envelope=Envelope(proofs=(seal,)),
    )

"""Skillproof's credential verification engine: proofs, keys, status, dates, holder and issuer.

verifier = Verifier(contexts=ContextStore.from_settings(settings), fetcher=fetcher)
result = await verifier.verify(raw, now=now, holder=Holder(emails=("a@example.com",)))
result.verdict  # verified | rejected | indeterminate, with one CheckResult per check
"""

from __future__ import annotations

from service.verify.engine import Verifier
from service.verify.policy import Holder, VerifyPolicy
from service.verify.result import (
    Achievement,
    Alignment,
    CheckId,
    CheckResult,
    IssuerInfo,
    IssuerTier,
    Outcome,
    Verdict,
    VerificationResult,
)

__all__ = [
    "Achievement",
    "Alignment",
    "CheckId",
    "CheckResult",
    "Holder",
    "IssuerInfo",
    "IssuerTier",
    "Outcome",
    "Verdict",
    "VerificationResult",
    "Verifier",
    "VerifyPolicy",
]

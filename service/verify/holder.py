"""Is this credential the candidate's? Recipient identifiers compared with verified ones.

OB 3.0 names its recipient by `credentialSubject.id` and/or `identifier[]` IdentityObjects,
OB 2.0 by `recipient`; either may be hashed as "sha256$" + hex(sha256(identity + salt)).
Salted hashes are only as strong as the identity is hard to guess, so a match proves the
credential was issued to that identifier, nothing more.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from service.verify.policy import Holder
from service.verify.result import CheckId, CheckResult, Outcome

_KIND_BY_TYPE = {
    "emailaddress": "email",
    "email": "email",
    "url": "url",
    "telephone": "phone",
    "phone": "phone",
    "phonenumber": "phone",
    "did": "did",
    "id": "id",
}
_KIND_LABEL = {"email": "email address", "url": "URL", "phone": "telephone number", "did": "DID"}


@dataclass(frozen=True, kw_only=True, slots=True)
class RecipientClaim:
    """One way the credential names its recipient."""

    kind: str  # email | url | phone | did | id | other:<type>
    identity: str
    hashed: bool
    salt: str


def recipient_claims(document: Mapping[str, Any]) -> list[RecipientClaim]:
    """Every recipient identifier an OB 2.0 assertion or a VC subject carries."""
    claims: list[RecipientClaim] = []
    recipient = document.get("recipient")
    if isinstance(recipient, Mapping):
        claims.append(_claim(recipient.get("type"), recipient))
    subjects = document.get("credentialSubject")
    for subject in subjects if isinstance(subjects, list) else [subjects]:
        if not isinstance(subject, Mapping):
            continue
        subject_id = subject.get("id")
        if isinstance(subject_id, str) and subject_id:
            claims.append(
                RecipientClaim(
                    kind=_id_kind(subject_id), identity=subject_id, hashed=False, salt=""
                )
            )
        identifiers = subject.get("identifier")
        for item in identifiers if isinstance(identifiers, list) else [identifiers]:
            if isinstance(item, Mapping):
                claims.append(_claim(item.get("identityType"), item))
        # ELM (European Digital Credentials): contactPoint.emailAddress = {"id": "mailto:..."}
        for contact in _items(subject.get("contactPoint")):
            for mailbox in _items(
                contact.get("emailAddress") if isinstance(contact, Mapping) else None
            ):
                address = mailbox.get("id") if isinstance(mailbox, Mapping) else mailbox
                if isinstance(address, str) and address.lower().startswith("mailto:"):
                    claims.append(
                        RecipientClaim(kind="email", identity=address, hashed=False, salt="")
                    )
    return [c for c in claims if c.identity]


def _items(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _claim(type_: Any, data: Mapping[str, Any]) -> RecipientClaim:
    kind = _KIND_BY_TYPE.get(str(type_).lower(), f"other:{type_}")
    identity = data.get("identity", data.get("identityHash"))
    hashed = data.get("hashed")
    salt = data.get("salt")
    return RecipientClaim(
        kind=kind,
        identity=identity if isinstance(identity, str) else "",
        hashed=hashed is True or (isinstance(hashed, str) and hashed.lower() == "true"),
        salt=salt if isinstance(salt, str) else "",
    )


def _id_kind(identifier: str) -> str:
    lowered = identifier.lower()
    if lowered.startswith("did:"):
        return "did"
    if lowered.startswith("mailto:"):
        return "email"
    if lowered.startswith("tel:"):
        return "phone"
    if lowered.startswith(("https://", "http://")):
        return "url"
    return "id"


def _normalise(kind: str, value: str) -> list[str]:
    value = value.strip()
    if kind == "email":
        bare = value[7:] if value.lower().startswith("mailto:") else value
        return list(dict.fromkeys([bare, bare.lower()]))
    if kind == "phone":
        bare = value[4:] if value.lower().startswith("tel:") else value
        return list(dict.fromkeys([bare, bare.replace(" ", "")]))
    return [value]


def _matches(claim: RecipientClaim, candidate: str) -> bool:
    for plain in _normalise(claim.kind, candidate):
        if not claim.hashed:
            target = _normalise(claim.kind, claim.identity)
            if plain in target or (claim.kind == "email" and plain.lower() in target):
                return True
            continue
        algorithm, _, digest = claim.identity.partition("$")
        if algorithm.lower() == "sha256":
            computed = hashlib.sha256((plain + claim.salt).encode()).hexdigest()
        elif algorithm.lower() == "md5":
            computed = hashlib.md5((plain + claim.salt).encode(), usedforsecurity=False).hexdigest()
        else:
            continue
        if hmac.compare_digest(computed, digest.lower()):
            return True
    return False


def _holder_values(holder: Holder, kind: str) -> Iterable[str]:
    return {
        "email": holder.emails,
        "url": holder.urls,
        "phone": holder.phones,
        "did": holder.dids,
        # A bare subject id may be any of them (an email without mailto:, a URL...).
        "id": holder.emails + holder.urls + holder.phones + holder.dids,
    }.get(kind, ())


def check_holder(document: Mapping[str, Any], holder: Holder | None) -> CheckResult:
    """pass: issued to one of the candidate's identifiers; fail: issued to someone else."""
    if holder is None or holder.is_empty:
        return CheckResult(
            id=CheckId.HOLDER, outcome=Outcome.WARN, detail="no holder identifiers to compare"
        )
    claims = recipient_claims(document)
    compared: list[RecipientClaim] = []
    for claim in claims:
        candidates = list(_holder_values(holder, claim.kind))
        if not candidates:
            continue
        if claim.kind != "id":
            compared.append(claim)
        for candidate in candidates:
            if _matches(claim, candidate):
                how = (
                    "hashed with salt"
                    if claim.hashed and claim.salt
                    else ("hashed" if claim.hashed else "in clear")
                )
                label = _KIND_LABEL.get(claim.kind, "identifier")
                return CheckResult(
                    id=CheckId.HOLDER,
                    outcome=Outcome.PASS,
                    detail=f"issued to the candidate's verified {label} {candidate} ({how})",
                )
    if compared:
        kinds = sorted({_KIND_LABEL.get(c.kind, c.kind) for c in compared})
        return CheckResult(
            id=CheckId.HOLDER,
            outcome=Outcome.FAIL,
            detail="issued to someone else: its recipient "
            + " / ".join(kinds)
            + " matches none of the candidate's verified identifiers",
        )
    if not claims:
        detail = "the credential does not name its recipient, so it cannot be tied to the candidate"
    else:
        named = sorted({c.kind.removeprefix("other:") for c in claims})
        detail = (
            "cannot tell whether it was issued to the candidate: it names its recipient by "
            + ", ".join(named)
            + ", and the candidate has no verified identifier of that kind"
        )
    return CheckResult(id=CheckId.HOLDER, outcome=Outcome.UNKNOWN, detail=detail)

"""What the caller brings to a verification: the candidate's verified identifiers and the policy."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from types import MappingProxyType

from service.verify.result import IssuerTier


@dataclass(frozen=True, kw_only=True, slots=True)
class Holder:
    """The candidate's VERIFIED identifiers (confirmed email, DID proven by a presentation...)."""

    emails: tuple[str, ...] = ()
    dids: tuple[str, ...] = ()
    urls: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not (self.emails or self.dids or self.urls or self.phones)


def _no_issuers() -> Mapping[str, IssuerTier]:
    return MappingProxyType({})


@dataclass(frozen=True, kw_only=True, slots=True)
class VerifyPolicy:
    """How strict a verification is; the defaults are the product's."""

    clock_skew: timedelta = timedelta(seconds=300)
    # Reject documents with terms their contexts do not define (they are not signed).
    safe_mode: bool = True
    # Issuer id -> tier; an issuer is only given its tier when the signing key is bound to it.
    trusted_issuers: Mapping[str, IssuerTier] = field(default_factory=_no_issuers)
    min_status_list_entries: int = 131_072

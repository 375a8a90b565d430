"""The one outbound HTTP client for untrusted URLs: SSRF guard, redirect, size, time and type caps.

Every URL that a credential, a candidate or an issuer supplies is fetched through
`GuardedFetcher`; `FetchPolicy.from_settings` builds the production limits, and
SKILLPROOF_FETCH_ALLOW exempts on-premises hosts and networks.
"""

from __future__ import annotations

from service.fetch.client import FetchedDocument, GuardedFetcher
from service.fetch.errors import (
    BlockedURL,
    FetchConnectionError,
    FetchError,
    FetchTimeout,
    FetchTooLarge,
    FetchTooManyRedirects,
    FetchUnsupportedType,
)
from service.fetch.policy import (
    DEFAULT_CONTENT_TYPES,
    CheckedURL,
    FetchPolicy,
    address_refusal,
    check_url,
    parse_address,
)

__all__ = [
    "DEFAULT_CONTENT_TYPES",
    "BlockedURL",
    "CheckedURL",
    "FetchConnectionError",
    "FetchError",
    "FetchPolicy",
    "FetchTimeout",
    "FetchTooLarge",
    "FetchTooManyRedirects",
    "FetchUnsupportedType",
    "FetchedDocument",
    "GuardedFetcher",
    "address_refusal",
    "check_url",
    "parse_address",
]

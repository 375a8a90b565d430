"""Errors raised by the guarded fetcher; each one's str() is a reason a user can read.

FetchError                  base: the document could not be fetched safely
├── BlockedURL              scheme, host, port or address refused before or while connecting
├── FetchTooManyRedirects   more redirect hops than the policy allows
├── FetchTooLarge           the decompressed body went past the byte cap
├── FetchTimeout            connect, read or total time limit reached
├── FetchUnsupportedType    the response's Content-Type is not one the caller accepts
└── FetchConnectionError    the host could not be reached or spoke broken HTTP/TLS
"""

from __future__ import annotations


class FetchError(Exception):
    """The document could not be fetched safely; str() says why in plain words."""


class BlockedURL(FetchError):
    """The URL's scheme, host, port or resolved address is refused by the fetch policy."""


class FetchTooManyRedirects(FetchError):
    """The server redirected more times than the policy allows (or in a loop)."""


class FetchTooLarge(FetchError):
    """The body, counted after decompression, is larger than the cap."""


class FetchTimeout(FetchError):
    """Connecting, waiting for data or the whole fetch took longer than allowed."""


class FetchUnsupportedType(FetchError):
    """The response's media type is not in the accepted list."""


class FetchConnectionError(FetchError):
    """DNS, TCP, TLS or HTTP protocol failure: the host is unreachable or misbehaving."""

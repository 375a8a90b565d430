"""The errors a connector may raise: the only exceptions that cross the connector boundary.

Callers decide what to do from the class alone, never from aiohttp internals:

    ConnectorError                  anything a connector reports
     ├── TransientError             try again later (timeouts, connection resets, 408, 425,
     │                              429, 5xx); `retry_after` says when, if anyone knows
     ├── AuthError                  a human must fix the credentials (401, 403, missing key);
     │                              retrying will not help
     └── PermanentError             this request will never succeed as sent (other 4xx,
                                    malformed data, unexpected redirects); dead-letter it

Every message is redacted before it is stored on the exception: it never holds an API key,
a token or an Authorization header, so exceptions can be logged and persisted as they are.
"""

from __future__ import annotations

__all__ = ["AuthError", "ConnectorError", "PermanentError", "TransientError"]


class ConnectorError(Exception):
    """Base class of every error a connector raises.

    `status` is the HTTP status that caused it, when there was one.
    """

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class TransientError(ConnectorError):
    """The remote system could not serve the request now; the same request may succeed later.

    `retry_after` is how many seconds to wait before trying again: the server's own
    Retry-After (or rate-limit reset) when it sent one, otherwise the connector's suggestion,
    or None when nobody has an opinion.
    """

    def __init__(
        self, message: str, *, retry_after: float | None = None, status: int | None = None
    ) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class AuthError(ConnectorError):
    """The credentials are missing, wrong, expired or lack permission (401/403)."""


class PermanentError(ConnectorError):
    """The request is wrong or the data is malformed; repeating it cannot succeed.

    `body_excerpt` is a short, redacted start of the response body, for the dead-letter record.
    """

    def __init__(self, message: str, *, status: int | None = None, body_excerpt: str = "") -> None:
        super().__init__(message, status=status)
        self.body_excerpt = body_excerpt

"""Service errors. Each carries the HTTP status and a message safe to show to the caller.

ServiceError
├── BadRequest (400)
│   └── UnsupportedCredential (415)
├── PayloadTooLarge (413)
├── Unauthorized (401)
├── Forbidden (403)
├── NotFound (404)  - also what another tenant's object looks like
│   └── LinkExpired (410)  - a signed link that was genuine but is past its age
├── Conflict (409)
└── ServiceUnavailable (503)  - e.g. the database schema was never migrated
"""

from __future__ import annotations

__all__ = [
    "BadRequest",
    "Conflict",
    "Forbidden",
    "LinkExpired",
    "NotFound",
    "PayloadTooLarge",
    "ServiceError",
    "ServiceUnavailable",
    "Unauthorized",
    "UnsupportedCredential",
]


class ServiceError(Exception):
    status = 500
    title = "Internal error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class BadRequest(ServiceError):
    status = 400
    title = "Bad request"


class UnsupportedCredential(BadRequest):
    status = 415
    title = "Unsupported credential format"


class PayloadTooLarge(ServiceError):
    status = 413
    title = "Payload too large"


class Unauthorized(ServiceError):
    status = 401
    title = "Unauthorized"


class Forbidden(ServiceError):
    status = 403
    title = "Forbidden"


class NotFound(ServiceError):
    status = 404
    title = "Not found"


class Conflict(ServiceError):
    status = 409
    title = "Conflict"


class LinkExpired(NotFound):
    status = 410
    title = "Link expired"


class ServiceUnavailable(ServiceError):
    status = 503
    title = "Service unavailable"

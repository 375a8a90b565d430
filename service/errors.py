"""Service errors. Each carries the HTTP status and a message safe to show to the caller.

ServiceError
├── BadRequest (400)
│   └── UnsupportedCredential (415)
├── PayloadTooLarge (413)
├── Unauthorized (401)
├── Forbidden (403)
├── NotFound (404)  - also what another tenant's object looks like
└── Conflict (409)
"""

from __future__ import annotations

__all__ = [
    "BadRequest",
    "Conflict",
    "Forbidden",
    "NotFound",
    "PayloadTooLarge",
    "ServiceError",
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

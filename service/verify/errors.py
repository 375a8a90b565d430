"""Exceptions raised inside the verification engine; verify() turns every one into a check result.

    VerificationError                 something about this credential could not be established
     ├── MalformedCredential          the input is not a credential we can read (parse fails)
     ├── ContextError                 JSON-LD processing refused the document
     │    ├── UnknownContextError     an @context URL is not in the pinned store (never fetched)
     │    └── UnsafeDocumentError     safe mode: a property or type the contexts do not define
     ├── CanonicalizationLimit        the document exceeds the size, blank-node or time budget
     ├── KeyResolutionError           a verification method could not be dereferenced
     └── StatusError                  a status list could not be used

`infrastructure=True` on the last two means "unreachable": the check is unknown, never pass.
`transient=True` on StatusError means trying again later may well work (timeout, refused
connection, 5xx, 429), so a recently verified copy of the list may stand in.
"""

from __future__ import annotations


class VerificationError(Exception):
    """Base class: the message is the human detail shown in the check result."""


class MalformedCredential(VerificationError):
    """The input could not be read as any supported credential format."""


class ContextError(VerificationError):
    """JSON-LD processing of the document failed."""


class UnknownContextError(ContextError):
    """An @context URL is not pinned locally; it is never fetched from the network."""

    def __init__(self, urls: tuple[str, ...], reason: str = "") -> None:
        self.urls = urls
        listed = ", ".join(urls)
        suffix = f" ({reason})" if reason else ""
        super().__init__(
            f"unknown JSON-LD context {listed}: not in the pinned context store, not fetched"
            + suffix
        )


class UnsafeDocumentError(ContextError):
    """Safe mode: terms the contexts do not define would be silently dropped from the proof."""

    def __init__(self, problems: tuple[str, ...]) -> None:
        self.problems = problems
        super().__init__(
            "safe mode: "
            + "; ".join(problems)
            + " (not covered by the signature: JSON-LD would drop it)"
        )


class CanonicalizationLimit(VerificationError):
    """The document is too large or too costly to canonicalise safely."""


class KeyResolutionError(VerificationError):
    """The verification method or its controller document could not be used."""

    def __init__(self, message: str, *, infrastructure: bool = False) -> None:
        self.infrastructure = infrastructure
        super().__init__(message)


class StatusError(VerificationError):
    """A status list could not be fetched, verified or decoded."""

    def __init__(
        self, message: str, *, infrastructure: bool = True, transient: bool = False
    ) -> None:
        self.infrastructure = infrastructure
        self.transient = transient
        super().__init__(message)

"""The Verifier: one honest VerificationResult per input, whatever the input is.

parse -> (format) -> context/safe mode -> schema -> proof -> issuer binding -> dates -> status ->
holder -> issuer trust. A malformed input never raises out of `verify()`: it is a rejected
result whose `parse` check failed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Protocol

from service.verify import elm, jwt
from service.verify.backoff import DEFAULT_BACKOFF_SECONDS, Backoff
from service.verify.checks import SchemaSource
from service.verify.dids import KeyResolver
from service.verify.errors import MalformedCredential
from service.verify.jsonld import CanonicalLimits, ContextSource, LinkedData
from service.verify.kept import DEFAULT_STALE_IF_ERROR
from service.verify.ob2 import Ob2Verifier, is_ob2, is_ob2_token
from service.verify.parse import InputKind, ParsedInput, parse_input
from service.verify.policy import Holder, VerifyPolicy
from service.verify.remote import Fetcher, RemoteDocumentError, fetch_document
from service.verify.result import (
    CheckId,
    CheckResult,
    IssuerInfo,
    Outcome,
    Verdict,
    VerificationResult,
)
from service.verify.status import StatusChecker
from service.verify.vc import VcPipeline

logger = logging.getLogger(__name__)

DEFAULT_MAX_INPUT_BYTES = 2_000_000
CREDENTIAL_MEDIA_TYPES = (
    "application/json",
    "application/ld+json",
    "application/vc+ld+json",
    "application/vc",
    "application/vc+jwt",
    "application/jwt",
    "text/plain",
    "image/png",
    "image/svg+xml",
)


class ContextStoreLike(ContextSource, SchemaSource, Protocol):
    """The parts of service.verify.contexts.ContextStore the engine uses."""


def rejected(
    detail: str, *, check_id: CheckId = CheckId.PARSE, fmt: str = "unknown"
) -> VerificationResult:
    return VerificationResult(
        verdict=Verdict.REJECTED,
        format=fmt,
        checks=(CheckResult(id=check_id, outcome=Outcome.FAIL, detail=detail),),
        issuer=IssuerInfo(id=None, name=None),
    )


def indeterminate(detail: str, *, check_id: CheckId = CheckId.PARSE) -> VerificationResult:
    return VerificationResult(
        verdict=Verdict.INDETERMINATE,
        format="unknown",
        checks=(CheckResult(id=check_id, outcome=Outcome.UNKNOWN, detail=detail),),
        issuer=IssuerInfo(id=None, name=None),
    )


class Verifier:
    """Verifies credentials; one instance per process (it holds the warm caches)."""

    def __init__(
        self,
        *,
        contexts: ContextStoreLike,
        fetcher: Fetcher,
        status_cache_ttl: float = 300.0,
        status_stale_if_error: float = DEFAULT_STALE_IF_ERROR,
        fetch_backoff: float = DEFAULT_BACKOFF_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        limits: CanonicalLimits | None = None,
        max_input_bytes: int = DEFAULT_MAX_INPUT_BYTES,
        canonical_cache_bytes: int = 16 * 1024 * 1024,
        linked_data: LinkedData | None = None,
    ) -> None:
        self._fetcher = fetcher
        self._max_input_bytes = max_input_bytes
        # A LinkedData may be shared between verifiers (a worker's successive event loops).
        self.linked_data = linked_data or LinkedData(
            contexts, limits=limits, canonical_cache_bytes=canonical_cache_bytes
        )
        # `clock` (monotonic seconds) ages the key and status-list caches and the back-off;
        # tests move it by hand. `status_stale_if_error` bounds kept key and issuer documents
        # too: both answer "how long may an issuer's outage be bridged" (one setting).
        self.backoff = Backoff(seconds=fetch_backoff, clock=clock)
        self.keys = KeyResolver(
            fetcher,
            cache_ttl=status_cache_ttl,
            stale_if_error=status_stale_if_error,
            backoff=self.backoff,
            clock=clock,
        )
        self.status = StatusChecker(
            fetcher,
            cache_ttl=status_cache_ttl,
            stale_if_error=status_stale_if_error,
            backoff=self.backoff,
            clock=clock,
        )
        self.pipeline = VcPipeline(
            linked_data=self.linked_data, keys=self.keys, status=self.status, schemas=contexts
        )
        self.ob2 = Ob2Verifier(
            fetcher=fetcher,
            linked_data=self.linked_data,
            stale_if_error=status_stale_if_error,
            backoff=self.backoff,
            clock=clock,
        )

    async def verify(
        self,
        raw: bytes | str | Mapping[str, Any],
        *,
        now: datetime,
        holder: Holder | None = None,
        policy: VerifyPolicy = VerifyPolicy(),  # noqa: B008 - frozen, shared safely
        media_type: str | None = None,
    ) -> VerificationResult:
        """Verify one credential given as JSON (bytes, text or parsed), JWT, PNG, SVG or URL."""
        if now.tzinfo is None:
            raise ValueError("now must be an aware datetime")
        try:
            parsed = parse_input(raw, media_type=media_type, max_bytes=self._max_input_bytes)
        except MalformedCredential as exc:
            return rejected(str(exc))
        return await self._verify_guarded(parsed, now=now, holder=holder, policy=policy)

    async def verify_url(
        self,
        url: str,
        *,
        now: datetime,
        holder: Holder | None = None,
        policy: VerifyPolicy = VerifyPolicy(),  # noqa: B008 - frozen, shared safely
    ) -> VerificationResult:
        """Fetch a credential through the guard, then verify what came back."""
        parsed = ParsedInput(kind=InputKind.URL, container="url", url=url.strip())
        return await self._verify_guarded(parsed, now=now, holder=holder, policy=policy)

    async def _verify_guarded(
        self,
        parsed: ParsedInput,
        *,
        now: datetime,
        holder: Holder | None,
        policy: VerifyPolicy,
    ) -> VerificationResult:
        """Never raises: malformed input is rejected, an internal defect is indeterminate."""
        try:
            return await self._verify_parsed(parsed, now=now, holder=holder, policy=policy, depth=0)
        except MalformedCredential as exc:
            return rejected(str(exc))
        except Exception:
            # A defect here must not take down a sync run; the credential is not trusted.
            logger.exception("verification failed unexpectedly")
            return indeterminate("verification could not be completed (internal error)")

    async def _verify_parsed(
        self,
        parsed: ParsedInput,
        *,
        now: datetime,
        holder: Holder | None,
        policy: VerifyPolicy,
        depth: int,
    ) -> VerificationResult:
        if parsed.kind is InputKind.URL:
            return await self._from_url(parsed, now=now, holder=holder, policy=policy, depth=depth)
        if parsed.kind is InputKind.JWT:
            return await self._from_jwt(parsed, now=now, holder=holder, policy=policy, depth=depth)
        if parsed.kind is InputKind.JWS_JSON:
            return await self._from_jws_json(parsed, now=now, holder=holder, policy=policy)
        assert parsed.document is not None
        return await self._from_json(parsed, now=now, holder=holder, policy=policy, depth=depth)

    async def _from_json(
        self,
        parsed: ParsedInput,
        *,
        now: datetime,
        holder: Holder | None,
        policy: VerifyPolicy,
        depth: int,
    ) -> VerificationResult:
        document = parsed.document
        assert document is not None
        if is_ob2(document):
            return await self.ob2.verify_json(
                document, now=now, holder=holder, policy=policy, container=parsed.container
            )
        return await self.pipeline.verify(
            document,
            now=now,
            holder=holder,
            policy=policy,
            parse_detail=f"JSON-LD credential ({parsed.container})",
            depth=depth,
            nested_verifier=self._nested_item(now, holder, policy),
        )

    def _nested_item(self, now: datetime, holder: Holder | None, policy: VerifyPolicy) -> Any:
        async def verify_item(item: Any, depth: int) -> VerificationResult:
            if not isinstance(item, str):
                return rejected("nested credential is neither an object nor a JWT")
            try:
                parsed = parse_input(item, max_bytes=self._max_input_bytes)
            except MalformedCredential as exc:
                return rejected(str(exc))
            if parsed.kind is not InputKind.JWT:
                return rejected("nested credential string is not a compact JWT")
            return await self._from_jwt(parsed, now=now, holder=holder, policy=policy, depth=depth)

        return verify_item

    async def _from_url(
        self,
        parsed: ParsedInput,
        *,
        now: datetime,
        holder: Holder | None,
        policy: VerifyPolicy,
        depth: int,
    ) -> VerificationResult:
        url = parsed.url or ""
        try:
            document = await fetch_document(
                self._fetcher,
                url,
                what="credential",
                accept=CREDENTIAL_MEDIA_TYPES,
                max_bytes=self._max_input_bytes,
            )
        except RemoteDocumentError as exc:
            if exc.status == 410:
                return rejected(f"{url} answered 410 Gone: revoked", check_id=CheckId.STATUS)
            if exc.infrastructure:
                return indeterminate(str(exc))
            return rejected(str(exc))
        fetched = parse_input(
            document.body, media_type=document.content_type, max_bytes=self._max_input_bytes
        )
        if fetched.kind is InputKind.URL:
            return rejected(f"{url} points at another URL instead of a credential")
        if (
            fetched.kind is InputKind.JSON
            and fetched.document is not None
            and is_ob2(fetched.document)
        ):
            # The copy just fetched from its own URL is the hosted assertion itself.
            return await self.ob2.verify_json(
                fetched.document,
                now=now,
                holder=holder,
                policy=policy,
                container="url",
                fetched_from=url,
            )
        return await self._verify_parsed(
            fetched, now=now, holder=holder, policy=policy, depth=depth
        )

    async def _from_jwt(
        self,
        parsed: ParsedInput,
        *,
        now: datetime,
        holder: Holder | None,
        policy: VerifyPolicy,
        depth: int,
    ) -> VerificationResult:
        assert parsed.token is not None
        if is_ob2_token(parsed.token):
            return await self.ob2.verify_jws(
                parsed.token,
                now=now,
                holder=holder,
                policy=policy,
                container=parsed.container,
            )
        return await jwt.verify_vc_jwt(
            parsed.token,
            pipeline=self.pipeline,
            keys=self.keys,
            now=now,
            holder=holder,
            policy=policy,
            container=parsed.container,
            depth=depth,
            nested_verifier=self._nested_item(now, holder, policy),
        )

    async def _from_jws_json(
        self, parsed: ParsedInput, *, now: datetime, holder: Holder | None, policy: VerifyPolicy
    ) -> VerificationResult:
        assert parsed.document is not None
        return await elm.verify_sealed(
            parsed.document,
            parsed.signatures,
            pipeline=self.pipeline,
            now=now,
            holder=holder,
            policy=policy,
        )

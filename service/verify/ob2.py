"""Open Badges 2.0: hosted assertions (re-fetched from the issuer) and signed ones (JWS, RS256).

Hosted: the submitted JSON is only a pointer; the copy fetched from the assertion `id` is the
one trusted, and that `id` must lie inside the issuer's verification scope (`startsWith` /
`allowedOrigins`, by default the issuer's own origin). HTTP 410 or `revoked: true` = revoked.
Signed: the key (`verification.creator`) must be listed in the issuer profile's `publicKey`
and say that issuer is its `owner`; revocation comes from the issuer's `revocationList`.

Keys, badge classes and issuer profiles are fetched every time, but the last copy that was a
JSON object is kept to stand in while the issuer's host is unreachable for a transient reason
(service.verify.kept), and the check says so. Hosted assertions and revocation lists are never
stood in for: they are the issuer's current word on the credential itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from service.verify.achievements import ob2_achievement
from service.verify.backoff import Backoff
from service.verify.checks import check_issuer_trust
from service.verify.dates import check_validity
from service.verify.errors import CanonicalizationLimit, ContextError, KeyResolutionError
from service.verify.holder import check_holder
from service.verify.jsonld import LinkedData
from service.verify.jwt import decode_unverified, verify_jws
from service.verify.kept import DEFAULT_STALE_IF_ERROR, KeptDocuments
from service.verify.keys import pem_to_public_key
from service.verify.policy import Holder, VerifyPolicy
from service.verify.remote import Fetcher, RemoteDocumentError, RemoteJson
from service.verify.result import (
    CheckId,
    CheckResult,
    IssuerInfo,
    Outcome,
    VerificationResult,
    verdict_for,
)
from service.verify.vc import ordered

OB2_CONTEXTS = frozenset(
    {"https://w3id.org/openbadges/v2", "https://openbadgespec.org/v2/context.json"}
)
MAX_KEPT_NODES = 1024
MAX_KEPT_NODE_BYTES = 64 * 1024 * 1024


def is_ob2(document: Mapping[str, Any]) -> bool:
    context = document.get("@context")
    contexts = context if isinstance(context, list) else [context]
    if any(c in OB2_CONTEXTS for c in contexts if isinstance(c, str)):
        return True
    return document.get("type") == "Assertion" and "badge" in document and "recipient" in document


def is_ob2_token(token: str) -> bool:
    try:
        _, payload = decode_unverified(token)
    except ValueError:
        return False
    return "vc" not in payload and is_ob2(payload)


def _check(check_id: CheckId, outcome: Outcome, detail: str) -> CheckResult:
    return CheckResult(id=check_id, outcome=outcome, detail=detail)


def _json_object(remote: RemoteJson, url: Any, what: str) -> dict[str, Any]:
    if not isinstance(remote.data, dict):
        raise RemoteDocumentError(f"{what} {url} is not a JSON object", infrastructure=False)
    return remote.data


def _sources(*stand_ins: str) -> str:
    """The notes of the kept copies that stood in, each after "; ", to end a check's detail."""
    return "".join(f"; {note}" for note in dict.fromkeys(stand_ins) if note)


class Ob2Verifier:
    def __init__(
        self,
        *,
        fetcher: Fetcher,
        linked_data: LinkedData,
        stale_if_error: float = DEFAULT_STALE_IF_ERROR,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetcher = fetcher
        self._linked = linked_data
        self._backoff = backoff or Backoff(clock=clock)
        # fresh_for=0: fetched on every use as before; the copy only bridges an outage.
        self._kept: KeptDocuments[str, dict[str, Any]] = KeptDocuments(
            fresh_for=0,
            stale_if_error=stale_if_error,
            clock=clock,
            max_entries=MAX_KEPT_NODES,
            max_bytes=MAX_KEPT_NODE_BYTES,
        )

    async def _get(self, url: Any, what: str) -> RemoteJson:
        """Fetch an OB 2.0 node; http:// is tried over https:// first (many hosts serve both)."""
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise RemoteDocumentError(f"{what} {url!r} is not an http(s) URL", infrastructure=False)
        if not url.startswith("http://"):
            return await self._backoff.fetch_json(self._fetcher, url, what=what)
        try:
            return await self._backoff.fetch_json(self._fetcher, "https://" + url[7:], what=what)
        except RemoteDocumentError as exc:
            secure_failure = exc
        try:
            return await self._backoff.fetch_json(self._fetcher, url, what=what)
        except RemoteDocumentError as exc:
            # An outage of the https host stays an outage (a kept copy may stand in), whatever
            # plain http answers; usually the guard refuses it.
            if secure_failure.transient:
                raise secure_failure from exc
            raise

    async def _node(self, value: Any, what: str) -> dict[str, Any]:
        if isinstance(value, Mapping):
            return dict(value)
        return _json_object(await self._get(value, what), value, what)

    async def _kept_node(self, value: Any, what: str, now: datetime) -> tuple[dict[str, Any], str]:
        """A key, badge class or issuer profile, and how a kept copy stood in ("" if it did not)."""
        if isinstance(value, Mapping):
            return dict(value), ""
        if not isinstance(value, str):
            return await self._node(value, what), ""  # raises: not a URL

        async def fetch() -> RemoteJson:
            return await self._get(value, what)

        retrieved = await self._kept.get(
            value,
            fetch=fetch,
            parse=lambda remote: _json_object(remote, value, what),
            what=what,
            now=now,
        )
        return retrieved.value, retrieved.stand_in

    def _context(self, assertion: Mapping[str, Any]) -> CheckResult:
        try:
            canonical = self._linked.canonicalize(assertion)
        except (ContextError, CanonicalizationLimit) as exc:
            return _check(CheckId.CONTEXT, Outcome.FAIL, str(exc))
        if canonical.problems:
            return _check(
                CheckId.CONTEXT,
                Outcome.WARN,
                "terms outside the Open Badges 2.0 context (ignored): "
                + "; ".join(canonical.problems),
            )
        return _check(CheckId.CONTEXT, Outcome.PASS, "Open Badges 2.0 context (pinned)")

    async def verify_json(
        self,
        document: Mapping[str, Any],
        *,
        now: datetime,
        holder: Holder | None,
        policy: VerifyPolicy,
        container: str,
        fetched_from: str | None = None,
    ) -> VerificationResult:
        verification = document.get("verification")
        kind = verification.get("type") if isinstance(verification, Mapping) else None
        if kind in ("signed", "SignedBadge"):
            return self._rejected(
                "a signed Open Badges 2.0 assertion must be presented as its JWS, not as JSON"
            )
        assertion_id = document.get("id")
        if fetched_from is not None and assertion_id == fetched_from:
            assertion: dict[str, Any] = dict(document)
        else:
            try:
                remote = await self._get(assertion_id, "hosted assertion")
            except RemoteDocumentError as exc:
                if exc.status == 410:
                    return self._with_status_failure(
                        document, f"{assertion_id} answered 410 Gone: revoked"
                    )
                outcome = Outcome.UNKNOWN if exc.infrastructure else Outcome.FAIL
                return self._single(CheckId.PROOF, outcome, f"hosted assertion: {exc}")
            if not isinstance(remote.data, dict) or remote.data.get("id") != assertion_id:
                return self._single(
                    CheckId.PROOF,
                    Outcome.FAIL,
                    f"the document at {assertion_id} is not the assertion it claims to be",
                )
            assertion = remote.data
        proof = _check(
            CheckId.PROOF,
            Outcome.PASS,
            f"hosted assertion fetched from {assertion_id}; the published copy is the one checked",
        )
        return await self._finish(
            assertion,
            proof,
            signed=False,
            now=now,
            holder=holder,
            policy=policy,
            parse_detail=f"Open Badges 2.0 hosted assertion ({container})",
        )

    async def verify_jws(
        self,
        token: str,
        *,
        now: datetime,
        holder: Holder | None,
        policy: VerifyPolicy,
        container: str,
    ) -> VerificationResult:
        header, assertion = decode_unverified(token)
        alg = header.get("alg")
        creator = (
            (assertion.get("verification") or {}).get("creator")
            if isinstance(assertion.get("verification"), Mapping)
            else None
        )
        proof: CheckResult
        if alg != "RS256" and alg not in ("ES256", "EdDSA"):
            proof = _check(CheckId.PROOF, Outcome.FAIL, f"JWS alg {alg!r} refused (RS256 expected)")
        else:
            proof = await self._signed_proof(token, str(alg), creator, assertion, now)
        return await self._finish(
            assertion,
            proof,
            signed=True,
            now=now,
            holder=holder,
            policy=policy,
            parse_detail=f"Open Badges 2.0 signed assertion ({container})",
        )

    async def _signed_proof(
        self, token: str, alg: str, creator: Any, assertion: Mapping[str, Any], now: datetime
    ) -> CheckResult:
        try:
            key_doc, key_source = await self._kept_node(creator, "signing key", now)
            badge, badge_source = await self._kept_node(assertion.get("badge"), "badge class", now)
            issuer_ref = badge.get("issuer")
            issuer_url = issuer_ref.get("id") if isinstance(issuer_ref, Mapping) else issuer_ref
            issuer, issuer_source = await self._kept_node(issuer_url, "issuer profile", now)
        except RemoteDocumentError as exc:
            outcome = Outcome.UNKNOWN if exc.infrastructure else Outcome.FAIL
            return _check(CheckId.PROOF, outcome, f"signing key not available: {exc}")
        source = _sources(key_source, badge_source, issuer_source)
        listed = issuer.get("publicKey")
        listed_ids = [
            k.get("id") if isinstance(k, Mapping) else k
            for k in (listed if isinstance(listed, list) else [listed])
        ]
        if creator not in listed_ids or key_doc.get("id") != creator:
            return _check(
                CheckId.PROOF,
                Outcome.FAIL,
                f"key {creator} is not listed by the issuer {issuer_url}{source}",
            )
        if key_doc.get("owner") != issuer.get("id") or issuer.get("id") != issuer_url:
            return _check(
                CheckId.PROOF,
                Outcome.FAIL,
                f"key {creator} is not owned by the issuer {issuer_url}{source}",
            )
        try:
            key = pem_to_public_key(str(key_doc.get("publicKeyPem", "")))
        except KeyResolutionError as exc:
            return _check(CheckId.PROOF, Outcome.FAIL, f"{exc}{source}")
        if not verify_jws(token, key, alg):
            return _check(
                CheckId.PROOF,
                Outcome.FAIL,
                f"{alg} signature by {creator} does not verify{source}",
            )
        return _check(
            CheckId.PROOF,
            Outcome.PASS,
            f"valid {alg} signature by {creator}, a key {issuer_url} publishes{source}",
        )

    async def _finish(
        self,
        assertion: dict[str, Any],
        proof: CheckResult,
        *,
        signed: bool,
        now: datetime,
        holder: Holder | None,
        policy: VerifyPolicy,
        parse_detail: str,
    ) -> VerificationResult:
        checks: dict[CheckId, CheckResult] = {
            CheckId.PARSE: _check(CheckId.PARSE, Outcome.PASS, parse_detail),
            CheckId.CONTEXT: self._context(assertion),
            CheckId.PROOF: proof,
        }
        badge: dict[str, Any] = {}
        issuer: dict[str, Any] = {}
        try:
            badge, badge_source = await self._kept_node(assertion.get("badge"), "badge class", now)
            issuer_ref = badge.get("issuer")
            issuer, issuer_source = await self._kept_node(issuer_ref, "issuer profile", now)
            source = _sources(badge_source, issuer_source)
            structure = _check(
                CheckId.SCHEMA, Outcome.PASS, f"assertion, badge class and issuer found{source}"
            )
            if not badge.get("name"):
                structure = _check(CheckId.SCHEMA, Outcome.FAIL, f"badge class has no name{source}")
        except RemoteDocumentError as exc:
            structure = _check(
                CheckId.SCHEMA, Outcome.UNKNOWN if exc.infrastructure else Outcome.FAIL, str(exc)
            )
        checks[CheckId.SCHEMA] = structure
        issuer_id = issuer.get("id") if isinstance(issuer.get("id"), str) else None
        checks[CheckId.ISSUER_BINDING] = (
            _scope_check(assertion, issuer)
            if not signed
            else _check(
                CheckId.ISSUER_BINDING,
                Outcome.PASS if proof.outcome is Outcome.PASS else Outcome.UNKNOWN,
                "the issuer profile lists the signing key"
                if proof.outcome is Outcome.PASS
                else "not established: the signature did not verify",
            )
        )
        validity = check_validity(
            assertion,
            now=now,
            clock_skew=policy.clock_skew,
            start_keys=("issuedOn",),
            end_keys=("expires",),
        )
        checks[CheckId.VALIDITY_PERIOD] = validity.check
        checks[CheckId.STATUS] = await self._revocation(assertion, issuer, proof)
        checks[CheckId.HOLDER] = check_holder(assertion, holder)
        trust_doc = {"issuer": {"id": issuer_id, "name": issuer.get("name")}}
        checks[CheckId.ISSUER_TRUST], tier = check_issuer_trust(
            trust_doc, checks[CheckId.ISSUER_BINDING], policy
        )
        check_tuple = ordered(checks)
        achievement = None
        if proof.outcome is Outcome.PASS and checks[CheckId.CONTEXT].outcome is not Outcome.FAIL:
            achievement = ob2_achievement(assertion, badge)
        recipient = assertion.get("recipient")
        return VerificationResult(
            verdict=verdict_for(check_tuple),
            format="ob2-signed" if signed else "ob2-hosted",
            checks=check_tuple,
            issuer=IssuerInfo(
                id=issuer_id,
                name=issuer.get("name") if isinstance(issuer.get("name"), str) else None,
                tier=tier,
            ),
            subject={"recipient": recipient} if isinstance(recipient, Mapping) else {},
            achievements=(achievement,) if achievement else (),
            valid_from=validity.valid_from,
            valid_until=validity.valid_until,
            credential_id=assertion.get("id") if isinstance(assertion.get("id"), str) else None,
        )

    async def _revocation(
        self, assertion: Mapping[str, Any], issuer: Mapping[str, Any], proof: CheckResult
    ) -> CheckResult:
        if assertion.get("revoked") is True:
            reason = assertion.get("revocationReason")
            return _check(
                CheckId.STATUS,
                Outcome.FAIL,
                f"revoked by its issuer{': ' + reason if isinstance(reason, str) else ''}",
            )
        if proof.outcome is Outcome.FAIL:
            return _check(CheckId.STATUS, Outcome.UNKNOWN, "not checked: the proof failed")
        list_url = issuer.get("revocationList")
        if not list_url:
            return _check(
                CheckId.STATUS,
                Outcome.PASS,
                "not revoked (the issuer publishes no revocation list)",
            )
        try:
            revocations = await self._node(list_url, "revocation list")
        except RemoteDocumentError as exc:
            return _check(CheckId.STATUS, Outcome.UNKNOWN, f"revocation unknown: {exc}")
        entries = revocations.get("revokedAssertions")
        if not isinstance(entries, list):
            return _check(
                CheckId.STATUS, Outcome.UNKNOWN, f"revocation list {list_url} is malformed"
            )
        assertion_id = assertion.get("id")
        uid = assertion.get("uid")
        for entry in entries:
            entry_id = entry.get("id") if isinstance(entry, Mapping) else entry
            entry_uid = entry.get("uid") if isinstance(entry, Mapping) else None
            if (entry_id and entry_id == assertion_id) or (entry_uid and entry_uid == uid):
                reason = entry.get("revocationReason") if isinstance(entry, Mapping) else None
                suffix = f": {reason}" if isinstance(reason, str) else ""
                return _check(CheckId.STATUS, Outcome.FAIL, f"revoked by its issuer{suffix}")
        return _check(
            CheckId.STATUS, Outcome.PASS, f"not in the issuer's revocation list {list_url}"
        )

    def _rejected(self, detail: str) -> VerificationResult:
        return self._single(CheckId.PARSE, Outcome.FAIL, detail)

    def _single(self, check_id: CheckId, outcome: Outcome, detail: str) -> VerificationResult:
        checks = (
            _check(CheckId.PARSE, Outcome.PASS, "Open Badges 2.0 assertion")
            if check_id is not CheckId.PARSE
            else None,
            _check(check_id, outcome, detail),
        )
        check_tuple = tuple(c for c in checks if c is not None)
        return VerificationResult(
            verdict=verdict_for(check_tuple),
            format="ob2-hosted",
            checks=check_tuple,
            issuer=IssuerInfo(id=None, name=None),
        )

    def _with_status_failure(self, document: Mapping[str, Any], detail: str) -> VerificationResult:
        result = self._single(CheckId.STATUS, Outcome.FAIL, detail)
        assertion_id = document.get("id")
        return VerificationResult(
            verdict=result.verdict,
            format=result.format,
            checks=result.checks,
            issuer=result.issuer,
            credential_id=assertion_id if isinstance(assertion_id, str) else None,
        )


def _strings(value: Any) -> list[str]:
    return [v for v in (value if isinstance(value, list) else [value]) if isinstance(v, str)]


def _scope_check(assertion: Mapping[str, Any], issuer: Mapping[str, Any]) -> CheckResult:
    """Hosted: the assertion URL must be inside the issuer's declared verification scope."""
    assertion_id = assertion.get("id")
    issuer_id = issuer.get("id")
    if not isinstance(assertion_id, str) or not isinstance(issuer_id, str):
        return _check(CheckId.ISSUER_BINDING, Outcome.FAIL, "assertion or issuer has no id")
    scope = issuer.get("verification")
    starts = _strings(scope.get("startsWith")) if isinstance(scope, Mapping) else []
    origins = _strings(scope.get("allowedOrigins")) if isinstance(scope, Mapping) else []
    host = urlsplit(assertion_id).hostname or ""
    if starts:
        inside = any(assertion_id.startswith(prefix) for prefix in starts)
        where = f"the issuer's startsWith scope ({', '.join(starts)})"
    elif origins:
        inside = host in origins
        where = f"the issuer's allowed origins ({', '.join(origins)})"
    else:
        inside = bool(host) and host == (urlsplit(issuer_id).hostname or "")
        where = "the issuer's own origin"
    detail = f"{assertion_id} is {'inside' if inside else 'outside'} {where}"
    return _check(CheckId.ISSUER_BINDING, Outcome.PASS if inside else Outcome.FAIL, detail)

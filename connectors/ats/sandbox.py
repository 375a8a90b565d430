"""AtsConnector for the built-in sandbox ATS (Harvest-style: Basic auth, Link paging).

Pushing a match sets custom fields (idempotent: the latest value wins) and appends one note per
distinct payload hash, marked ``[sp:<hash8>]``. Notes go first and fields last, so fields that
hold the payload hash prove the note landed too; any interrupted push can simply be repeated.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

from connectors.base import (
    ApplicationRef,
    CandidateRef,
    JobRef,
    MatchUpdate,
    Page,
    PushReceipt,
    RawCredential,
)
from connectors.errors import AuthError, PermanentError, TransientError
from connectors.http import HttpConnector, quote_segment

__all__ = ["SandboxAtsConnector", "note_marker"]

logger = logging.getLogger(__name__)

FIELD_PREFIX = "skillproof_"
HASH_FIELD = "skillproof_payload_hash"
_MARKER = re.compile(r"\[sp:([0-9a-f]{8})\]")


# Pages in a row with nothing new before the listing is taken to be looping.
STALE_PAGE_LIMIT = 3


def note_marker(payload_hash: str) -> str:
    """The tag a note carries so a later push can tell whether it already landed."""
    return f"[sp:{payload_hash[:8].lower()}]"


def _timestamp(value: Any) -> datetime:
    if not isinstance(value, str):
        raise TypeError("timestamp is not a string")
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise PermanentError("timestamps sent to the ATS must be timezone-aware")
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


class SandboxAtsConnector(HttpConnector):
    """Talks to `connectors.ats.sandbox_server` (or anything speaking the same API).

    Secrets: ``api_key``. Options: those of `HttpConnector`, plus ``note_visibility``
    (``public`` by default, so the hiring team sees the note).
    """

    kind: ClassVar[str] = "sandbox"

    def auth_headers(self) -> Mapping[str, str]:
        api_key = self.config.secrets.get("api_key")
        if not api_key:
            raise AuthError("the sandbox connection has no api_key")
        token = base64.b64encode(f"{api_key}:".encode()).decode("ascii")
        return {"Authorization": f"Basic {token}"}

    async def check(self) -> None:
        await self.request("GET", "/v1/jobs", params={"per_page": 1})

    async def _pages(
        self, path: str, params: Mapping[str, str | int]
    ) -> AsyncIterator[tuple[list[Any], str | None]]:
        """Follow RFC 8288 `rel="next"` links from the first page to the last."""
        next_url: str | None = path
        query: Mapping[str, str | int] | None = params
        seen: set[str] = set()
        while next_url is not None:
            response = await self.request("GET", next_url, params=query)
            if not isinstance(response.body, list):
                raise PermanentError(f"GET {path} did not return a list")
            seen.add(next_url)
            next_url, query = response.links.get("next"), None
            if next_url in seen:
                raise PermanentError(f"GET {path} links back to a page already read")
            yield response.body, next_url

    async def iter_applications(
        self, *, since: datetime | None
    ) -> AsyncIterator[Page[ApplicationRef]]:
        # Keyset paging: every request restarts from the newest updated_at read so far. Page
        # numbers alone skip an application whenever one already read is updated meanwhile
        # (it moves to the end of the list and shifts every later page by one).
        after, page, stale = since, 1, 0
        seen: set[tuple[str, datetime]] = set()
        while True:
            params: dict[str, str | int] = {"per_page": self.page_size, "page": page}
            if after is not None:
                params["updated_after"] = _iso(after)
            response = await self.request("GET", "/v1/applications", params=params)
            if not isinstance(response.body, list):
                raise PermanentError("GET /v1/applications did not return a list")
            items = [self._application(i) for i in response.body]
            fresh = tuple(i for i in items if (i.external_id, i.updated_at) not in seen)
            seen.update((i.external_id, i.updated_at) for i in items)
            more = bool(items) and "next" in response.links
            stale = 0 if fresh else stale + 1
            if more and stale >= STALE_PAGE_LIMIT:
                raise PermanentError(
                    "GET /v1/applications keeps returning applications already read"
                )
            if more:
                last = max(i.updated_at for i in items)
                if after is None or last > after:
                    after, page = last, 1
                    # Only items at the new boundary can come back; forget the rest.
                    seen = {key for key in seen if key[1] >= after}
                else:
                    page += 1  # a whole page shares one timestamp: step through it by position
            yield Page(items=fresh, next_cursor=f"{_iso(after)}#{page}" if more and after else None)
            if not more:
                return

    async def iter_jobs(self) -> AsyncIterator[Page[JobRef]]:
        async for items, cursor in self._pages("/v1/jobs", {"per_page": self.page_size}):
            yield Page(items=tuple(self._job(i) for i in items), next_cursor=cursor)

    async def get_job(self, job_ref: str) -> JobRef:
        return self._job(await self.request_json("GET", f"/v1/jobs/{quote_segment(job_ref)}"))

    # Mapping remote JSON to DTOs ----------------------------------------------------------

    def _job(self, item: Any) -> JobRef:
        try:
            departments = item.get("departments") or []
            return JobRef(
                external_id=str(item["id"]),
                title=str(item["name"]),
                description=item.get("notes"),
                status=str(item.get("status") or "open"),
                department=departments[0]["name"] if departments else None,
                updated_at=_timestamp(item["updated_at"]) if item.get("updated_at") else None,
            )
        except (AttributeError, KeyError, IndexError, TypeError, ValueError) as exc:
            raise PermanentError(f"malformed job from the sandbox ATS ({exc!r})") from exc

    def _application(self, item: Any) -> ApplicationRef:
        try:
            candidate = item["candidate"]
            emails = candidate.get("email_addresses") or []
            application_id = str(item["id"])
            return ApplicationRef(
                external_id=application_id,
                candidate=CandidateRef(
                    external_id=str(candidate["id"]),
                    first_name=str(candidate["first_name"]),
                    last_name=str(candidate["last_name"]),
                    emails=tuple(str(e["value"]) for e in emails),
                    verified_emails=tuple(str(e["value"]) for e in emails if e.get("verified")),
                    dids=tuple(
                        str(d) for d in (candidate.get("custom_fields") or {}).get("dids", ())
                    ),
                ),
                job_external_id=str(item["jobs"][0]["id"]),
                status=str(item["status"]),
                updated_at=_timestamp(item["updated_at"]),
                credentials=tuple(
                    RawCredential(
                        external_id=f"{application_id}/{attachment['id']}",
                        media_type=str(attachment["content_type"]),
                        payload=base64.b64decode(attachment["content"], validate=True),
                    )
                    for attachment in item.get("attachments") or []
                    if attachment.get("type") == "credential"
                ),
            )
        except (AttributeError, KeyError, IndexError, TypeError, ValueError, binascii.Error) as exc:
            raise PermanentError(
                f"malformed application from the sandbox ATS ({type(exc).__name__})"
            ) from exc

    # Pushing a match ------------------------------------------------------------------------

    async def push_match(self, update: MatchUpdate, *, idempotency_key: str) -> PushReceipt:
        path = f"/v1/applications/{quote_segment(update.application_external_id)}"
        remote_ref = f"applications/{update.application_external_id}"
        headers = {"Idempotency-Key": idempotency_key}
        application = await self.request_json("GET", path)
        fields = application.get("custom_fields") if isinstance(application, dict) else None
        if not isinstance(fields, dict):
            raise PermanentError(f"GET {path} returned no custom_fields")
        previous = fields.get(HASH_FIELD)
        if previous == update.payload_hash:
            return PushReceipt(remote_ref=remote_ref, outcome="unchanged")
        marker = note_marker(update.payload_hash)
        if await self._last_marker(path) != marker:
            await self._post_note(path, self._note(update, marker), marker, headers)
        await self.request(
            "PATCH",
            f"{path}/custom_fields",
            json={"custom_fields": self._fields(update)},
            headers=headers,
            # Setting a value twice leaves one value, so an ambiguous failure is safe to repeat.
            idempotent=True,
        )
        return PushReceipt(remote_ref=remote_ref, outcome="updated" if previous else "created")

    async def _last_marker(self, path: str) -> str | None:
        """The marker of the newest note this integration wrote on the application, if any."""
        last: str | None = None
        async for notes, _ in self._pages(f"{path}/notes", {"per_page": 100}):
            for note in notes:
                body = note.get("body") if isinstance(note, dict) else None
                found = _MARKER.findall(body) if isinstance(body, str) else []
                if found:
                    last = f"[sp:{found[-1]}]"
        return last

    async def _post_note(
        self, path: str, body: str, marker: str, headers: Mapping[str, str]
    ) -> None:
        """Append the note once, reading back after each failure whose outcome is unknown."""
        note = {"body": body, "visibility": self.config.options.get("note_visibility", "public")}
        attempt = 0
        while True:
            attempt += 1
            try:
                await self.request("POST", f"{path}/notes", json=note, headers=headers)
                return
            except TransientError as exc:
                too_long = exc.retry_after is not None and exc.retry_after > self.retry.max_wait
                if attempt >= self.retry.max_attempts or too_long:
                    raise
                logger.warning(
                    "note for %s may not have landed (%s); checking before retrying",
                    path,
                    exc.message,
                )
                await self.pause(attempt, exc.retry_after)
            if await self._last_marker(path) == marker:
                logger.info("note %s for %s had landed; not posting it again", marker, path)
                return

    @staticmethod
    def _note(update: MatchUpdate, marker: str) -> str:
        band = update.band.replace("_", " ")
        lines = [f"Skillproof match: {update.score}/{update.max_score} ({band})", update.summary]
        if update.top_skills:
            lines.append(f"Top skills: {', '.join(update.top_skills)}")
        if update.gaps:
            lines.append(f"Gaps: {', '.join(update.gaps)}")
        lines.append(
            f"Credentials: {update.credentials_verified} verified,"
            f" {update.credentials_rejected} rejected"
        )
        if update.evidence_url:
            lines.append(f"Evidence: {update.evidence_url}")
        lines.append(marker)
        return "\n".join(lines)

    @staticmethod
    def _fields(update: MatchUpdate) -> list[dict[str, Any]]:
        values: dict[str, Any] = {
            "skillproof_score": update.score,
            "skillproof_max_score": update.max_score,
            "skillproof_band": update.band,
            "skillproof_summary": update.summary,
            "skillproof_top_skills": ", ".join(update.top_skills),
            "skillproof_gaps": ", ".join(update.gaps),
            "skillproof_credentials_verified": update.credentials_verified,
            "skillproof_credentials_rejected": update.credentials_rejected,
            "skillproof_evidence_url": update.evidence_url,
            "skillproof_versions": "; ".join(
                f"{k}={v}" for k, v in sorted(update.versions.items())
            ),
            "skillproof_computed_at": _iso(update.computed_at),
            HASH_FIELD: update.payload_hash,
        }
        # Blank values are refused by Harvest-style APIs; an empty field is cleared instead.
        return [
            {"name_key": key, "value": value}
            if value not in (None, "")
            else {"name_key": key, "delete_value": "true"}
            for key, value in values.items()
        ]

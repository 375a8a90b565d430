"""What the sandbox ATS holds: jobs, candidates, applications, notes and received pushes.

The state is plain in-memory objects seeded programmatically (`add_job`, `add_candidate`,
`add_application`) and saved to or loaded from a JSON snapshot, so a demo's sandbox survives a
restart. Writes made by integrations (custom fields, notes) do not move an application's
`updated_at`; otherwise every push would make the application look changed to the next sync.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = [
    "CredentialSeed",
    "PushRecord",
    "SandboxApplication",
    "SandboxAttachment",
    "SandboxCandidate",
    "SandboxEmail",
    "SandboxJob",
    "SandboxNote",
    "SandboxState",
]

SNAPSHOT_VERSION = 1


def _utcnow() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """ISO 8601 in UTC with a Z suffix, as ATS APIs write timestamps."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_iso(text: str) -> datetime:
    """Parse an ISO 8601 timestamp; one without an offset is taken as UTC."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@dataclass(frozen=True, kw_only=True, slots=True)
class CredentialSeed:
    """A credential to attach to a new application: untouched bytes and their media type."""

    media_type: str
    content: bytes
    filename: str | None = None


@dataclass(kw_only=True, slots=True)
class SandboxEmail:
    value: str
    type: str = "personal"
    verified: bool = False


@dataclass(kw_only=True, slots=True)
class SandboxJob:
    id: int
    name: str
    status: str
    description: str | None
    department: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(kw_only=True, slots=True)
class SandboxCandidate:
    id: int
    first_name: str
    last_name: str
    emails: list[SandboxEmail]
    dids: list[str]
    created_at: datetime
    updated_at: datetime


@dataclass(kw_only=True, slots=True)
class SandboxAttachment:
    id: int
    filename: str
    media_type: str
    content: bytes
    created_at: datetime


@dataclass(kw_only=True, slots=True)
class SandboxNote:
    id: int
    body: str
    visibility: str
    created_at: datetime


@dataclass(kw_only=True, slots=True)
class SandboxApplication:
    id: int
    candidate_id: int
    job_id: int
    status: str
    applied_at: datetime
    updated_at: datetime
    attachments: list[SandboxAttachment] = field(default_factory=list)
    custom_fields: dict[str, Any] = field(default_factory=dict)
    notes: list[SandboxNote] = field(default_factory=list)


@dataclass(kw_only=True, slots=True)
class PushRecord:
    """One write request the sandbox received, whatever happened to it (`outcome`)."""

    id: int
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    outcome: str
    received_at: datetime


_EXTENSIONS = {
    "application/json": "json",
    "application/ld+json": "json",
    "application/jwt": "jwt",
    "image/png": "png",
    "image/svg+xml": "svg",
    "text/uri-list": "uri",
}


class SandboxState:
    """The sandbox ATS's data; ids are small integers, one sequence per kind of object."""

    def __init__(self, *, clock: Callable[[], datetime] = _utcnow) -> None:
        self.clock = clock
        self.jobs: dict[int, SandboxJob] = {}
        self.candidates: dict[int, SandboxCandidate] = {}
        self.applications: dict[int, SandboxApplication] = {}
        self.pushes: list[PushRecord] = []
        self._next_ids: dict[str, int] = {}

    def _next_id(self, kind: str) -> int:
        value = self._next_ids.get(kind, 1)
        self._next_ids[kind] = value + 1
        return value

    def add_job(
        self,
        *,
        name: str,
        status: str = "open",
        description: str | None = None,
        department: str | None = None,
        updated_at: datetime | None = None,
    ) -> SandboxJob:
        now = self.clock()
        job = SandboxJob(
            id=self._next_id("job"),
            name=name,
            status=status,
            description=description,
            department=department,
            created_at=updated_at or now,
            updated_at=updated_at or now,
        )
        self.jobs[job.id] = job
        return job

    def add_candidate(
        self,
        *,
        first_name: str,
        last_name: str,
        emails: Iterable[str] = (),
        verified_emails: Iterable[str] = (),
        dids: Iterable[str] = (),
        updated_at: datetime | None = None,
    ) -> SandboxCandidate:
        """Add a candidate; addresses in `verified_emails` are flagged verified (and added)."""
        verified = list(verified_emails)
        addresses = list(dict.fromkeys([*emails, *verified]))
        now = self.clock()
        candidate = SandboxCandidate(
            id=self._next_id("candidate"),
            first_name=first_name,
            last_name=last_name,
            emails=[SandboxEmail(value=a, verified=a in verified) for a in addresses],
            dids=list(dids),
            created_at=updated_at or now,
            updated_at=updated_at or now,
        )
        self.candidates[candidate.id] = candidate
        return candidate

    def add_application(
        self,
        *,
        candidate_id: int,
        job_id: int,
        status: str = "active",
        updated_at: datetime | None = None,
        credentials: Iterable[CredentialSeed] = (),
    ) -> SandboxApplication:
        if candidate_id not in self.candidates:
            raise KeyError(f"no candidate {candidate_id}")
        if job_id not in self.jobs:
            raise KeyError(f"no job {job_id}")
        now = self.clock()
        application = SandboxApplication(
            id=self._next_id("application"),
            candidate_id=candidate_id,
            job_id=job_id,
            status=status,
            applied_at=updated_at or now,
            updated_at=updated_at or now,
        )
        application.attachments.extend(self._attachment(seed) for seed in credentials)
        self.applications[application.id] = application
        return application

    def attach_credential(self, application_id: int, seed: CredentialSeed) -> SandboxAttachment:
        """Attach a credential later (a candidate-side change, so `updated_at` moves)."""
        application = self.applications[application_id]
        attachment = self._attachment(seed)
        application.attachments.append(attachment)
        application.updated_at = attachment.created_at
        return attachment

    def _attachment(self, seed: CredentialSeed) -> SandboxAttachment:
        attachment_id = self._next_id("attachment")
        extension = _EXTENSIONS.get(seed.media_type, "bin")
        return SandboxAttachment(
            id=attachment_id,
            filename=seed.filename or f"credential-{attachment_id}.{extension}",
            media_type=seed.media_type,
            content=seed.content,
            created_at=self.clock(),
        )

    def add_note(self, application_id: int, *, body: str, visibility: str) -> SandboxNote:
        note = SandboxNote(
            id=self._next_id("note"), body=body, visibility=visibility, created_at=self.clock()
        )
        self.applications[application_id].notes.append(note)
        return note

    def record_push(
        self, *, method: str, path: str, headers: Mapping[str, str], body: Any, outcome: str
    ) -> PushRecord:
        record = PushRecord(
            id=self._next_id("push"),
            method=method,
            path=path,
            headers=dict(headers),
            body=body,
            outcome=outcome,
            received_at=self.clock(),
        )
        self.pushes.append(record)
        return record

    # Snapshots -----------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "version": SNAPSHOT_VERSION,
            "next_ids": dict(self._next_ids),
            "jobs": [_dump(j) for j in self.jobs.values()],
            "candidates": [_dump(c) for c in self.candidates.values()],
            "applications": [_dump(a) for a in self.applications.values()],
            "pushes": [_dump(p) for p in self.pushes],
        }

    @classmethod
    def from_json(
        cls, data: Mapping[str, Any], *, clock: Callable[[], datetime] = _utcnow
    ) -> SandboxState:
        if data.get("version") != SNAPSHOT_VERSION:
            raise ValueError(f"unsupported sandbox snapshot version {data.get('version')!r}")
        state = cls(clock=clock)
        state._next_ids = {str(k): int(v) for k, v in data["next_ids"].items()}
        for item in data["jobs"]:
            job = SandboxJob(**_times(item, "created_at", "updated_at"))
            state.jobs[job.id] = job
        for item in data["candidates"]:
            values = _times(item, "created_at", "updated_at")
            values["emails"] = [SandboxEmail(**e) for e in values["emails"]]
            candidate = SandboxCandidate(**values)
            state.candidates[candidate.id] = candidate
        for item in data["applications"]:
            values = _times(item, "applied_at", "updated_at")
            values["attachments"] = [
                SandboxAttachment(
                    **{**_times(a, "created_at"), "content": base64.b64decode(a["content"])}
                )
                for a in values["attachments"]
            ]
            values["notes"] = [SandboxNote(**_times(n, "created_at")) for n in values["notes"]]
            application = SandboxApplication(**values)
            state.applications[application.id] = application
        state.pushes = [PushRecord(**_times(p, "received_at")) for p in data["pushes"]]
        return state

    def save(self, path: Path) -> None:
        """Write a snapshot atomically: a crash mid-write leaves the previous one intact."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(self.to_json(), handle, indent=1)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: Path, *, clock: Callable[[], datetime] = _utcnow) -> SandboxState:
        return cls.from_json(json.loads(path.read_text(encoding="utf-8")), clock=clock)


def _dump(obj: Any) -> Any:
    """JSON form of the state's dataclasses: datetimes as ISO, bytes as base64."""
    if isinstance(obj, datetime):
        return iso(obj)
    if isinstance(obj, bytes):
        return base64.b64encode(obj).decode("ascii")
    if isinstance(obj, list):
        return [_dump(v) for v in obj]
    if isinstance(obj, dict):
        return {k: _dump(v) for k, v in obj.items()}
    if hasattr(obj, "__dataclass_fields__"):
        return {name: _dump(getattr(obj, name)) for name in obj.__dataclass_fields__}
    return obj


def _times(item: Mapping[str, Any], *names: str) -> dict[str, Any]:
    values = dict(item)
    for name in names:
        values[name] = parse_iso(values[name])
    return values

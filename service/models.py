"""SQLModel tables: `tenant_id` on every tenant-owned row; raw credentials never altered."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Index,
    LargeBinary,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlmodel import Field, SQLModel

import service.db  # noqa: F401  (applies the constraint naming convention before tables exist)


def new_id() -> str:
    return uuid.uuid4().hex


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite stores no offset, so it is restored on read)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: use aware UTC datetimes")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _ts(*, nullable: bool = False, index: bool = False) -> Any:
    return Field(
        default=None if nullable else None,
        sa_column=Column(UTCDateTime(), nullable=nullable, index=index),
    )


def _created() -> Any:
    return Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


def _json(*, nullable: bool = False) -> Any:
    if nullable:
        return Field(default=None, sa_column=Column(JSON, nullable=True))
    return Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


def _json_list() -> Any:
    return Field(default_factory=list, sa_column=Column(JSON, nullable=False))


def _tenant() -> Any:
    return Field(foreign_key="tenants.id", index=True, max_length=32, ondelete="CASCADE")


# --- tenants, people, access ---------------------------------------------------------------


class Tenant(SQLModel, table=True):
    __tablename__ = "tenants"
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    slug: str = Field(max_length=64, unique=True)
    name: str = Field(max_length=200)
    default_taxonomy_id: str | None = Field(default=None, max_length=32)
    retention_days: int = Field(default=730)
    created_at: datetime = _created()


class User(SQLModel, table=True):
    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("tenant_id", "email"),)
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    tenant_id: str = _tenant()
    email: str = Field(max_length=320)
    name: str = Field(default="", max_length=200)
    role: str = Field(default="recruiter", max_length=32)  # admin | hr | recruiter
    created_at: datetime = _created()


class ApiKey(SQLModel, table=True):
    """An API key is stored only as a keyed hash; the prefix identifies it in lists and logs."""

    __tablename__ = "api_keys"
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    tenant_id: str = _tenant()
    user_id: str | None = Field(default=None, foreign_key="users.id", max_length=32)
    name: str = Field(max_length=200)
    prefix: str = Field(max_length=16, unique=True)
    key_hash: str = Field(max_length=64)
    role: str = Field(default="admin", max_length=32)
    created_at: datetime = _created()
    expires_at: datetime | None = _ts(nullable=True)
    revoked_at: datetime | None = _ts(nullable=True)


class WebSession(SQLModel, table=True):
    """A browser sign-in; the cookie carries only this row's id, signed.

    Signing out revokes the row, so the session ends on the server for whoever holds a copy of
    the cookie. It also ends with the API key it was opened with.
    """

    __tablename__ = "web_sessions"
    # Not `new_id`: the id is the bearer secret inside the cookie, so it comes from `secrets`.
    id: str = Field(primary_key=True, max_length=64)
    tenant_id: str = _tenant()
    api_key_id: str = Field(
        foreign_key="api_keys.id", index=True, max_length=32, ondelete="CASCADE"
    )
    created_at: datetime = _created()
    expires_at: datetime = _ts(index=True)
    revoked_at: datetime | None = _ts(nullable=True)


class Connection(SQLModel, table=True):
    """A configured external system: an ATS or a credential source. Secrets are encrypted."""

    __tablename__ = "connections"
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    tenant_id: str = _tenant()
    kind: str = Field(max_length=16)  # ats | source
    provider: str = Field(max_length=64)  # sandbox | greenhouse | lever | ob3_api ...
    name: str = Field(max_length=200)
    base_url: str = Field(max_length=2000)
    options: dict[str, Any] = _json()
    secret_ciphertext: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    secret_key_id: str | None = Field(default=None, max_length=32)
    enabled: bool = Field(default=True)
    status: str = Field(default="ok", max_length=32)  # ok | auth_failed | failing
    last_error: str | None = Field(default=None, max_length=2000)
    created_at: datetime = _created()


# --- candidates, jobs, applications --------------------------------------------------------


class Candidate(SQLModel, table=True):
    __tablename__ = "candidates"
    __table_args__ = (UniqueConstraint("tenant_id", "connection_id", "external_ref"),)
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    tenant_id: str = _tenant()
    connection_id: str | None = Field(
        default=None, foreign_key="connections.id", max_length=32, ondelete="SET NULL"
    )
    external_ref: str | None = Field(default=None, max_length=200)
    display_name: str = Field(default="", max_length=300)
    created_at: datetime = _created()
    erased_at: datetime | None = _ts(nullable=True)


class CandidateIdentifier(SQLModel, table=True):
    """An email, DID, URL or phone number of a candidate; only verified ones bind credentials."""

    __tablename__ = "candidate_identifiers"
    __table_args__ = (UniqueConstraint("tenant_id", "candidate_id", "kind", "value"),)
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    tenant_id: str = _tenant()
    candidate_id: str = Field(foreign_key="candidates.id", index=True, ondelete="CASCADE")
    kind: str = Field(max_length=16)  # email | did | url | phone
    value: str = Field(max_length=2000)
    verified: bool = Field(default=False)
    verified_at: datetime | None = _ts(nullable=True)
    source: str = Field(default="ats", max_length=32)


class Job(SQLModel, table=True):
    __tablename__ = "jobs"
    __table_args__ = (UniqueConstraint("tenant_id", "connection_id", "external_ref"),)
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    tenant_id: str = _tenant()
    connection_id: str | None = Field(
        default=None, foreign_key="connections.id", max_length=32, ondelete="SET NULL"
    )
    external_ref: str | None = Field(default=None, max_length=200)
    title: str = Field(max_length=300)
    status: str = Field(default="open", max_length=32)
    created_at: datetime = _created()


class Application(SQLModel, table=True):
    """One candidate's application to one job, and what its last finished evaluation read.

    `evaluated_inputs` is the fingerprint of the inputs (see `service.evaluation_inputs`) and
    `evaluated_at` the instant of the last evaluation that was committed; both stay None until
    one finishes, so an application stored but never evaluated is always visible as such.
    """

    __tablename__ = "applications"
    __table_args__ = (
        UniqueConstraint("tenant_id", "connection_id", "external_ref"),
        # Re-validation reads one tenant's oldest evaluations first.
        Index("ix_applications_tenant_evaluated", "tenant_id", "evaluated_at"),
    )
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    tenant_id: str = _tenant()
    candidate_id: str = Field(foreign_key="candidates.id", index=True, ondelete="CASCADE")
    job_id: str = Field(foreign_key="jobs.id", index=True, ondelete="CASCADE")
    connection_id: str | None = Field(
        default=None, foreign_key="connections.id", max_length=32, ondelete="SET NULL"
    )
    external_ref: str | None = Field(default=None, max_length=200)
    status: str = Field(default="active", max_length=32)
    remote_updated_at: datetime | None = _ts(nullable=True)
    created_at: datetime = _created()
    evaluated_inputs: str | None = Field(default=None, max_length=64)
    evaluated_at: datetime | None = _ts(nullable=True)


# --- credentials and what they prove -------------------------------------------------------


class RawCredential(SQLModel, table=True):
    """The bytes exactly as received, with their sha256. Never updated after insert."""

    __tablename__ = "raw_credentials"
    __table_args__ = (UniqueConstraint("tenant_id", "application_id", "sha256"),)
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    tenant_id: str = _tenant()
    candidate_id: str = Field(foreign_key="candidates.id", index=True, ondelete="CASCADE")
    application_id: str | None = Field(
        default=None, foreign_key="applications.id", index=True, ondelete="CASCADE"
    )
    source: str = Field(max_length=32)  # upload | ats | source | url
    source_ref: str | None = Field(default=None, max_length=2000)
    media_type: str = Field(max_length=100)
    content: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    sha256: str = Field(max_length=64, index=True)
    received_at: datetime = _created()


class VerificationRecord(SQLModel, table=True):
    __tablename__ = "verification_results"
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    tenant_id: str = _tenant()
    raw_credential_id: str = Field(foreign_key="raw_credentials.id", index=True, ondelete="CASCADE")
    verdict: str = Field(max_length=16)
    format: str = Field(max_length=64)
    credential_id: str | None = Field(default=None, max_length=2000)
    issuer_id: str | None = Field(default=None, max_length=2000)
    issuer_name: str | None = Field(default=None, max_length=500)
    issuer_tier: str = Field(default="unknown", max_length=32)
    checks: list[dict[str, Any]] = _json_list()
    result: dict[str, Any] = _json()
    verifier_version: str = Field(max_length=32)
    verified_at: datetime = _created()


class SkillClaimRecord(SQLModel, table=True):
    """One mapped skill a verified credential certifies, with how it was mapped."""

    __tablename__ = "skill_claims"
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    tenant_id: str = _tenant()
    candidate_id: str = Field(foreign_key="candidates.id", index=True, ondelete="CASCADE")
    verification_id: str = Field(
        foreign_key="verification_results.id", index=True, ondelete="CASCADE"
    )
    achievement_name: str = Field(max_length=500)
    claim_text: str = Field(max_length=2000)
    claim_source: str = Field(max_length=32)
    concept_id: str = Field(max_length=500)
    concept_label: str = Field(max_length=500)
    taxonomy: str = Field(max_length=100)
    taxonomy_version: str = Field(max_length=50)
    confidence: float
    method: str = Field(max_length=32)
    signals: dict[str, Any] = _json()
    created_at: datetime = _created()


class TrustedIssuer(SQLModel, table=True):
    """The tenant's issuer trust registry: what kind of body stands behind an issuer id."""

    __tablename__ = "trusted_issuers"
    __table_args__ = (UniqueConstraint("tenant_id", "issuer_id"),)
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    tenant_id: str = _tenant()
    issuer_id: str = Field(max_length=2000)
    name: str = Field(default="", max_length=500)
    tier: str = Field(max_length=32)
    notes: str = Field(default="", max_length=2000)
    created_at: datetime = _created()


# --- role profiles and scores ---------------------------------------------------------------


class RoleProfile(SQLModel, table=True):
    __tablename__ = "role_profiles"
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    tenant_id: str = _tenant()
    job_id: str | None = Field(
        default=None, foreign_key="jobs.id", index=True, max_length=32, ondelete="SET NULL"
    )
    name: str = Field(max_length=300)
    current_version: int = Field(default=0)
    created_at: datetime = _created()


class RoleProfileVersion(SQLModel, table=True):
    """An immutable version of a role profile: scores point at the version they used."""

    __tablename__ = "role_profile_versions"
    __table_args__ = (UniqueConstraint("role_profile_id", "version"),)
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    tenant_id: str = _tenant()
    role_profile_id: str = Field(foreign_key="role_profiles.id", index=True, ondelete="CASCADE")
    version: int
    taxonomy: str = Field(max_length=100)
    taxonomy_version: str = Field(max_length=50)
    created_by: str = Field(default="system", max_length=320)
    note: str = Field(default="", max_length=2000)
    created_at: datetime = _created()


class Requirement(SQLModel, table=True):
    __tablename__ = "requirements"
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    tenant_id: str = _tenant()
    profile_version_id: str = Field(
        foreign_key="role_profile_versions.id", index=True, ondelete="CASCADE"
    )
    concept_id: str = Field(max_length=500)
    label: str = Field(max_length=500)
    importance: str = Field(max_length=16)  # essential | optional
    weight: float = Field(default=1.0)


class MatchResult(SQLModel, table=True):
    """A score with its explanation and every version it was computed with."""

    __tablename__ = "match_results"
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    tenant_id: str = _tenant()
    application_id: str = Field(foreign_key="applications.id", index=True, ondelete="CASCADE")
    profile_version_id: str = Field(
        foreign_key="role_profile_versions.id", index=True, ondelete="CASCADE"
    )
    score: int
    band: str = Field(max_length=32)
    explanation: dict[str, Any] = _json()
    versions: dict[str, Any] = _json()
    inputs_hash: str = Field(max_length=64)
    computed_at: datetime = _created()


# --- delivery to the ATS ----------------------------------------------------------------------


class OutboxMessage(SQLModel, table=True):
    """A push written in the same transaction as the score it carries; drained with leases."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    tenant_id: str = _tenant()
    connection_id: str = Field(foreign_key="connections.id", index=True, ondelete="CASCADE")
    kind: str = Field(max_length=32)  # match_update
    target_ref: str = Field(max_length=200)
    payload: dict[str, Any] = _json()
    payload_hash: str = Field(max_length=64)
    idempotency_key: str = Field(max_length=200, unique=True)
    status: str = Field(
        default="pending", max_length=16
    )  # pending|inflight|retry|done|dead|superseded
    attempts: int = Field(default=0)
    next_attempt_at: datetime = _created()
    lease_owner: str | None = Field(default=None, max_length=100)
    lease_until: datetime | None = _ts(nullable=True)
    last_error: str | None = Field(default=None, max_length=2000)
    remote_ref: str | None = Field(default=None, max_length=500)
    created_at: datetime = _created()
    updated_at: datetime = _created()


class DeliveryAttempt(SQLModel, table=True):
    __tablename__ = "delivery_attempts"
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    tenant_id: str = _tenant()
    outbox_id: str = Field(foreign_key="outbox.id", index=True, ondelete="CASCADE")
    attempt: int
    outcome: str = Field(max_length=32)  # created|updated|unchanged|transient|auth|permanent
    detail: str = Field(default="", max_length=2000)
    started_at: datetime = _created()
    finished_at: datetime | None = _ts(nullable=True)


class SyncCursor(SQLModel, table=True):
    __tablename__ = "sync_cursors"
    __table_args__ = (UniqueConstraint("tenant_id", "connection_id", "resource"),)
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    tenant_id: str = _tenant()
    connection_id: str = Field(foreign_key="connections.id", index=True, ondelete="CASCADE")
    resource: str = Field(max_length=64)
    cursor: str | None = Field(default=None, max_length=2000)
    updated_at: datetime = _created()


class SyncRun(SQLModel, table=True):
    __tablename__ = "sync_runs"
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    tenant_id: str = _tenant()
    connection_id: str = Field(foreign_key="connections.id", index=True, ondelete="CASCADE")
    status: str = Field(default="running", max_length=16)  # running | ok | failed
    counts: dict[str, Any] = _json()
    error: str | None = Field(default=None, max_length=2000)
    started_at: datetime = _created()
    finished_at: datetime | None = _ts(nullable=True)


class AuditEvent(SQLModel, table=True):
    """Append-only, hash-chained per tenant; subjects are pseudonymous ids, never raw PII."""

    __tablename__ = "audit_events"
    __table_args__ = (UniqueConstraint("tenant_id", "seq"),)
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    tenant_id: str = _tenant()
    seq: int
    at: datetime = _created()
    actor: str = Field(max_length=200)
    action: str = Field(max_length=64)
    object_type: str = Field(max_length=64)
    object_id: str | None = Field(default=None, max_length=200)
    details: dict[str, Any] = _json()
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class SchedulerLease(SQLModel, table=True):
    """Leader election on SQLite (PostgreSQL uses an advisory lock). Not tenant data."""

    __tablename__ = "scheduler_leases"
    name: str = Field(primary_key=True, max_length=64)
    holder: str = Field(max_length=100)
    lease_until: datetime = _created()


# --- taxonomies ---------------------------------------------------------------------------------


class TaxonomyRecord(SQLModel, table=True):
    """A taxonomy version. `tenant_id` NULL = shared catalogue (ESCO, starter) visible to all."""

    __tablename__ = "taxonomies"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name", "version"),
        # NULLs are distinct in a unique constraint, so shared rows need their own index.
        Index(
            "uq_taxonomies_shared_name_version",
            "name",
            "version",
            unique=True,
            sqlite_where=text("tenant_id IS NULL"),
            postgresql_where=text("tenant_id IS NULL"),
        ),
    )
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    tenant_id: str | None = Field(
        default=None, foreign_key="tenants.id", index=True, max_length=32, ondelete="CASCADE"
    )
    name: str = Field(max_length=100)
    version: str = Field(max_length=50)
    source: str = Field(default="", max_length=500)
    licence: str = Field(default="", max_length=500)
    attribution: str = Field(default="", max_length=2000)
    concept_count: int = Field(default=0)
    imported_at: datetime = _created()


class ConceptRecord(SQLModel, table=True):
    __tablename__ = "concepts"
    __table_args__ = (UniqueConstraint("taxonomy_id", "concept_id"),)
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    tenant_id: str | None = Field(default=None, index=True, max_length=32)
    taxonomy_id: str = Field(foreign_key="taxonomies.id", index=True, ondelete="CASCADE")
    concept_id: str = Field(max_length=500)
    kind: str = Field(max_length=16)
    preferred_label: str = Field(max_length=500)
    alt_labels: list[str] = _json_list()
    hidden_labels: list[str] = _json_list()
    description: str | None = Field(default=None)
    reuse_level: str | None = Field(default=None, max_length=64)
    broader: list[str] = _json_list()
    status: str = Field(default="active", max_length=16)  # active | obsolete


class ConceptRelationRecord(SQLModel, table=True):
    __tablename__ = "concept_relations"
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    tenant_id: str | None = Field(default=None, index=True, max_length=32)
    taxonomy_id: str = Field(foreign_key="taxonomies.id", index=True, ondelete="CASCADE")
    source: str = Field(max_length=500)
    target: str = Field(max_length=500)
    kind: str = Field(max_length=32)
    importance: str | None = Field(default=None, max_length=32)
    weight: float | None = Field(default=None)


class OccupationChoiceRecord(SQLModel, table=True):
    """HR chose this occupation for a job title; the tenant's title search learns from it.

    One row per choice (repeats count: they say which occupations the employer uses most).
    """

    __tablename__ = "occupation_choices"
    __table_args__ = (Index("ix_occupation_choices_tenant_taxonomy", "tenant_id", "taxonomy_id"),)
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    tenant_id: str = _tenant()
    taxonomy_id: str = Field(foreign_key="taxonomies.id", ondelete="CASCADE")
    title: str = Field(max_length=500)
    occupation_id: str = Field(max_length=500)
    created_by: str = Field(default="", max_length=320)
    created_at: datetime = _created()


class MappingOverride(SQLModel, table=True):
    """HR's confirmation or correction of a phrase -> concept mapping; wins the next time."""

    __tablename__ = "mapping_overrides"
    __table_args__ = (UniqueConstraint("tenant_id", "taxonomy_id", "phrase"),)
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    tenant_id: str = _tenant()
    taxonomy_id: str = Field(foreign_key="taxonomies.id", index=True, ondelete="CASCADE")
    phrase: str = Field(max_length=1000)
    concept_id: str | None = Field(default=None, max_length=500)
    created_by: str = Field(default="", max_length=320)
    created_at: datetime = _created()

"""Skillproof settings: one pydantic-settings object, built once at start-up and passed down."""

from __future__ import annotations

import ipaddress
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# Secrets that ship in examples and must never protect real data.
PLACEHOLDER_SECRETS = frozenset(
    {"", "changethis", "change-me", "changeme", "secret", "dev", "development", "skillproof"}
)
DEVELOPMENT_SECRET = "development-only-secret-key-do-not-use-in-production"  # noqa: S105


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


# The async drivers the service is built and tested with.
SUPPORTED_DATABASES = ("sqlite+aiosqlite", "postgresql+asyncpg")


class Settings(BaseSettings):
    """Every knob the service has; each is read from an environment variable `SKILLPROOF_<NAME>`."""

    model_config = SettingsConfigDict(
        env_prefix="SKILLPROOF_", env_file=None, extra="ignore", frozen=True
    )

    env: Environment = Field(
        default=Environment.PRODUCTION,
        description="development relaxes the secret check and enables demo helpers.",
    )
    database_url: str = Field(
        default="sqlite+aiosqlite:///./skillproof.db",
        description="SQLAlchemy URL: sqlite+aiosqlite:///path or postgresql+asyncpg://user@host/db.",
    )
    secret_key: SecretStr = Field(
        default=SecretStr(""),
        description="Signs candidate links and derives the key that encrypts ATS credentials.",
    )
    fetch_allow: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="Comma-separated hosts or CIDRs exempt from the SSRF block (on-prem issuers);"
        " plain http is allowed only for these.",
    )
    vendor_data: Path = Field(
        default=Path("../shared/vendor-data"),
        description="Test vectors, taxonomies and benchmark data (tests and benchmarks only).",
    )
    contexts_dir: Path = Field(
        default=Path("./var/contexts"),
        description="Pinned JSON-LD context and schema store (`skillproof contexts sync`).",
    )
    data_dir: Path = Field(
        default=Path("./var"),
        description="Where caches (taxonomy index, embeddings) are kept.",
    )
    cache_dir: Path | None = Field(
        default=None,
        description="Derived caches (taxonomy label vectors); default: DATA_DIR/cache.",
    )
    semantic_mapping: bool = Field(
        default=True,
        description="Fuse semantic similarity (offline MiniLM) into skill mapping.",
    )
    log_level: str = Field(default="INFO", description="DEBUG, INFO, WARNING or ERROR.")
    base_url: str = Field(
        default="http://127.0.0.1:8080",
        description=(
            "Public URL of this service, used in evidence links pushed to the ATS"
            " (unset: http://HOST:PORT)."
        ),
    )
    host: str = Field(default="127.0.0.1", description="Address `skillproof serve` binds to.")
    port: int = Field(default=8080, description="Port `skillproof serve` listens on.")
    sync_interval_seconds: int = Field(
        default=300, description="How often the scheduler pulls from every connection."
    )
    outbox_interval_seconds: int = Field(
        default=15, description="How often the scheduler drains the outbox to the ATS."
    )
    revalidate_after_hours: float = Field(
        default=24,
        ge=0,
        description="Re-check (status lists, expiry) and re-score applications still in play"
        " whose last evaluation is older than this; 0 turns re-validation off.",
    )
    revalidate_batch_size: int = Field(
        default=200,
        ge=1,
        description="Most applications per tenant re-validated in one scheduler run (one run"
        " every SYNC_INTERVAL_SECONDS).",
    )
    max_credential_bytes: int = Field(
        default=2_000_000, description="Largest credential body accepted (JSON, JWT or image)."
    )
    clock_skew_seconds: int = Field(
        default=300, description="Tolerance on credential validity dates."
    )
    status_stale_if_error_seconds: int = Field(
        default=86_400,
        ge=0,
        description="When an issuer's host is briefly unreachable (timeout, refused, 5xx, 429),"
        " use the last verified copy of its status list or key document (DID or controller"
        " document, Open Badges 2.0 key, badge class, issuer profile) if it is younger than"
        " this; 0 disables.",
    )

    @field_validator("fetch_allow", mode="before")
    @classmethod
    def _split_allow(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: str) -> str:
        scheme = value.partition("://")[0]
        if scheme not in SUPPORTED_DATABASES:
            raise ValueError(
                "SKILLPROOF_DATABASE_URL must start with"
                f" {' or '.join(f'{name}://' for name in SUPPORTED_DATABASES)}"
                f" (got {scheme + '://' if '://' in value else 'no URL scheme'})"
            )
        return value

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError(f"unknown log level {value!r}")
        return level

    @model_validator(mode="after")
    def _base_url_follows_the_port(self) -> Settings:
        """Unset, the public URL is where `serve` listens, so links work on any port."""
        if "base_url" not in self.model_fields_set:
            try:
                everywhere = ipaddress.ip_address(self.host).is_unspecified  # 0.0.0.0, ::
            except ValueError:  # a host name
                everywhere = False
            host = "127.0.0.1" if everywhere or not self.host else self.host
            host = f"[{host}]" if ":" in host else host
            object.__setattr__(self, "base_url", f"http://{host}:{self.port}")
        return self

    @model_validator(mode="after")
    def _refuse_placeholder_secret(self) -> Settings:
        secret = self.secret_key.get_secret_value()
        if self.env is Environment.PRODUCTION:
            if secret.lower() in PLACEHOLDER_SECRETS:
                raise ValueError(
                    "SKILLPROOF_SECRET_KEY is missing or a placeholder; set a random value of at"
                    " least 32 characters (or SKILLPROOF_ENV=development on a workstation)"
                )
            if len(secret) < 32:
                raise ValueError("SKILLPROOF_SECRET_KEY must be at least 32 characters long")
        elif not secret:
            object.__setattr__(self, "secret_key", SecretStr(DEVELOPMENT_SECRET))
        return self

    @property
    def cache_path(self) -> Path:
        return self.cache_dir if self.cache_dir is not None else self.data_dir / "cache"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def allowed_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        """The FETCH_ALLOW entries that are addresses or CIDRs."""
        networks = []
        for entry in self.fetch_allow:
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                continue
        return tuple(networks)

    def allowed_hosts(self) -> frozenset[str]:
        """The FETCH_ALLOW entries that are host names (lower-cased)."""
        hosts = set()
        for entry in self.fetch_allow:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                hosts.add(entry.lower())
        return frozenset(hosts)


def settings_table() -> list[tuple[str, str, str]]:
    """(variable, default, description) for every setting: the README table is built from this."""
    rows = []
    for name, field in Settings.model_fields.items():
        default = field.default
        if isinstance(default, SecretStr):
            default = "(none)"
        elif isinstance(default, tuple):
            default = ",".join(default) or "(empty)"
        rows.append((f"SKILLPROOF_{name.upper()}", str(default), field.description or ""))
    return rows

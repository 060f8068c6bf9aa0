"""Deployment settings, read from CLOSELOOP_* environment variables."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
BUNDLED_WORKFLOWS = PROJECT_ROOT / "workflows"
# Defaults shared with engine.store.Store, which is also opened without settings (migrations, tests).
WRITE_LOCK_TIMEOUT_S = 5.0
SQLITE_WAL_LIMIT_MB = 64.0
SQLITE_WRITER_CACHE_MB = 64
# PDF, the usual images and Office documents (OOXML and the legacy OLE formats).
DEFAULT_EVIDENCE_TYPES = (
    "application/pdf", "image/png", "image/jpeg", "image/gif", "image/webp",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/msword", "application/vnd.ms-excel", "application/vnd.ms-powerpoint")


class Settings(BaseSettings):
    """Everything a deployment may change; defaults give a working embedded setup."""

    model_config = SettingsConfigDict(env_prefix="CLOSELOOP_", extra="ignore")

    database_url: str = "sqlite:///closeloop.db"
    # PostgreSQL with two roles (docs/POSTGRES.md): `closeloop migrate` connects with this URL (the owner
    # role) and then grants the application role named below exactly what it needs; unset: database_url.
    migration_database_url: str | None = None
    db_app_role: str | None = None
    workflows_dir: Path = BUNDLED_WORKFLOWS
    default_workflow: str = "standard"
    timezone: str = "Asia/Shanghai"
    # Days before a deadline at which the traffic light turns yellow.
    yellow_days: int = 3
    number_prefix: str = Field(default="ZG", pattern=r"^[^\W_]{1,12}$",
                               description="letters or digits (any script), at most 12: numbers read ZG-2026-000123")
    max_body_bytes: int = 1024 * 1024
    # All request header fields together (names and values); more answers 431.
    max_header_bytes: int = 32 * 1024
    # Bad tokens one address may send per window before its requests answer 429 for the rest of it (0: off).
    auth_failure_limit: int = 20
    auth_failure_window_seconds: int = 60
    # Web sessions end after this many idle minutes, and in any case this many hours after sign-in.
    web_session_idle_minutes: int = Field(default=60, ge=1)
    web_session_max_hours: int = Field(default=12, ge=1)
    # Failed sign-ins one address (or one username) may make per window before sign-in answers 429 (0: off).
    signin_failure_limit: int = Field(default=5, ge=0)
    signin_failure_window_seconds: int = Field(default=300, ge=1)
    # Reminders and escalations fall due at this local hour on working days (never at night or on a holiday).
    notify_hour: int = Field(default=9, ge=0, le=23)
    # How often each process's sweep looks for due notices, and how many items one sweep transaction takes.
    sweep_interval_seconds: int = Field(default=60, ge=1)
    sweep_batch: int = Field(default=500, ge=1, le=10000)
    # Where the checkpoint signing keys live (private keys mode 0600); unset: beside the SQLite file, or
    # ./closeloop-data/audit-keys for a server database. Each process making checkpoints must see the same folder.
    audit_key_dir: Path | None = None
    # Evidence files (POST /items/{id}/evidence): where they are kept, content-addressed; unset: beside the SQLite
    # file (<db>.evidence/), or ./closeloop-data/evidence for a server database. Every API process must see the
    # same folder (a shared volume) until an S3-compatible store is added behind engine.evidence.storage.
    evidence_dir: Path | None = None
    # The largest evidence file accepted (larger answers 413 and stores nothing).
    evidence_max_bytes: int = Field(default=20 * 1024 * 1024, ge=1)
    # The largest ledger file (POST /items/import, `closeloop import`) and the most rows it may hold.
    ledger_max_bytes: int = Field(default=64 * 1024 * 1024, ge=1)
    ledger_max_rows: int = Field(default=200_000, ge=1)
    # The media types accepted, judged by the file's content (engine.evidence.detect); others answer 415.
    evidence_types: Annotated[list[str], NoDecode] = Field(default_factory=lambda: list(DEFAULT_EVIDENCE_TYPES), min_length=1)
    # Local hour at which the scheduler makes the day's signed checkpoint (once a day, whichever process is first).
    audit_checkpoint_hour: int = Field(default=1, ge=0, le=23)
    # Seconds a write waits for SQLite's write lock (or, on PostgreSQL, a row lock or a pooled connection)
    # before it is refused with 503 and Retry-After.
    write_lock_timeout: float = Field(default=WRITE_LOCK_TIMEOUT_S, gt=0, le=600)
    # Size of SQLite's -wal file past which a background checkpoint restarts the log (and the file is
    # truncated back to it): the bound on the WAL under sustained load.
    sqlite_wal_limit_mb: float = Field(default=SQLITE_WAL_LIMIT_MB, gt=0)
    # SQLite's page cache for the one writing connection of a process (SQLite's own default is 2 MB): a large
    # write (a ledger import, a sweep's batch) that outgrows it writes pages out and reads them back before
    # it commits. It grows only as pages are used.
    sqlite_writer_cache_mb: int = Field(default=SQLITE_WRITER_CACHE_MB, ge=1, le=65536)
    # A YAML file with years' official holiday schedules (调休 included), read before the packages' calendars.
    calendar_file: Path | None = None
    # One JSON line per request on the closeloop.access logger (api.observe); `closeloop serve` prints it.
    access_log: bool = True
    # GET /metrics (Prometheus text) answers only with `Authorization: Bearer <this>` when set; unset, anyone
    # who can reach the port may read it (it holds counts and timings, no item data).
    metrics_token: SecretStr | None = None
    # PostgreSQL connections each process keeps (and may add under a burst); each API worker and each
    # `closeloop worker` has its own pool, so the server's max_connections must cover them all.
    db_pool_size: int = Field(default=20, ge=1, le=500)
    db_max_overflow: int = Field(default=20, ge=0, le=500)
    # Delivery of the outbox. Webhook URLs that resolve to loopback or private addresses are refused unless
    # this is set: an admin's URL must not become a way to reach the deployment's own network.
    allow_private_webhooks: bool = False
    delivery_interval_seconds: int = Field(default=10, ge=1)
    delivery_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    # A failing delivery is retried with exponential backoff and jitter for this long, then given up.
    delivery_retry_hours: int = Field(default=72, ge=1)
    # Group robots throttle senders past about 20 messages a minute (DingTalk for ten minutes).
    robot_messages_per_minute: int = Field(default=20, ge=1, le=100)
    # E-mail reminders go out only when a host is set.
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_security: Literal["none", "starttls", "tls"] = "starttls"
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = "closeloop@localhost"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        ZoneInfo(value)
        return value

    @field_validator("migration_database_url", "db_app_role", mode="before")
    @classmethod
    def _none_when_empty(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("db_app_role")
    @classmethod
    def _plain_role_name(cls, value: str | None) -> str | None:
        from engine.dbroles.grants import check_role_name

        return None if value is None else check_role_name(value)

    @field_validator("calendar_file", mode="before")
    @classmethod
    def _unset_when_empty(cls, value: object) -> object:
        # CLOSELOOP_CALENDAR_FILE= (empty) means no file, not the current directory.
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("evidence_types", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        # CLOSELOOP_EVIDENCE_TYPES=application/pdf,image/png as well as a JSON list.
        if isinstance(value, str):
            if value.lstrip().startswith("["):
                return json.loads(value)
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @property
    def sqlite_file(self) -> Path | None:
        """The SQLite database file, or None for a server database (beside it go the default data folders)."""
        url = self.database_url
        if url.startswith("sqlite:///") and len(url) > len("sqlite:///"):
            return Path(url.removeprefix("sqlite:///")).resolve()
        return None

    @property
    def evidence_path(self) -> Path:
        """The folder of stored evidence files: the setting, or a default beside the data."""
        if self.evidence_dir is not None:
            return self.evidence_dir
        db = self.sqlite_file
        return db.with_name(db.name + ".evidence") if db else Path("closeloop-data") / "evidence"

    @property
    def migration_url(self) -> str:
        """The URL `closeloop migrate` connects with: the owner's, else the application's own."""
        return self.migration_database_url or self.database_url

    @property
    def audit_keys_path(self) -> Path:
        """The folder of checkpoint signing keys: the setting, or a default beside the data."""
        if self.audit_key_dir is not None:
            return self.audit_key_dir
        db = self.sqlite_file
        return db.parent / "audit-keys" if db else Path("closeloop-data") / "audit-keys"

    @property
    def tz(self) -> ZoneInfo:
        """The deployment's time zone, in which deadlines are dates."""
        return ZoneInfo(self.timezone)

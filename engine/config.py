"""Deployment settings, read from CLOSELOOP_* environment variables."""
from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
BUNDLED_WORKFLOWS = PROJECT_ROOT / "workflows"


class Settings(BaseSettings):
    """Everything a deployment may change; defaults give a working embedded setup."""

    model_config = SettingsConfigDict(env_prefix="CLOSELOOP_", extra="ignore")

    database_url: str = "sqlite:///closeloop.db"
    workflows_dir: Path = BUNDLED_WORKFLOWS
    default_workflow: str = "standard"
    timezone: str = "Asia/Shanghai"
    # Days before a deadline at which the traffic light turns yellow.
    yellow_days: int = 3
    number_prefix: str = "ZG"
    max_body_bytes: int = 1024 * 1024
    # All request header fields together (names and values); more answers 431.
    max_header_bytes: int = 32 * 1024
    # Bad tokens one address may send per window before its requests answer 429 for the rest of it (0: off).
    auth_failure_limit: int = 20
    auth_failure_window_seconds: int = 60
    # Reminders and escalations fall due at this local hour on working days (never at night or on a holiday).
    notify_hour: int = Field(default=9, ge=0, le=23)
    # How often each process's sweep looks for due notices, and how many items one sweep transaction takes.
    sweep_interval_seconds: int = Field(default=60, ge=1)
    sweep_batch: int = Field(default=500, ge=1, le=10000)
    # Where the checkpoint signing keys live (private keys mode 0600); unset: beside the SQLite file, or
    # ./closeloop-data/audit-keys for a server database. Each process making checkpoints must see the same folder.
    audit_key_dir: Path | None = None
    # Local hour at which the scheduler makes the day's signed checkpoint (once a day, whichever process is first).
    audit_checkpoint_hour: int = Field(default=1, ge=0, le=23)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        ZoneInfo(value)
        return value

    @property
    def audit_keys_path(self) -> Path:
        """The folder of checkpoint signing keys: the setting, or a default beside the data."""
        if self.audit_key_dir is not None:
            return self.audit_key_dir
        url = self.database_url
        if url.startswith("sqlite:///") and len(url) > len("sqlite:///"):
            return Path(url.removeprefix("sqlite:///")).resolve().parent / "audit-keys"
        return Path("closeloop-data") / "audit-keys"

    @property
    def tz(self) -> ZoneInfo:
        """The deployment's time zone, in which deadlines are dates."""
        return ZoneInfo(self.timezone)

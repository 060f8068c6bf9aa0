"""The database tables, as SQLModel classes. Migrations in migrations/ create them; nothing else does."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from engine.clock import UTC


class UTCDateTime(sa.types.TypeDecorator):
    """Stores UTC without zone (SQLite keeps text) and always hands back timezone-aware UTC."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: sa.Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: dt.datetime | None, dialect: sa.Dialect) -> dt.datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def _utc_column(nullable: bool = False, index: bool = False) -> sa.Column:
    return sa.Column(UTCDateTime(), nullable=nullable, index=index)


class Unit(SQLModel, table=True):
    """A responsible unit (责任单位); units form a tree kept as a materialized path."""

    __tablename__ = "units"
    # Codes are unique regardless of case: 'dept-a' beside 'DEPT-A' would name two units one person reads as one.
    __table_args__ = (sa.Index("uq_units_code_nocase", sa.func.lower(sa.column("code")), unique=True),)
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=64, unique=True)
    name: str = Field(max_length=200)
    parent_id: int | None = Field(default=None, foreign_key="units.id")
    # "/1/4/9/": the ids from the root down to this unit, so a subtree is one prefix match.
    path: str = Field(max_length=1000, index=True)
    created_at: dt.datetime = Field(sa_column=_utc_column())


class User(SQLModel, table=True):
    """A person who acts in the loop, with one or more roles and a home unit."""

    __tablename__ = "users"
    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True)
    display_name: str = Field(default="", max_length=200)
    unit_id: int = Field(foreign_key="units.id", index=True)
    roles: str = Field(max_length=200)  # comma-separated, sorted
    email: str | None = Field(default=None, max_length=254)
    active: bool = True
    created_at: dt.datetime = Field(sa_column=_utc_column())
    # Argon2id hash of the web sign-in password (engine.people.passwords); None: the user cannot sign in.
    password_hash: str | None = Field(default=None, max_length=200)


class Token(SQLModel, table=True):
    """An API token; only its SHA-256 is kept, the token itself is shown once."""

    __tablename__ = "tokens"
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    token_hash: str = Field(max_length=64, unique=True)
    label: str = Field(default="", max_length=200)
    created_at: dt.datetime = Field(sa_column=_utc_column())
    revoked_at: dt.datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))


class WorkflowVersion(SQLModel, table=True):
    """One exact rule set of a workflow; items keep the version they started on."""

    __tablename__ = "workflow_versions"
    hash: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=64, index=True)
    version: str = Field(max_length=64)
    definition: str  # canonical JSON of the validated definition
    created_at: dt.datetime = Field(sa_column=_utc_column())


class NumberSequence(SQLModel, table=True):
    """The last item number handed out per year (ZG-2026-000123)."""

    __tablename__ = "number_sequences"
    year: int = Field(primary_key=True)
    last: int = 0


class Item(SQLModel, table=True):
    """A problem to be rectified (整改事项) and where it stands now."""

    __tablename__ = "items"
    # The list's indexes (migration 0009): each ends in the list's order, created_at, id, so that a filter's
    # rows come out already ordered; the text-search ones (engine.listing.textsearch) are outside the models.
    __table_args__ = (sa.Index("ix_items_created", "created_at", "id", "unit_id", "deadline", "due_date"),
                      sa.Index("ix_items_unit_created", "unit_id", "created_at", "id", "deadline"),
                      sa.Index("ix_items_unit_state_created", "unit_id", "state", "created_at", "id"),
                      sa.Index("ix_items_state_created", "state", "created_at", "id", "unit_id", "deadline"),
                      *(sa.Index(f"ix_items_{c}_created", c, "created_at", "id")
                        for c in ("campaign", "assignee", "source", "severity", "workflow")),
                      # The open items with what the summary report counts of them (migration 0013).
                      sa.Index("ix_items_open", "unit_id", "state", "created_at", "deadline", "reopened_count", "source",
                               "severity", "workflow", "campaign", "closed_at", sqlite_where=sa.text("closed_at IS NULL"),
                               postgresql_where=sa.text("closed_at IS NULL")))
    id: str = Field(primary_key=True, max_length=36)
    number: str = Field(max_length=32, unique=True)
    workflow: str = Field(max_length=64)
    workflow_hash: str = Field(foreign_key="workflow_versions.hash", max_length=64)
    state: str = Field(max_length=64)
    version: int = 1
    title: str = Field(max_length=200)
    description: str = Field(default="")
    source: str = Field(max_length=32)
    severity: str = Field(max_length=16)
    unit_id: int = Field(foreign_key="units.id")
    assignee: str | None = Field(default=None, foreign_key="users.username", max_length=64)
    due_date: dt.date | None = Field(default=None, index=True)
    requested_due_date: dt.date | None = None
    # The deadline that applies in the current state (due date, a span from entering it, or a rhythm).
    deadline: dt.date | None = Field(default=None, index=True)
    state_entered_at: dt.datetime = Field(sa_column=_utc_column())
    measures: str = Field(default="")
    external_ref: str | None = Field(default=None, max_length=100)
    campaign: str | None = Field(default=None, max_length=100)
    tags: str = Field(default="[]")  # JSON list
    created_by: str = Field(max_length=64)
    submitted_by: str | None = Field(default=None, max_length=64)
    reopened_count: int = 0
    # The head of this item's history chain, updated in the same transaction as each appended record.
    history_seq: int = 0
    history_hash: str = Field(default="", max_length=64)
    next_reminder_at: dt.datetime | None = Field(default=None, sa_column=_utc_column(nullable=True, index=True))
    closed_at: dt.datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    created_at: dt.datetime = Field(sa_column=_utc_column())
    updated_at: dt.datetime = Field(sa_column=_utc_column())


class HistoryRecord(SQLModel, table=True):
    """One accepted step of an item's life, hash-chained to the one before. Never updated or deleted."""

    __tablename__ = "history"
    __table_args__ = (sa.UniqueConstraint("item_id", "seq", name="uq_history_item_seq"),)
    id: int | None = Field(default=None, primary_key=True)
    item_id: str = Field(foreign_key="items.id", max_length=36)
    seq: int
    trigger: str = Field(max_length=64)
    from_state: str | None = Field(default=None, max_length=64)
    to_state: str = Field(max_length=64)
    actor: str = Field(max_length=64)
    at: str = Field(max_length=32)  # the exact RFC 3339 text that was hashed
    comment: str | None = None
    evidence: str = Field(default="[]")  # canonical JSON list
    fields: str = Field(default="{}")  # canonical JSON object
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class Outbox(SQLModel, table=True):
    """Events written in the same transaction as the change; delivered after commit."""

    __tablename__ = "outbox"
    id: int | None = Field(default=None, primary_key=True)
    event: str = Field(max_length=64)
    item_id: str | None = Field(default=None, max_length=36)
    payload: str
    # The sweep that wrote it, so that delivery can send one digest per recipient and channel per sweep.
    batch: str | None = Field(default=None, max_length=64)
    created_at: dt.datetime = Field(sa_column=_utc_column())
    dispatched_at: dt.datetime | None = Field(default=None, sa_column=_utc_column(nullable=True, index=True))


class IdempotencyKey(SQLModel, table=True):
    """A finished request's stored response, so a retry with the same key gets the same answer."""

    __tablename__ = "idempotency_keys"
    user_id: int = Field(foreign_key="users.id", primary_key=True)
    key: str = Field(primary_key=True, max_length=200)
    request_hash: str = Field(max_length=64)
    status: int
    headers: str = Field(default="{}")
    body: bytes = Field(sa_column=sa.Column(sa.LargeBinary, nullable=False))
    created_at: dt.datetime = Field(sa_column=_utc_column(index=True))


# Tables of the capabilities that live in their own subpackages, registered with the core ones so that
# migrations and the schema check see every table.
from engine.audit import models as _audit_models  # noqa: E402,F401
from engine.campaigns import models as _campaign_models  # noqa: E402,F401
from engine.delivery import models as _delivery_models  # noqa: E402,F401
from engine.evidence import models as _evidence_models  # noqa: E402,F401
from engine.listing import models as _listing_models  # noqa: E402,F401
from engine.lookback import models as _lookback_models  # noqa: E402,F401
from engine.people import models as _people_models  # noqa: E402,F401
from engine.reminders import models as _reminder_models  # noqa: E402,F401
from engine.reports import models as _report_models  # noqa: E402,F401

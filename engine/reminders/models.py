"""The tables of reminders: each notice issued (once, by its key) and each recipient's copy of it (the inbox)."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from engine.models import _utc_column


class Notice(SQLModel, table=True):
    """A reminder or escalation issued for an item; ``key`` (item, state entry, rule, due instant) makes it once."""

    __tablename__ = "notices"
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=200, unique=True)
    item_id: str = Field(foreign_key="items.id", max_length=36, index=True)
    kind: str = Field(max_length=32)  # reminder.due_soon, reminder.overdue, escalation.issued
    level: str | None = Field(default=None, max_length=16)  # blue, orange, red for escalations
    rule: str = Field(max_length=100)  # e.g. "rectifying.escalation.orange"
    state: str = Field(max_length=64)
    deadline: dt.date
    due_at: dt.datetime = Field(sa_column=_utc_column())
    issued_at: dt.datetime = Field(sa_column=_utc_column())
    # issued, or superseded: fell due together with a higher escalation level, recorded but not sent.
    status: str = Field(default="issued", max_length=16)
    recipients: str = Field(default="[]")  # JSON list of usernames


class NoticeRecipient(SQLModel, table=True):
    """One person's copy of a notice: what their inbox lists, read or not."""

    __tablename__ = "notice_recipients"
    __table_args__ = (sa.UniqueConstraint("notice_id", "username", name="uq_notice_recipient"),
                      sa.Index("ix_notice_recipients_inbox", "username", "read_at", "notice_id"))
    id: int | None = Field(default=None, primary_key=True)
    notice_id: int = Field(foreign_key="notices.id")
    username: str = Field(foreign_key="users.username", max_length=64)
    read_at: dt.datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))

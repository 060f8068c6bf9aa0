"""The table of web sessions: who signed in, when, when last seen, and when the session ended."""
from __future__ import annotations

import datetime as dt

from sqlmodel import Field, SQLModel

from engine.models import _utc_column


class WebSession(SQLModel, table=True):
    """A signed-in browser; only the SHA-256 of its session id is kept, so a copy of the table signs nobody in."""

    __tablename__ = "web_sessions"
    id: int | None = Field(default=None, primary_key=True)
    session_hash: str = Field(max_length=64, unique=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    created_at: dt.datetime = Field(sa_column=_utc_column())
    last_seen_at: dt.datetime = Field(sa_column=_utc_column())
    ended_at: dt.datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))

"""The campaigns table: a round (专项整治) or inspection report that items name by its code."""
from __future__ import annotations

import datetime as dt

from sqlmodel import Field, SQLModel

from engine.models import _utc_column


class Campaign(SQLModel, table=True):
    """A registered campaign; items name it by ``code`` (items.campaign), registered or not yet."""

    __tablename__ = "campaigns"
    code: str = Field(primary_key=True, max_length=100)
    name: str = Field(max_length=200)
    issued_by: str = Field(max_length=200)
    issued_on: dt.date
    created_by: str = Field(max_length=64)
    created_at: dt.datetime = Field(sa_column=_utc_column())

"""The look-back tables: each draw, its sample in order, and each re-check. Rows are only ever inserted."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from engine.models import _utc_column


class Lookback(SQLModel, table=True):
    """One draw: who drew it, on what population, with which seed (the admin log holds the same, hash-chained)."""

    __tablename__ = "lookbacks"
    id: int | None = Field(default=None, primary_key=True)
    seed: str = Field(max_length=64)
    size: int | None = None  # as asked: a size, or a percent of the population
    percent: int | None = None
    unit: str | None = Field(default=None, max_length=64)
    campaign: str | None = Field(default=None, max_length=100)
    population: int
    population_digest: str = Field(max_length=64)  # SHA-256 over the sorted item numbers, one a line
    created_by: str = Field(max_length=64)
    created_at: dt.datetime = Field(sa_column=_utc_column())


class LookbackItem(SQLModel, table=True):
    """One sampled item, in the order the draw ranked it."""

    __tablename__ = "lookback_items"
    lookback_id: int = Field(foreign_key="lookbacks.id", primary_key=True, sa_column_kwargs={"autoincrement": False})
    position: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    item_id: str = Field(foreign_key="items.id", max_length=36)


class LookbackCheck(SQLModel, table=True):
    """The re-check of one sampled item; at most one per item and draw. Its history record is ``history_seq``."""

    __tablename__ = "lookback_checks"
    __table_args__ = (sa.UniqueConstraint("lookback_id", "item_id", name="uq_lookback_checks_item"),)
    id: int | None = Field(default=None, primary_key=True)
    lookback_id: int = Field(foreign_key="lookbacks.id", index=True)
    item_id: str = Field(foreign_key="items.id", max_length=36)
    result: str = Field(max_length=16)  # passed | failed
    note: str
    checked_by: str = Field(max_length=64)
    checked_at: dt.datetime = Field(sa_column=_utc_column())
    history_seq: int

"""The summary report's kept counts: per group, unit, registration month and state, the figures of the items
that are closed or cancelled (closed_at set), kept in step with the items by triggers (migration 0013).

Open items are never in them: their "overdue" depends on today, so the report counts them live (docs/REPORTS.md).
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Field, SQLModel


class ReportCount(SQLModel, table=True):
    """The final items of one group (``dimension`` = ``group_key``) in one unit, registered in one local month,
    in one final state: how many, how many had a due date and met it, were ever reopened, their days to close, and
    how many of them have a known time to close (closed after they were registered: ``timed``, migration 0018)."""

    __tablename__ = "report_counts"
    # What the report reads, in the order it groups by (migrations 0014, 0018): the sums need neither the table
    # nor a sort.
    __table_args__ = (sa.Index("ix_report_counts_by_group", "dimension", "group_key", "state", "unit_id", "month",
                               "items", "with_due", "on_time", "reopened", "days", "timed"),)
    dimension: str = Field(primary_key=True, max_length=16)  # unit, source, severity, workflow or campaign
    group_key: str = Field(primary_key=True, max_length=100)  # unit: its id; campaign: '' for none
    unit_id: int = Field(primary_key=True)
    month: str = Field(primary_key=True, max_length=7)  # YYYY-MM, the local month of created_at
    state: str = Field(primary_key=True, max_length=64)
    items: int = 0
    with_due: int = 0
    on_time: int = 0
    reopened: int = 0
    days: float = Field(default=0.0, sa_column=sa.Column(sa.Float, nullable=False))
    # The divisor of the mean days to close: an item a ledger brought in already closed adds to items, not here.
    # The server default is what filled the rows migration 0018 found (SQLite adds no NOT NULL column without one).
    timed: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False, server_default="0"))


class ReportCountsZone(SQLModel, table=True):
    """The one row saying in which time zone report_counts reckon months and closing days (None: not filled yet).

    The triggers read it; the runtime refills the counts when its own zone differs (engine.reports.kept)."""

    __tablename__ = "report_counts_zone"
    id: int = Field(primary_key=True)
    tz: str | None = Field(default=None, max_length=64)
    utc_offset: int = 0  # seconds; SQLite reckons local days with it (no zone rules there)

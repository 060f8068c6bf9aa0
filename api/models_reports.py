"""Response shapes of the summary report (docs/REPORTS.md defines every figure)."""
from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field

GroupBy = Literal["unit", "source", "severity", "workflow", "campaign"]


class Figures(BaseModel):
    """The figures of one group (or of all groups together)."""

    total: int = Field(description="Items registered in the period")
    open: int = Field(description="Items in a state that is not final")
    closed: int = Field(description="Items closed (销号)")
    cancelled: int = Field(description="Items voided (作废): neither open nor closed")
    overdue: int = Field(description="Open items whose deadline in force has passed")
    closure_rate: float | None = Field(description="closed / (total - cancelled); null when that is 0")
    overdue_rate: float | None = Field(description="overdue / open; null when nothing is open")
    on_time_rate: float | None = Field(description="closed on time / closed items that have a due date")
    closed_on_time: int = Field(description="Closed items whose local closing day is on or before their due date")
    avg_days_to_close: float | None = Field(description="Mean days from registration to closure of the closed items "
                                            "closed after they were registered here (not those a ledger brought in "
                                            "already closed); null when there are none")
    reopened: int = Field(description="Items reopened at least once (a look-back that failed, a closure undone)")
    reopen_rate: float | None = Field(description="reopened / items ever closed (closed now or reopened)")


class SummaryGroup(Figures):
    """One group: its key (a unit code, source, severity, workflow or campaign code; null: no campaign)."""

    key: str | None
    label: str | None = Field(description="The unit's or campaign's name, the workflow's title; else null")


class SummaryOut(BaseModel):
    """The summary report within the caller's scope."""

    group_by: GroupBy
    from_: dt.date | None = Field(alias="from", description="First registration day counted (local date)")
    to: dt.date | None = Field(description="Last registration day counted (local date)")
    today: dt.date = Field(description="The day overdue is judged against")
    scope: str = Field(description="'all', or the unit code whose subtree the caller reads")
    groups: list[SummaryGroup]
    totals: Figures

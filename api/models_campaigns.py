"""Response shapes of campaigns (对账销号) and look-backs (回头看)."""
from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field

from api.models import Light
from api.problem_shapes import StateName


class CampaignOut(BaseModel):
    """A campaign; an unregistered one (named by items only) has nulls beside its code."""

    code: str
    name: str | None
    issued_by: str | None
    issued_on: dt.date | None
    registered: bool = Field(description="false: items name this code but no campaign is registered under it")
    created_by: str | None
    created_at: dt.datetime | None


class CampaignListed(CampaignOut):
    """A campaign with the number of its items in the caller's scope."""

    items: int


class CampaignList(BaseModel):
    """Every campaign, registered or named by items, by code."""

    data: list[CampaignListed]


class ReconciledItem(BaseModel):
    """One item of the campaign as the reconciliation reads it."""

    id: str
    number: str
    title: str
    unit: str
    state: StateName
    state_title: str
    settled: bool = Field(description="In a final state: closed (销号) or cancelled (作废)")
    light: Light
    overdue: bool
    overdue_days: int
    due_date: dt.date | None
    closed_on: dt.date | None = Field(description="The local day it was closed, if it is closed")
    closed_on_time: bool | None = Field(description="Closed on or before its due date; null if not closed or no due date")
    reopened_count: int


class ReconcileSummary(BaseModel):
    """Counts over the campaign's items in the caller's scope."""

    items: int
    closed: int
    cancelled: int
    open: int
    overdue: int
    closed_on_time: int
    closed_late: int


class CampaignReconciliation(BaseModel):
    """对账销号: the campaign's items one by one and whether it can be reported closed."""

    code: str
    campaign: CampaignOut | None = Field(description="null while no campaign is registered under the code")
    scope: str = Field(description="'all', or the unit whose subtree the caller reads (the verdict covers that)")
    today: dt.date
    summary: ReconcileSummary
    can_report_closed: bool = Field(description="Registered, has items, and every item is closed or cancelled")
    reasons: list[str] = Field(description="Why it cannot be reported closed (empty when it can)")
    items: list[ReconciledItem]


class LookbackCheckOut(BaseModel):
    """The re-check of one sampled item."""

    result: Literal["passed", "failed"]
    note: str
    checked_by: str
    checked_at: dt.datetime
    history_seq: int = Field(description="The item's history record of the re-check (a failed one is followed by "
                                         "the reopen)")


class LookbackItemOut(BaseModel):
    """One sampled item and its re-check, if done."""

    position: int
    id: str
    number: str
    title: str
    unit: str
    state: StateName
    check: LookbackCheckOut | None


class LookbackOut(BaseModel):
    """A look-back draw: how it was drawn (enough to draw it again), the sample, and the re-checks so far."""

    id: int
    seed: str
    size: int | None
    percent: int | None
    unit: str | None
    campaign: str | None
    population: int = Field(description="Closed items matching the criteria when the sample was drawn")
    population_digest: str = Field(description="SHA-256 over their numbers, sorted, one per line (\\n after each)")
    admin_log_seq: int = Field(description="The admin-log entry that recorded the draw")
    created_by: str
    created_at: dt.datetime
    checked: int
    passed: int
    failed: int
    items: list[LookbackItemOut]

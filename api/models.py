"""Response shapes, for the OpenAPI document (handlers return pre-serialized JSON of these shapes)."""
from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.problem_shapes import StateName
from engine.inputs import LIGHTS, SEVERITIES, SOURCES

Source = Literal[SOURCES]  # type: ignore[valid-type]
Severity = Literal[SEVERITIES]  # type: ignore[valid-type]
Light = Literal[LIGHTS]  # type: ignore[valid-type]


class ItemOut(BaseModel):
    """An item as the caller sees it."""

    id: str
    number: str
    workflow: str
    workflow_version: str
    workflow_hash: str
    state: StateName
    state_title: str
    state_title_en: str
    version: int
    title: str
    description: str
    source: Source
    severity: Severity
    unit: str
    assignee: str | None
    due_date: dt.date | None = Field(description="整改时限: the date the whole rectification is due")
    requested_due_date: dt.date | None = Field(description="A new due date asked for, until it is approved")
    deadline: dt.date | None = Field(description="When the current step is due (null while no clock runs)")
    light: Light
    overdue_days: int
    measures: str
    external_ref: str | None
    campaign: str | None
    tags: list[str]
    created_by: str
    submitted_by: str | None
    reopened_count: int
    allowed_triggers: list[str] = Field(description="The triggers this caller may fire now (it depends on the caller)")
    closed_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime


class EvidenceOut(BaseModel):
    """A file or link recorded as proof of a fix, by its SHA-256."""

    model_config = ConfigDict(extra="allow")
    name: str
    sha256: str = Field(pattern="^[0-9a-f]{64}$")
    url: str | None = None
    stored: bool | None = Field(default=None, description="True for a file uploaded to closeloop (downloadable "
                                                          "from /items/{id}/evidence/{sha256}); absent otherwise")
    size: int | None = Field(default=None, description="Bytes, for a stored file")
    media_type: str | None = Field(default=None, description="The stored file's type, judged by its content")


class HistoryOut(BaseModel):
    """One record of an item's hash-chained history."""

    seq: int
    trigger: str
    from_state: StateName | None
    to_state: StateName
    actor: str
    at: dt.datetime
    comment: str | None
    evidence: list[EvidenceOut]
    fields: dict[str, Any] = Field(description="Item fields this record set (all of them for the creation)")
    prev_hash: str
    hash: str


class TransitionOut(ItemOut):
    """The item after a transition, with the history record it appended."""

    transition: HistoryOut


class ItemPage(BaseModel):
    """One page of items."""

    data: list[ItemOut]
    next_cursor: str | None
    total: int | None = Field(None, description="Items matching the filters on every page (with count=true).")


class HistoryList(BaseModel):
    """An item's whole history, oldest first."""

    data: list[HistoryOut]

"""Response shapes, for the OpenAPI document (handlers return pre-serialized JSON of these shapes)."""
from __future__ import annotations

from pydantic import BaseModel


class Problem(BaseModel):
    """An RFC 9457 problem; some carry extra fields (state, allowed_triggers, current_version, reason, guard)."""

    type: str
    title: str
    status: int
    detail: str


class ItemOut(BaseModel):
    """An item as the caller sees it."""

    id: str
    number: str
    workflow: str
    workflow_version: str
    workflow_hash: str
    state: str
    state_title: str
    state_title_en: str
    version: int
    title: str
    description: str
    source: str
    severity: str
    unit: str
    assignee: str | None
    due_date: str | None
    requested_due_date: str | None
    deadline: str | None
    light: str
    overdue_days: int
    measures: str
    external_ref: str | None
    campaign: str | None
    tags: list[str]
    created_by: str
    submitted_by: str | None
    reopened_count: int
    allowed_triggers: list[str]
    closed_at: str | None
    created_at: str
    updated_at: str


class HistoryOut(BaseModel):
    """One record of an item's hash-chained history."""

    seq: int
    trigger: str
    from_state: str | None
    to_state: str
    actor: str
    at: str
    comment: str | None
    evidence: list[dict]
    fields: dict
    prev_hash: str
    hash: str


class TransitionOut(ItemOut):
    """The item after a transition, with the history record it appended."""

    transition: HistoryOut


class ItemPage(BaseModel):
    """One page of items."""

    data: list[ItemOut]
    next_cursor: str | None


class HistoryList(BaseModel):
    """An item's whole history, oldest first."""

    data: list[HistoryOut]


PROBLEM_CONTENT = {"application/problem+json": {"schema": Problem.model_json_schema()}}


def errors(*statuses: int) -> dict:
    """OpenAPI ``responses`` entries for the listed problem statuses, plus any other client error (4XX).

    Not ``model=Problem``: FastAPI would list the schema under application/json, which errors are never
    served as. The 4XX entry also keeps FastAPI from adding its own ``{"detail": [...]}`` 422, which this
    app never answers (its validation errors are problems too).
    """
    entries = {s: {"content": PROBLEM_CONTENT} for s in statuses}
    return {**entries, "4XX": {"description": "Any other client error", "content": PROBLEM_CONTENT}}


IF_MATCH = {"name": "If-Match", "in": "header", "required": False, "schema": {"type": "string"},
            "description": 'The item\'s ETag (its version, e.g. "3"); a stale one answers 412.'}
IDEMPOTENCY_KEY = {"name": "Idempotency-Key", "in": "header", "required": False,
                   "schema": {"type": "string", "maxLength": 200},
                   "description": "A retry with the same key and body returns the first response and changes nothing."}


def headers_doc(*parameters: dict) -> dict:
    """``openapi_extra`` documenting headers that a route reads itself rather than as parameters."""
    return {"parameters": list(parameters)}

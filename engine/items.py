"""Registering items and the checks shared by every write that names a unit or an assignee."""
from __future__ import annotations

import json
from typing import NamedTuple

import orjson
import sqlalchemy as sa

from engine import history, itemrows
from engine.accounts import Actor
from engine.clock import rfc3339
from engine.deadlines import implausible_day, state_deadline
from engine.errors import Forbidden, InvalidInput
from engine.guards import past_max_due
from engine.inputs import NewItem
from engine.registry import UnknownWorkflow
from engine.reminders.clock import reminder_clock
from engine.runtime import Runtime

CREATE_ROLES = frozenset({"registrar", "supervisor", "admin"})


class UnitRef(NamedTuple):
    """A unit as the write path needs it (itemrows.SELECT_UNIT's columns)."""

    id: int
    code: str
    path: str


class AssigneeRow(NamedTuple):
    """A would-be assignee as the checks need them (itemrows.SELECT_ASSIGNEE's columns)."""

    username: str
    roles: str
    active: bool
    path: str


def resolve_unit(conn: sa.Connection, actor: Actor, code: str, granting_roles: frozenset[str], *,
                 field: str = "unit") -> UnitRef:
    """The unit with ``code``, which must exist and lie within the write scope of the roles that grant the action."""
    found = itemrows.UNIT_BY_CODE.first(conn, {"code": code})
    if found is None:
        raise InvalidInput(f"unit {code!r} does not exist", field=field)
    row = UnitRef(**found)
    if not actor.can_act(granting_roles, row.path):
        raise Forbidden(f"unit {code!r} is outside {actor.username}'s unit scope", reason="unit_scope")
    return row


def check_assignee(conn: sa.Connection, username: str, unit_path: str, *, field: str = "assignee") -> None:
    """An assignee must be an active user with the assignee role, of the item's own unit (one of a unit below
    could not even see the item: a user sees their own unit's items and those below it)."""
    problem = unfit_assignee(conn, username, unit_path)
    if problem is not None:
        raise InvalidInput(problem, field=field)


def unfit_assignee(conn: sa.Connection, username: str, unit_path: str) -> str | None:
    """Why ``username`` cannot be the assignee of an item of the unit at ``unit_path``, or None."""
    found = itemrows.ASSIGNEE_BY_NAME.first(conn, {"username": username})
    return assignee_problem(None if found is None else AssigneeRow(**found), username, unit_path)


def assignee_problem(row: AssigneeRow | sa.Row | None, username: str, unit_path: str) -> str | None:
    """Why the user (their SELECT_ASSIGNEE row, None if missing) cannot be an item's assignee, or None."""
    if row is None or not row.active:
        return f"user {username!r} does not exist or is inactive"
    if "assignee" not in row.roles.split(","):
        return f"user {username!r} does not have the assignee role"
    if row.path != unit_path:
        return (f"user {username!r} does not belong to the item's unit (an assignee is one of its own unit's "
                f"people; to hand the item to another unit, transfer it there)")
    return None


def outbox_row(event: str, item: dict, record: dict, now) -> dict:
    """An outbox row announcing a history record."""
    payload = {"event": event, "item": item["id"], "number": item["number"], "seq": record["seq"],
               "trigger": record["trigger"], "from_state": record["from_state"], "to_state": record["to_state"],
               "actor": record["actor"], "at": record["at"], "title": item["title"], "unit": item["unit_code"],
               "unit_path": item["unit_path"]}
    return {"event": event, "item_id": item["id"], "payload": orjson.dumps(payload).decode(), "batch": None,
            "created_at": now}


def create_item(conn: sa.Connection, rt: Runtime, actor: Actor, data: NewItem) -> tuple[dict, dict]:
    """Register a new item in its workflow's initial state; return (item row, creation record)."""
    if not actor.roles & CREATE_ROLES:
        raise Forbidden("only registrars, supervisors and admins register items", reason="role")
    name = data.workflow or rt.settings.default_workflow
    try:
        wf = rt.registry.current(name)
    except UnknownWorkflow:
        raise InvalidInput(f"unknown workflow {name!r} (known: {', '.join(rt.registry.names())})",
                           field="workflow") from None
    unit = resolve_unit(conn, actor, data.unit, CREATE_ROLES)
    if data.assignee is not None:
        check_assignee(conn, data.assignee, unit.path)
    now = rt.clock.now()
    today = rt.local_date(now)
    # Checked here as well as at `assign`: an item must not sit registered with a due date its workflow forbids.
    # A due date already past is allowed: the problem is late from the start, and shows red at once.
    too_late = past_max_due(data.due_date, wf.definition.due_date.max, today)
    if too_late is not None:
        raise InvalidInput(f"{too_late} (workflow {name!r})", field="due_date")
    slip = implausible_day("due_date", data.due_date, today)
    if slip is not None:
        raise InvalidInput(slip, field="due_date")
    number = itemrows.number_text(rt.settings.number_prefix, today.year, itemrows.next_number(conn, today.year))
    initial = wf.definition.initial
    item_id = itemrows.new_item_id()
    registered = data.model_dump(mode="json", exclude_none=True)
    registered["unit"] = unit.code  # the code as stored, which the history replays against the row
    registered["workflow"] = name
    registered["workflow_version"] = wf.definition.version
    registered["workflow_hash"] = wf.hash
    # In the chain, so that the number offices and the ledger know the item by cannot be changed or swapped unseen.
    registered["number"] = number
    record, record_params = history.new_record(
        item_id=item_id, seq=1, trigger="create", from_state=None, to_state=initial, actor=actor.username,
        at=rfc3339(now), comment=None, evidence=[], fields=registered, prev_hash=history.GENESIS)
    row = {
        "id": item_id, "number": number, "workflow": name, "workflow_hash": wf.hash, "state": initial,
        "version": 1, "title": data.title, "description": data.description, "source": data.source,
        "severity": data.severity, "unit_id": unit.id, "assignee": data.assignee, "due_date": data.due_date,
        "requested_due_date": None,
        "deadline": state_deadline(wf.definition, initial, entered=today, due_date=data.due_date),
        "state_entered_at": now, "measures": data.measures, "external_ref": data.external_ref,
        "campaign": data.campaign, "tags": json.dumps(data.tags, ensure_ascii=False), "created_by": actor.username,
        "submitted_by": None, "reopened_count": 0, "history_seq": 1, "history_hash": record["hash"],
        "next_reminder_at": None, "closed_at": None, "created_at": now, "updated_at": now,
    }
    row["next_reminder_at"] = reminder_clock(rt, wf.definition, row)
    itemrows.INSERT_NEW_ITEM.run(conn, row)
    itemrows.INSERT_HISTORY.run(conn, record_params)
    row["unit_code"], row["unit_path"] = unit.code, unit.path
    itemrows.INSERT_OUTBOX.run(conn, outbox_row("item.created", row, record, now))
    return row, record

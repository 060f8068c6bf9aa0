"""The ledger as it stood at the end of a past day, rebuilt from each item's history.

Title, description, source, external reference and campaign never change after registration, so they are
read from the item row; state, unit, assignee, due date and measures are replayed from the records made
before the day ended, and the deadline and light are computed as they were on that day.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Iterator

import sqlalchemy as sa

from engine import itemrows, queries
from engine.accounts import Actor
from engine.clock import rfc3339
from engine.deadlines import light, restarts_clock, state_deadline
from engine.definitions.workflow import WorkflowDef
from engine.ledger.columns import ledger_row, progress_of
from engine.ledger.export import LEDGER_SELECT, in_chunks
from engine.runtime import Runtime

items, units, history = itemrows.items, itemrows.units, itemrows.history
# Replayed from the records: the columns a transition may change (engine.service.RECORDED_FIELDS).
CHANGING = ("unit", "assignee", "due_date", "measures")


@dataclass
class Then:
    """An item's changing columns as they stood at the cut-off."""

    state: str
    unit: str
    assignee: str | None
    due_date: dt.date | None
    measures: str
    deadline: dt.date | None
    closed_on: dt.date | None
    progress: str | None


def end_of_day(rt: Runtime, day: dt.date) -> dt.datetime:
    """The first instant after ``day`` in the deployment's time zone."""
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=rt.settings.tz)


def _date(value: str | None) -> dt.date | None:
    return dt.date.fromisoformat(value) if value else None


def replay(rt: Runtime, definition: WorkflowDef, records: list[dict]) -> Then:
    """Where an item stood after ``records`` (its first ones, oldest first)."""
    values = {name: records[0]["fields"].get(name) for name in CHANGING}
    entered = records[0]["at"]
    arrival = records[0]  # the record that brought the item into its state
    progress = None
    state = records[0]["to_state"]
    for record in records:
        if record["seq"] > 1:
            values.update({k: v for k, v in record["fields"].items() if k in CHANGING})
            if restarts_clock(definition, record["from_state"], record["to_state"]):
                entered = record["at"]
            if record["from_state"] != record["to_state"]:
                arrival = record
            state = record["to_state"]
        progress = progress_of(record) or progress
    due_date = _date(values["due_date"])
    entered_on = rt.local_date(dt.datetime.fromisoformat(entered.replace("Z", "+00:00")))
    closed_on = None
    if definition.state(state).final:
        # Closed on the day it came into the final state, as the live ledger's closed_at says; an import brought
        # its 销号日期, which records made since that keep the item where it is (a look-back's re-check) keep too.
        imported = arrival["fields"].get("closed_on") if arrival["trigger"] == "import" else None
        closed_on = _date(imported) or entered_on
    return Then(state=state, unit=values["unit"], assignee=values["assignee"], due_date=due_date,
                measures=values["measures"] or "",
                deadline=state_deadline(definition, state, entered=entered_on, due_date=due_date),
                closed_on=closed_on, progress=progress)


def _keeps(then: Then, f: queries.ItemFilters, unit_paths: dict[str, str], filter_paths: list[str] | None,
           day: dt.date, yellow_days: int) -> bool:
    """The list's filters whose answer changes with time, asked of the item as it stood."""
    if f.state is not None and then.state not in f.state:
        return False
    if filter_paths is not None and not any(unit_paths.get(then.unit, "").startswith(p) for p in filter_paths):
        return False
    if f.assignee is not None and then.assignee not in f.assignee:
        return False
    if f.due_before is not None and not (then.due_date is not None and then.due_date < f.due_before):
        return False
    if f.due_after is not None and not (then.due_date is not None and then.due_date > f.due_after):
        return False
    colour, _days = light(then.deadline, day, yellow_days)
    if f.light is not None and colour not in f.light:
        return False
    return f.overdue is None or (colour == "red") == f.overdue


def _records(conn: sa.Connection, item_ids: list[str], before: str) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    query = (sa.select(history.c.item_id, history.c.seq, history.c.trigger, history.c.from_state,
                       history.c.to_state, history.c.at, history.c.comment, history.c.fields)
             .where(history.c.item_id.in_(item_ids), history.c.at < before)
             .order_by(history.c.item_id, history.c.seq))
    for row in conn.execute(query).mappings():
        record = dict(row)
        record["fields"] = json.loads(record["fields"])
        found.setdefault(row["item_id"], []).append(record)
    return found


def rows_as_of(rt: Runtime, actor: Actor, f: queries.ItemFilters, day: dt.date) -> Iterator[tuple]:
    """The ledger's rows as they stood at the end of ``day``: the items registered by then, in that order."""
    cutoff = end_of_day(rt, day)
    before = rfc3339(cutoff)
    yellow_days = rt.settings.yellow_days
    # The filters that never change with time go to the database; scope is the caller's scope today.
    lasting = queries.ItemFilters(source=f.source, severity=f.severity, campaign=f.campaign, q=f.q,
                                  workflow=f.workflow)
    serial = 0
    with rt.store.read() as conn:
        unit_paths = dict(conn.execute(sa.select(units.c.code, units.c.path)).all())
        filter_paths = None
        if f.unit is not None:
            queries.filter_clauses(conn, actor, queries.ItemFilters(unit=f.unit), day, yellow_days)  # refuses
            by_code = {code.lower(): path for code, path in unit_paths.items()}  # codes ignore case, as the check
            filter_paths = [by_code[code.lower()] for code in f.unit if code.lower() in by_code]
        query = LEDGER_SELECT.where(*queries.filter_clauses(conn, actor, lasting, day, yellow_days),
                                    items.c.created_at < cutoff)
        for chunk in in_chunks(conn, query):
            records = _records(conn, [r["id"] for r in chunk], before)
            for item in chunk:
                if item["id"] not in records:
                    continue
                definition = rt.registry.by_hash(item["workflow_hash"]).definition
                then = replay(rt, definition, records[item["id"]])
                if not _keeps(then, f, unit_paths, filter_paths, day, yellow_days):
                    continue
                serial += 1
                shown = {**item, "unit_code": then.unit, "assignee": then.assignee, "due_date": then.due_date,
                         "measures": then.measures, "deadline": then.deadline}
                yield ledger_row(serial, shown, state_title=definition.state(then.state).title.zh,
                                 progress=then.progress, today=day, yellow_days=yellow_days, closed_on=then.closed_on)

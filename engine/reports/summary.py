"""The summary report: per group of items, how many are open, closed, overdue, closed on time and reopened.

The counts come per (group, state) from engine.reports.tally (kept counts of final items, open items live);
each state is then counted as open, closed or cancelled by the workflows' definitions, and rates are divided
out afterwards. docs/REPORTS.md defines each figure.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa

from engine.accounts import Actor
from engine.campaigns.models import Campaign
from engine.registry import WorkflowRegistry
from engine.reports.population import CANCELLED, StateSets, units
from engine.reports.tally import Period, Tallies, tallies

GROUPS = ("unit", "source", "severity", "workflow", "campaign")
COUNTS = ("total", "open", "closed", "cancelled", "overdue", "closed_with_due_date", "closed_on_time", "reopened",
          "ever_closed", "closed_timed")
_campaigns = Campaign.__table__


@dataclass(frozen=True)
class SummaryQuery:
    """What to report on: the grouping, the registration period (local dates, both ends included), today."""

    group_by: str
    date_from: dt.date | None
    date_to: dt.date | None
    today: dt.date


def group_rows(found: Tallies, states: StateSets) -> list[dict]:
    """One row of COUNTS (and days_to_close) per group key, from the (key, state) tallies; empty groups left out."""
    rows: dict = {}
    for (key, state), t in found.items():
        closed, is_open = state in states.closed, state not in states.final
        row = rows.setdefault(key, {"key": key, **{name: 0 for name in COUNTS}, "days_to_close": 0.0})
        row["total"] += t.items
        row["open"] += t.items if is_open else 0
        row["closed"] += t.items if closed else 0
        row["cancelled"] += t.items if state == CANCELLED else 0
        # The deadline in force now: the due date while rectifying, a step's span before and after (DESIGN.md).
        row["overdue"] += t.overdue if is_open else 0
        row["closed_with_due_date"] += t.with_due if closed else 0
        row["closed_on_time"] += t.on_time if closed else 0
        row["reopened"] += t.reopened
        row["ever_closed"] += t.items if closed else t.reopened
        # The mean's divisor: closed items whose time to close is known (not those a ledger brought in closed).
        row["closed_timed"] += t.timed if closed else 0
        row["days_to_close"] += t.days if closed else 0.0
    return [row for row in rows.values() if row["total"]]


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def figures_of(row: dict) -> dict:
    """The counts of a group and the rates made from them (None where the denominator is zero)."""
    counts = {name: int(row[name]) for name in COUNTS}
    return {
        **{k: counts[k] for k in ("total", "open", "closed", "cancelled", "overdue")},
        "closure_rate": _rate(counts["closed"], counts["total"] - counts["cancelled"]),
        "overdue_rate": _rate(counts["overdue"], counts["open"]),
        "on_time_rate": _rate(counts["closed_on_time"], counts["closed_with_due_date"]),
        "closed_on_time": counts["closed_on_time"],
        "avg_days_to_close": (round(float(row["days_to_close"]) / counts["closed_timed"], 2)
                              if counts["closed_timed"] else None),
        "reopened": counts["reopened"],
        "reopen_rate": _rate(counts["reopened"], counts["ever_closed"]),
    }


def summary(conn: sa.Connection, actor: Actor, registry: WorkflowRegistry, query: SummaryQuery, tz) -> dict:
    """The report: one row per group within the actor's scope, and the totals over all of them."""
    found = tallies(conn, actor, query.group_by, Period(query.date_from, query.date_to), query.today, tz)
    rows = group_rows(found, StateSets.of(registry))
    labels = _labels(conn, query.group_by, [r["key"] for r in rows], registry)
    groups = []
    for row in rows:
        code, label = labels.get(row["key"], (row["key"], None))
        groups.append({"key": code, "label": label, **figures_of(row)})
    groups.sort(key=lambda g: (g["key"] is None, str(g["key"])))
    totals = {name: sum(int(r[name]) for r in rows) for name in COUNTS}
    totals["days_to_close"] = sum(float(r["days_to_close"]) for r in rows)
    return {"group_by": query.group_by, "from": _iso(query.date_from), "to": _iso(query.date_to),
            "today": query.today.isoformat(), "scope": "all" if actor.sees_everything else actor.unit_code,
            "groups": groups, "totals": figures_of(totals)}


def _iso(day: dt.date | None) -> str | None:
    return day.isoformat() if day else None


def _labels(conn: sa.Connection, group_by: str, keys: list, registry: WorkflowRegistry) -> dict:
    """Group keys as shown: (key, label). Units are grouped by id and shown by code and name."""
    if group_by == "unit":
        found = conn.execute(sa.select(units.c.id, units.c.code, units.c.name).where(units.c.id.in_(keys)))
        return {r.id: (r.code, r.name) for r in found}
    if group_by == "campaign":
        named = [k for k in keys if k is not None]
        found = conn.execute(sa.select(_campaigns.c.code, _campaigns.c.name).where(_campaigns.c.code.in_(named)))
        return {r.code: (r.code, r.name) for r in found}
    if group_by == "workflow":
        return {k: (k, registry.current(k).definition.title.zh) for k in keys if k in registry.names()}
    return {}

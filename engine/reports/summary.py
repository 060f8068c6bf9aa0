"""The summary report: per group of items, how many are open, closed, overdue, closed on time and reopened.

One GROUP BY over the items table, every figure a conditional sum, so the cost is one scan (or one index
range) however many groups there are; rates are divided out afterwards. docs/REPORTS.md defines each figure.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa

from engine.accounts import Actor
from engine.campaigns.models import Campaign
from engine.registry import WorkflowRegistry
from engine.reports.population import (
    CANCELLED,
    StateSets,
    days_between,
    items,
    local_day,
    period_clauses,
    scope_clause,
    units,
)

GROUPS = ("unit", "source", "severity", "workflow", "campaign")
COUNTS = ("total", "open", "closed", "cancelled", "overdue", "closed_with_due_date", "closed_on_time", "reopened",
          "ever_closed")
_campaigns = Campaign.__table__


@dataclass(frozen=True)
class SummaryQuery:
    """What to report on: the grouping, the registration period (local dates, both ends included), today."""

    group_by: str
    date_from: dt.date | None
    date_to: dt.date | None
    today: dt.date


def _one(condition: sa.ColumnElement) -> sa.ColumnElement:
    # COUNT(*) FILTER (WHERE ...): both stores have it, and SQLite runs it ~20% faster than SUM(CASE ...).
    return sa.func.count().filter(condition)


def _figures(states: StateSets, today: dt.date, dialect: str, tz) -> list[sa.ColumnElement]:
    is_closed = items.c.state.in_(sorted(states.closed))
    is_open = items.c.state.not_in(sorted(states.final))
    with_due = sa.and_(is_closed, items.c.due_date.is_not(None))
    return [
        sa.func.count().label("total"),
        _one(is_open).label("open"),
        _one(is_closed).label("closed"),
        _one(items.c.state == CANCELLED).label("cancelled"),
        # The deadline in force now: the due date while rectifying, a step's span before and after (DESIGN.md).
        _one(sa.and_(is_open, items.c.deadline < today)).label("overdue"),
        _one(with_due).label("closed_with_due_date"),
        _one(sa.and_(with_due, local_day(items.c.closed_at, dialect, tz) <= items.c.due_date)).label("closed_on_time"),
        _one(items.c.reopened_count > 0).label("reopened"),
        _one(sa.or_(is_closed, items.c.reopened_count > 0)).label("ever_closed"),
        sa.func.sum(days_between(items.c.created_at, items.c.closed_at, dialect)).filter(is_closed)
        .label("days_to_close"),
    ]


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def figures_of(row: dict) -> dict:
    """The counts of a group and the rates made from them (None where the denominator is zero)."""
    counts = {name: int(row[name]) for name in COUNTS}
    days = row["days_to_close"]
    return {
        **{k: counts[k] for k in ("total", "open", "closed", "cancelled", "overdue")},
        "closure_rate": _rate(counts["closed"], counts["total"] - counts["cancelled"]),
        "overdue_rate": _rate(counts["overdue"], counts["open"]),
        "on_time_rate": _rate(counts["closed_on_time"], counts["closed_with_due_date"]),
        "closed_on_time": counts["closed_on_time"],
        "avg_days_to_close": round(float(days) / counts["closed"], 2) if counts["closed"] and days is not None else None,
        "reopened": counts["reopened"],
        "reopen_rate": _rate(counts["reopened"], counts["ever_closed"]),
    }


def summary(conn: sa.Connection, actor: Actor, registry: WorkflowRegistry, query: SummaryQuery, tz) -> dict:
    """The report: one row per group within the actor's scope, and the totals over all of them."""
    dialect = conn.dialect.name
    key = items.c.unit_id if query.group_by == "unit" else items.c[query.group_by]
    where = [c for c in [scope_clause(actor), *period_clauses(query.date_from, query.date_to, tz)] if c is not None]
    figures = _figures(StateSets.of(registry), query.today, dialect, tz)
    rows = [dict(r) for r in conn.execute(sa.select(key.label("key"), *figures).where(*where).group_by(key)).mappings()]
    labels = _labels(conn, query.group_by, [r["key"] for r in rows], registry)
    groups = []
    for row in rows:
        code, label = labels.get(row["key"], (row["key"], None))
        groups.append({"key": code, "label": label, **figures_of(row)})
    groups.sort(key=lambda g: (g["key"] is None, str(g["key"])))
    totals = {name: sum(int(r[name]) for r in rows) for name in COUNTS}
    totals["days_to_close"] = sum(float(r["days_to_close"]) for r in rows if r["days_to_close"] is not None)
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

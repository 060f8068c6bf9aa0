"""对账销号: a campaign's items one by one (state, light, overdue, closed on time) and whether the campaign as a
whole can be reported closed, with the reasons it cannot."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from engine import itemrows
from engine.accounts import Actor
from engine.campaigns.registry import can_exist, find, registered_view
from engine.deadlines import light
from engine.errors import NotFound
from engine.registry import WorkflowRegistry
from engine.reports.population import CANCELLED, StateSets, closed_on_time, items, scope_clause

# How many open item numbers a reason lists before it says "and N more".
LISTED = 10


def _line(row: dict, registry: WorkflowRegistry, states: StateSets, today: dt.date, yellow_days: int, tz) -> dict:
    colour, overdue_days = light(row["deadline"], today, yellow_days)
    closed_day = row["closed_at"].astimezone(tz).date() if row["closed_at"] and row["state"] in states.closed else None
    return {"id": row["id"], "number": row["number"], "title": row["title"], "unit": row["unit_code"],
            "state": row["state"], "state_title": registry.by_hash(row["workflow_hash"]).definition.state(
                row["state"]).title.zh,
            "settled": row["state"] in states.final, "light": colour, "overdue": overdue_days > 0,
            "overdue_days": overdue_days, "due_date": row["due_date"].isoformat() if row["due_date"] else None,
            "closed_on": closed_day.isoformat() if closed_day else None,
            "closed_on_time": closed_on_time(closed_day, row["due_date"]), "reopened_count": row["reopened_count"]}


def _numbers(lines: list[dict]) -> str:
    shown = ", ".join(line["number"] for line in lines[:LISTED])
    return shown + (f" and {len(lines) - LISTED} more" if len(lines) > LISTED else "")


def reasons_not_closed(registered: bool, lines: list[dict]) -> list[str]:
    """Why the campaign cannot be reported closed; empty when it can."""
    reasons = []
    if not registered:
        reasons.append("the campaign is not registered (POST /api/v1/campaigns)")
    if not lines:
        reasons.append("no items name the campaign")
    still_open = [line for line in lines if not line["settled"]]
    if still_open:
        overdue = sum(line["overdue"] for line in still_open)
        reasons.append(f"{len(still_open)} item(s) are not closed ({overdue} overdue): {_numbers(still_open)}")
    return reasons


def reconcile(conn: sa.Connection, actor: Actor, registry: WorkflowRegistry, code: str, *, today: dt.date,
              yellow_days: int, tz) -> dict:
    """The campaign's items in the actor's scope, by number, with the verdict; NotFound if nothing is known of it."""
    if not can_exist(code):
        raise NotFound(f"campaign {code!r} not found")
    row = find(conn, code)
    query = itemrows.ITEM_WITH_UNIT.where(items.c.campaign == code)
    scope = scope_clause(actor)
    if scope is not None:
        query = query.where(scope)
    rows = [dict(r) for r in conn.execute(query.order_by(items.c.number)).mappings()]
    if row is None and not rows:
        raise NotFound(f"campaign {code!r} not found")
    states = StateSets.of(registry)
    lines = [_line(r, registry, states, today, yellow_days, tz) for r in rows]
    reasons = reasons_not_closed(row is not None, lines)
    closed = [line for line in lines if line["state"] in states.closed]
    summary = {"items": len(lines), "closed": len(closed),
               "cancelled": sum(line["state"] == CANCELLED for line in lines),
               "open": sum(not line["settled"] for line in lines), "overdue": sum(line["overdue"] for line in lines),
               "closed_on_time": sum(line["closed_on_time"] is True for line in closed),
               "closed_late": sum(line["closed_on_time"] is False for line in closed)}
    return {"code": code, "campaign": registered_view(row), "scope": "all" if actor.sees_everything else actor.unit_code,
            "today": today.isoformat(), "summary": summary, "can_report_closed": not reasons, "reasons": reasons,
            "items": lines}

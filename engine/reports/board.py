"""The dashboard's figures beside the summary report: items by state, by traffic light, and the 督办
escalations still open, by level. Each is one aggregate query within the caller's read scope."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from engine import queries
from engine.accounts import Actor
from engine.reminders.models import Notice
from engine.reminders.rules import LEVELS
from engine.reports.population import items, scope_clause

_notices = Notice.__table__
TRAFFIC_LIGHTS = ("red", "yellow", "green")


def state_counts(conn: sa.Connection, actor: Actor) -> dict[str, int]:
    """Items in the actor's scope by state, in the order of the state names.

    By state alone, as the item list filters: the states index answers it without reading the items (grouping
    by workflow too reads every row), and the bundled workflows share their state names."""
    where = [c for c in [scope_clause(actor)] if c is not None]
    query = sa.select(items.c.state, sa.func.count().label("n")).where(*where).group_by(items.c.state)
    return {r.state: int(r.n) for r in conn.execute(query.order_by(items.c.state))}


def light_counts(conn: sa.Connection, actor: Actor, *, today: dt.date, yellow_days: int) -> dict[str, int]:
    """Items in the actor's scope by traffic light, counted by the item list's own light filter (so a count
    and the list it links to always agree)."""
    return {light: queries.count_items(conn, actor, queries.ItemFilters(light=(light,)), today=today,
                                       yellow_days=yellow_days)
            for light in TRAFFIC_LIGHTS}


def open_escalations(conn: sa.Connection, actor: Actor) -> dict[str, int]:
    """Items under an open 督办 escalation, each counted once at its highest level.

    An escalation stays open while the item is still in the state entry it was issued for: it was issued
    (not superseded) for the state the item is in, after the item entered it. Moving on (submitting,
    being granted an extension, being closed) leaves it behind.
    """
    rank = sa.case(*((_notices.c.level == level, index) for index, level in enumerate(LEVELS)), else_=-1)
    where = [_notices.c.kind == "escalation.issued", _notices.c.status == "issued",
             _notices.c.state == items.c.state, _notices.c.issued_at >= items.c.state_entered_at]
    scope = scope_clause(actor)
    if scope is not None:
        where.append(scope)
    per_item = (sa.select(sa.func.max(rank).label("rank"))
                .select_from(_notices.join(items, items.c.id == _notices.c.item_id))
                .where(*where).group_by(_notices.c.item_id).subquery())
    found = {int(r.rank): int(r.n) for r in
             conn.execute(sa.select(per_item.c.rank, sa.func.count().label("n")).group_by(per_item.c.rank))}
    return {level: found.get(index, 0) for index, level in enumerate(LEVELS)}

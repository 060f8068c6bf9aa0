"""The item list's documented filters and their common pairs, as cases run against a database bench/seed.py
filled: bench/lists.py times them, tests/engine/test_query_plans.py reads their query plans.

Each case is a caller (whose scope applies) and the filters; ``run_page`` lists the first page and the next
one exactly as the API does (engine.queries), and ``captured`` records the SQL it sent, for EXPLAIN.
"""
from __future__ import annotations

import datetime as dt
import re
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import sqlalchemy as sa

from engine import queries
from engine.accounts import Actor
from engine.models import Unit, User

# Callers of a seeded database: the province's auditor sees every unit, a city's supervisor its city.
AUDITOR, CITY_SUPERVISOR = "aud_prov", "sup_c03"


@dataclass(frozen=True)
class Case:
    """One list request: who asks, and with which filters."""

    name: str
    username: str
    filters: queries.ItemFilters


def cases(today: dt.date) -> list[Case]:
    """Every documented filter alone (as the auditor, over all items), the same in a city's scope, and the
    common pairs: scope + state, scope + overdue, campaign, assignee and text in a scope."""
    f = queries.ItemFilters
    month_ago, in_a_month = today - dt.timedelta(days=30), today + dt.timedelta(days=30)
    alone = {
        "no filter": f(), "state": f(state=("rectifying",)), "state (rare)": f(state=("verified",)),
        "unit (city)": f(unit=("C05",)), "unit (department)": f(unit=("C05-ENV",)),
        "source": f(source=("complaint",)), "severity": f(severity=("critical",)),
        "light red": f(light=("red",)), "light yellow": f(light=("yellow",)), "light green": f(light=("green",)),
        "overdue": f(overdue=True), "not overdue": f(overdue=False), "assignee": f(assignee=("asg_c05_env_1",)),
        "campaign": f(campaign=("ZX-2026-03",)), "due_before": f(due_before=month_ago),
        "due_after": f(due_after=in_a_month), "workflow": f(workflow=("immediate",)),
        "q (common)": f(q="消防通道"), "q (rare)": f(q="督查〔2026〕17号-3"), "q (number)": f(q="ZG-2025-000123"),
        "q (2 chars)": f(q="消防"), "state (any of 2)": f(state=("assigned", "pending_verification")),
    }
    scoped = {
        "scope": f(), "scope + state": f(state=("rectifying",)), "scope + state (rare)": f(state=("verified",)),
        "scope + overdue": f(overdue=True), "scope + light red": f(light=("red",)),
        "scope + campaign": f(campaign=("ZX-2026-03",)), "scope + assignee": f(assignee=("asg_c03_env_1",)),
        "scope + q": f(q="消防通道"), "scope + unit + state": f(unit=("C03-ENV",), state=("rectifying",)),
        "scope + unit + overdue": f(unit=("C03-EDU",), overdue=True),
    }
    return ([Case(name, AUDITOR, filters) for name, filters in alone.items()]
            + [Case(name, CITY_SUPERVISOR, filters) for name, filters in scoped.items()])


def actor(conn: sa.Connection, username: str) -> Actor:
    """The caller ``username`` as the API would authenticate them."""
    users, units = User.__table__, Unit.__table__
    row = conn.execute(sa.select(users.c.id, users.c.roles, units.c.id.label("unit_id"), units.c.code, units.c.path)
                       .select_from(users.join(units, units.c.id == users.c.unit_id))
                       .where(users.c.username == username)).one()
    return Actor(user_id=row.id, username=username, roles=frozenset(row.roles.split(",")), unit_id=row.unit_id,
                 unit_code=row.code, unit_path=row.path)


def run_page(conn: sa.Connection, who: Actor, case: Case, today: dt.date, *, cursor: str | None = None,
             limit: int = 50, yellow_days: int = 3) -> tuple[list[dict], str | None]:
    """One page of the case's list for ``who`` (see actor()), as GET /api/v1/items reads it."""
    return queries.list_items(conn, who, case.filters, limit=limit, cursor=cursor, today=today,
                              yellow_days=yellow_days)


@contextmanager
def captured(engine: sa.Engine) -> Iterator[list[tuple[str, object]]]:
    """The statements (and their parameters) sent through ``engine`` inside the block."""
    sent: list[tuple[str, object]] = []

    def grab(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001 - event hook
        sent.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", grab)
    try:
        yield sent
    finally:
        sa.event.remove(engine, "before_cursor_execute", grab)


def item_statements(sent: list[tuple[str, object]]) -> list[tuple[str, object]]:
    """The statements among ``sent`` that read the items table (the list and the text-search candidates)."""
    return [(s, p) for s, p in sent if re.search(r"\bFROM items(_fts)?\b", s)]

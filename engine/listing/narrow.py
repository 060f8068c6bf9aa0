"""SQLite: when a filter matches few items, name them (their rowids) before the list query runs.

SQLite's planner knows little of how many rows a date range or a text holds, and a LIMIT does not enter its
choice: it either walks the list's ordering index testing each entry (fast when matches are common, a full
walk of a million entries when they are rare), or collects every match through the column's own index and
sorts them (fast when few, slow when many). So the list walks the ordering index (engine.queries) unless a
probe here finds the matches of some filter to be few: up to MAX_CANDIDATES rowids read from that filter's
own index (a range of a date index; the FTS5 trigram table for q=). The list then reads just those rows and
sorts them. The probe's term stays in the query, so the answer is the same either way. PostgreSQL's planner
weighs this by its statistics itself: nothing here runs there.
"""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from engine.listing import textsearch

# At most this many rows are named; past it the walk along the list's order is the faster way.
MAX_CANDIDATES = textsearch.MAX_CANDIDATES
ROWID = textsearch.ROWID


def _range(conn: sa.Connection, index: str, condition: str, params: tuple) -> set[int] | None:
    """The rowids of the items that meet ``condition`` on the column of ``index`` (read from it), if few."""
    rows = conn.exec_driver_sql(f"SELECT rowid FROM items INDEXED BY {index} WHERE {condition} LIMIT ?",
                                (*params, MAX_CANDIDATES + 1)).all()
    return None if len(rows) > MAX_CANDIDATES else {row[0] for row in rows}


def _union(parts: list[set[int] | None]) -> set[int] | None:
    if any(part is None for part in parts):
        return None
    return set().union(*parts)


def _deadline_probes(conn: sa.Connection, f, today: dt.date, yellow_days: int) -> list[set[int] | None]:
    soon = today + dt.timedelta(days=yellow_days)
    day, probes = today.isoformat(), []

    def deadline(condition: str, *params: object) -> set[int] | None:
        return _range(conn, "ix_items_deadline", condition, params)

    if f.overdue:
        probes.append(deadline("deadline < ?", day))
    if f.light is not None:
        lights = {"none": lambda: deadline("deadline IS NULL"), "red": lambda: deadline("deadline < ?", day),
                  "yellow": lambda: deadline("deadline >= ? AND deadline <= ?", day, soon.isoformat()),
                  "green": lambda: deadline("deadline > ?", soon.isoformat())}
        probes.append(_union([lights[light]() for light in f.light]))
    return probes


def candidates(conn: sa.Connection, f, today: dt.date, yellow_days: int) -> list[int] | None:
    """The rowids of the only items that can match ``f`` (engine.queries.ItemFilters), in order, when some
    filter's own index says they are few (SQLite); None when every filter matches many, or on PostgreSQL."""
    if conn.dialect.name != "sqlite":
        return None
    probes: list[set[int] | None] = []
    if f.q:
        found = textsearch.candidates(conn, f.q)
        probes.append(None if found is None else set(found))
    if f.due_before is not None:
        probes.append(_range(conn, "ix_items_due_date", "due_date < ?", (f.due_before.isoformat(),)))
    if f.due_after is not None:
        probes.append(_range(conn, "ix_items_due_date", "due_date > ?", (f.due_after.isoformat(),)))
    probes += _deadline_probes(conn, f, today, yellow_days)
    known = [probe for probe in probes if probe is not None]
    if not known:
        return None
    return sorted(set.intersection(*known))

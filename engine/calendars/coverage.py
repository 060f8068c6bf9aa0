"""Which years with open deadlines have no official schedule: what /readyz and the start-up log warn about."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from engine import workdays
from engine.models import Item

_items = Item.__table__


def _year(value: object) -> int:
    return (value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))).year


def _years_holding(conn: sa.Connection, column: sa.Column, open_only: bool) -> set[int]:
    """The years ``column`` names, found by jumping from one to the next (one indexed read per year found)."""
    years: set[int] = set()
    start = dt.date.min
    while True:
        query = sa.select(sa.func.min(column)).where(column >= start)
        if open_only:
            query = query.where(_items.c.closed_at.is_(None))
        first = conn.execute(query).scalar()
        if first is None:
            return years
        year = _year(first)
        years.add(year)
        if year >= dt.MAXYEAR:
            return years
        start = dt.date(year + 1, 1, 1)


def years_without_official_schedule(conn: sa.Connection) -> list[int]:
    """Years in which an open item's deadline or due date falls and whose official schedule is not known.

    Final states have no deadline, so any deadline is an open one; a due date counts while the item is open.
    """
    years = _years_holding(conn, _items.c.deadline, False) | _years_holding(conn, _items.c.due_date, True)
    return sorted(year for year in years if not workdays.calendar_covers(year))


def warning_for(years: list[int]) -> str | None:
    """The sentence /readyz and the log give for those years, or None."""
    if not years:
        return None
    sources = ", ".join(f"{y}: {workdays.year_schedule(y).source}" for y in years)
    return (f"open deadlines fall in {', '.join(map(str, years))}, for which no official holiday schedule is known "
            f"(working days are counted on a guess: {sources}); add the State Council's schedule to the file named "
            f"by CLOSELOOP_CALENDAR_FILE and check it with `closeloop calendar show YEAR`")

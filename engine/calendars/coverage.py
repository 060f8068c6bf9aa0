"""Which years with open deadlines have no official schedule: what /readyz and the start-up log warn about."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from engine import workdays
from engine.models import Item

_items = Item.__table__


def _span(conn: sa.Connection) -> tuple[int, int] | None:
    """The first and last year any deadline or due date names (index-only reads of min and max)."""
    bounds = [v for column in (_items.c.deadline, _items.c.due_date)
              for v in conn.execute(sa.select(sa.func.min(column), sa.func.max(column))).one() if v is not None]
    if not bounds:
        return None
    years = [(v if isinstance(v, dt.date) else dt.date.fromisoformat(str(v))).year for v in bounds]
    return min(years), max(years)


def _open_deadline_in(conn: sa.Connection, year: int) -> bool:
    first, last = dt.date(year, 1, 1), dt.date(year, 12, 31)
    # Final states have no deadline, so any deadline is an open one; a due date counts while the item is open.
    query = sa.select(sa.literal(1)).where(sa.or_(
        _items.c.deadline.between(first, last),
        sa.and_(_items.c.due_date.between(first, last), _items.c.closed_at.is_(None)))).limit(1)
    return conn.execute(query).first() is not None


def years_without_official_schedule(conn: sa.Connection) -> list[int]:
    """Years in which an open item's deadline or due date falls and whose official schedule is not known."""
    span = _span(conn)
    if span is None:
        return []
    return [year for year in range(span[0], span[1] + 1)
            if not workdays.calendar_covers(year) and _open_deadline_in(conn, year)]


def warning_for(years: list[int]) -> str | None:
    """The sentence /readyz and the log give for those years, or None."""
    if not years:
        return None
    sources = ", ".join(f"{y}: {workdays.year_schedule(y).source}" for y in years)
    return (f"open deadlines fall in {', '.join(map(str, years))}, for which no official holiday schedule is known "
            f"(working days are counted on a guess: {sources}); add the State Council's schedule to the file named "
            f"by CLOSELOOP_CALENDAR_FILE and check it with `closeloop calendar show YEAR`")

"""The kept counts of final items (engine.reports.models): whether they can be used for a zone, and filling
them again from the items when the runtime's zone is not the one they were reckoned in."""
from __future__ import annotations

import datetime as dt
from contextlib import contextmanager
from typing import Iterator
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from engine.reports.models import ReportCount, ReportCountsZone
from engine.reports.population import days_between, items, local_day, time_known
from engine.store import Store

counts, zone = ReportCount.__table__, ReportCountsZone.__table__
DIMENSIONS = ("unit", "source", "severity", "workflow", "campaign")


def utc_offset(tz: ZoneInfo) -> int:
    """The zone's offset in seconds, as SQLite reckons local days with it (population.local_day)."""
    return int(dt.datetime(2001, 1, 1, tzinfo=tz).utcoffset().total_seconds())


def _fixed(tz: ZoneInfo) -> bool:
    return all(dt.datetime(2001, month, 1, tzinfo=tz).utcoffset().total_seconds() == utc_offset(tz) for month in (1, 7))


def usable(conn: sa.Connection, tz: ZoneInfo) -> bool:
    """Whether the kept counts were reckoned in ``tz`` and agree with the live count's local days: always on
    PostgreSQL (zone rules on both sides), on SQLite only for a zone without daylight saving time (the
    triggers add a fixed offset, where the period's bounds follow the zone's rules)."""
    kept = conn.execute(sa.select(zone.c.tz).where(zone.c.id == 1)).scalar()
    return kept == tz.key and (conn.dialect.name == "postgresql" or _fixed(tz))


def month_of(column: sa.ColumnElement, dialect: str, tz: ZoneInfo) -> sa.ColumnElement:
    """The local month (YYYY-MM) of a stored UTC time, in SQL, as the triggers of migration 0013 reckon it."""
    if dialect == "postgresql":
        return sa.func.to_char(sa.func.timezone(tz.key, sa.func.timezone("UTC", column)), "YYYY-MM")
    return sa.func.strftime("%Y-%m", column, sa.literal_column(f"'{utc_offset(tz)} seconds'"))


def _group_key(dimension: str) -> sa.ColumnElement:
    if dimension == "unit":
        return sa.cast(items.c.unit_id, sa.String)
    if dimension == "campaign":
        return sa.func.coalesce(items.c.campaign, "")
    return items.c[dimension]


def refill(conn: sa.Connection, tz: ZoneInfo) -> None:
    """Count every final item again, reckoned in ``tz``, in ``conn``'s write transaction."""
    dialect = conn.dialect.name
    conn.execute(zone.update().where(zone.c.id == 1).values(tz=None))  # the triggers pause while this runs
    conn.execute(counts.delete())
    due = items.c.due_date.is_not(None)
    for dimension in DIMENSIONS:
        month = month_of(items.c.created_at, dialect, tz)
        key = _group_key(dimension)
        rows = (sa.select(sa.literal(dimension), key, items.c.unit_id, month, items.c.state, sa.func.count(),
                          sa.func.count().filter(due),
                          sa.func.count().filter(sa.and_(due, local_day(items.c.closed_at, dialect, tz) <= items.c.due_date)),
                          sa.func.count().filter(items.c.reopened_count > 0),
                          sa.func.coalesce(sa.func.sum(days_between(items.c.created_at, items.c.closed_at, dialect)), 0.0),
                          sa.func.count().filter(time_known(items.c.created_at, items.c.closed_at)))
                .where(items.c.closed_at.is_not(None)).group_by(key, items.c.unit_id, month, items.c.state))
        conn.execute(counts.insert().from_select(["dimension", "group_key", "unit_id", "month", "state", "items",
                                                  "with_due", "on_time", "reopened", "days", "timed"], rows))
    conn.execute(zone.update().where(zone.c.id == 1).values(tz=tz.key, utc_offset=utc_offset(tz)))


def ensure(store: Store, tz: ZoneInfo) -> None:
    """Refill the kept counts when they were reckoned in another zone (or never): once, at start-up."""
    with store.read() as conn:
        if conn.execute(sa.select(zone.c.tz).where(zone.c.id == 1)).scalar() == tz.key:
            return
    with store.write() as conn:
        if not store.is_sqlite:  # no item may change between the count and the zone's row (SQLite: one writer)
            conn.exec_driver_sql("LOCK TABLE items IN SHARE MODE")
            if conn.execute(sa.select(zone.c.tz).where(zone.c.id == 1).with_for_update()).scalar() == tz.key:
                return
        refill(conn, tz)


@contextmanager
def paused(store: Store, tz: ZoneInfo) -> Iterator[None]:
    """For a bulk load: the triggers add nothing inside the block (reports count live meanwhile), and the counts
    are made again in one pass at its end, however it ends, instead of a trigger's work for every row."""
    with store.write() as conn:
        conn.execute(zone.update().where(zone.c.id == 1).values(tz=None))
    try:
        yield
    finally:
        ensure(store, tz)

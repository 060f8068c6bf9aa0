"""What every report and reconciliation counts the same way: which states are open or closed, the caller's
scope as a condition on items, registration periods, and an item's closing day against its due date."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from engine import itemrows
from engine.accounts import Actor
from engine.clock import local_midnight
from engine.errors import InvalidInput
from engine.registry import WorkflowRegistry

items, units = itemrows.items, itemrows.units
# The final state a voided item (作废) ends in: no longer a problem to fix, so neither open nor closed.
CANCELLED = "cancelled"


@dataclass(frozen=True)
class StateSets:
    """Final states split into closed (销号) and cancelled; every other state is open."""

    final: frozenset[str]
    closed: frozenset[str]

    @classmethod
    def of(cls, registry: WorkflowRegistry) -> "StateSets":
        """The sets over every workflow version the registry knows."""
        final = frozenset(s.name for name in registry.known_names() for c in registry.versions(name)
                          for s in c.definition.states if s.final)
        return cls(final=final, closed=final - {CANCELLED})


def scope_units(actor: Actor) -> sa.ScalarSelect | None:
    """The ids of the units in the actor's read scope, as a subquery (None: every unit)."""
    if actor.sees_everything:
        return None
    return sa.select(units.c.id).where(units.c.path.startswith(actor.unit_path, autoescape=True)).scalar_subquery()


def scope_clause(actor: Actor) -> sa.ColumnElement | None:
    """Items of the actor's read scope (None: everything), by unit id, so no item row is joined to units."""
    subtree = scope_units(actor)
    return None if subtree is None else items.c.unit_id.in_(subtree)


def unit_subtree_clause(conn: sa.Connection, actor: Actor, code: str, *, field: str = "unit") -> sa.ColumnElement:
    """Items of unit ``code`` and its sub-units; a unit outside the caller's read scope is refused like a missing one."""
    row = conn.execute(itemrows.SELECT_UNIT, {"code": code}).first()
    if row is None or not actor.can_see(row.path):
        raise InvalidInput(f"unit {code!r} does not exist or is outside your scope", field=field)
    subtree = sa.select(units.c.id).where(units.c.path.startswith(row.path, autoescape=True))
    return items.c.unit_id.in_(subtree.scalar_subquery())


def period_clauses(date_from: dt.date | None, date_to: dt.date | None, tz: ZoneInfo, *,
                   created: sa.ColumnElement = items.c.created_at) -> list[sa.ColumnElement]:
    """Items registered from the start of local day ``date_from`` to the end of local day ``date_to``
    (``created``: the registration time as the query names it)."""
    if date_from is not None and date_to is not None and date_from > date_to:
        raise InvalidInput(f"from ({date_from}) is after to ({date_to})", field="from")
    clauses = []
    for day, later, after in ((date_from, 0, True), (date_to, 1, False)):
        start = local_midnight(day, tz, days_later=later)
        if start is not None:
            clauses.append(created >= start if after else created < start)
    return clauses


def local_day(column: sa.ColumnElement, dialect: str, tz: ZoneInfo) -> sa.ColumnElement:
    """The deployment-local date of a stored UTC time, in SQL.

    PostgreSQL applies the zone's full rules; SQLite has no zone database, so it adds the zone's offset
    (exact for zones without daylight saving time, such as Asia/Shanghai; docs/REPORTS.md).
    """
    if dialect == "postgresql":
        return sa.cast(sa.func.timezone(tz.key, sa.func.timezone("UTC", column)), sa.Date)
    offset = int(dt.datetime(2001, 1, 1, tzinfo=tz).utcoffset().total_seconds())
    return sa.func.date(column, sa.literal_column(f"'{offset:+d} seconds'"))


def days_between(start: sa.ColumnElement, end: sa.ColumnElement, dialect: str) -> sa.ColumnElement:
    """``end - start`` in days with the fraction, in SQL; never below 0 (an item a ledger brought in already
    closed was closed before it was registered here: it adds no days, and time_known leaves it out of the count)."""
    if dialect == "postgresql":
        return sa.func.greatest(0, sa.extract("epoch", end - start) / 86400.0)
    return sa.func.max(0, sa.func.julianday(end) - sa.func.julianday(start))


def time_known(created: sa.ColumnElement, closed: sa.ColumnElement) -> sa.ColumnElement:
    """Whether an item's time from registration to closing is known, in SQL: it closed after it was registered.
    One a ledger brought in already closed has its 销号日期 before its registration here, or with no 销号日期 was
    closed at the import itself; what it took to close is not known, so the mean days to close leave it out
    (migration 0018). A closing here always comes after the registration: a later record, a later time."""
    return closed > created


def closed_on_time(local_closed: dt.date | None, due_date: dt.date | None) -> bool | None:
    """Closed on or before its due date (True/False); None when not closed or without a due date."""
    if local_closed is None or due_date is None:
        return None
    return local_closed <= due_date

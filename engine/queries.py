"""Reading items: one item in the caller's scope, and the filtered, scoped, paginated list."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa

from engine import cursor as cursors
from engine import itemrows
from engine.accounts import Actor
from engine.clock import parse_rfc3339, rfc3339
from engine.errors import InvalidInput, NotFound
from engine.registry import WorkflowRegistry

items, units = itemrows.items, itemrows.units


def get_visible(conn: sa.Connection, actor: Actor, ref: str) -> dict:
    """The item by id or number if the actor may see it; otherwise NotFound (the same as missing)."""
    item = itemrows.load_item(conn, ref)
    if item is None or not actor.can_see(item["unit_path"]):
        raise NotFound(f"item {ref} not found")
    return item


# Filters that take several values ("any of"): repeated, or comma-separated in one value.
MULTI_VALUED = ("state", "unit", "source", "severity", "light", "assignee", "campaign", "workflow")


@dataclass
class ItemFilters:
    """The list filters of the API, already type-checked; a tuple means any of its values."""

    state: tuple[str, ...] | None = None
    unit: tuple[str, ...] | None = None
    source: tuple[str, ...] | None = None
    severity: tuple[str, ...] | None = None
    light: tuple[str, ...] | None = None
    overdue: bool | None = None
    assignee: tuple[str, ...] | None = None
    campaign: tuple[str, ...] | None = None
    due_before: dt.date | None = None
    due_after: dt.date | None = None
    q: str | None = None
    workflow: tuple[str, ...] | None = None

    def fingerprint(self) -> str:
        """Identity of the query, bound into its cursors."""
        return cursors.query_fingerprint({k: (v.isoformat() if isinstance(v, dt.date) else
                                              list(v) if isinstance(v, tuple) else v)
                                          for k, v in vars(self).items() if v is not None})


def split_values(name: str, given: list[str] | None) -> tuple[str, ...] | None:
    """A multi-valued filter's values, from repeated parameters and comma lists, in order, once each."""
    if not given:
        return None
    values: list[str] = []
    for value in given:
        for part in value.split(","):
            part = part.strip()
            if not part:
                raise InvalidInput(f"query parameter {name!r} has an empty value", field=name)
            if part not in values:
                values.append(part)
    return tuple(values)


def check_known_values(f: ItemFilters, registry: WorkflowRegistry, enums: dict[str, tuple[str, ...]]) -> None:
    """Refuse a value no workflow or enumeration has (a typo would otherwise list nothing), naming the known ones."""
    known_by_name = {"state": registry.known_states, "workflow": registry.known_names,
                     **{name: (lambda v=values: list(v)) for name, values in enums.items()}}
    for name, known in known_by_name.items():
        given = getattr(f, name)
        if given is None:
            continue
        values = known()
        for value in given:
            if value not in values:
                raise InvalidInput(f"unknown {name} {value!r} (known: {', '.join(values)})", field=name,
                                   known=values)


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _where(conn: sa.Connection, actor: Actor, f: ItemFilters, today: dt.date, yellow_days: int) -> list:
    clauses = []
    if not actor.sees_everything:
        clauses.append(units.c.path.startswith(actor.unit_path, autoescape=True))
    if f.unit is not None:
        paths = []
        for code in f.unit:
            row = conn.execute(itemrows.SELECT_UNIT, {"code": code}).first()
            # A unit outside the caller's scope is answered exactly like a missing one: the answer must not
            # tell which unit codes exist elsewhere (as items outside the scope are 404 like missing ones).
            if row is None or not actor.can_see(row.path):
                raise InvalidInput(f"unit {code!r} is not a unit you can list (it does not exist or is outside "
                                   "your scope)", field="unit")
            paths.append(row.path)
        clauses.append(sa.or_(*(units.c.path.startswith(path, autoescape=True) for path in paths)))
    for name in ("state", "source", "severity", "assignee", "campaign", "workflow"):
        values = getattr(f, name)
        if values is not None:
            clauses.append(items.c[name].in_(values))
    if f.due_before is not None:
        clauses.append(items.c.due_date < f.due_before)
    if f.due_after is not None:
        clauses.append(items.c.due_date > f.due_after)
    if f.overdue is not None:
        overdue = sa.and_(items.c.deadline.is_not(None), items.c.deadline < today)
        clauses.append(overdue if f.overdue else sa.not_(overdue))
    if f.light is not None:
        soon = today + dt.timedelta(days=yellow_days)
        lights = {
            "none": items.c.deadline.is_(None),
            "red": items.c.deadline < today,
            "yellow": sa.and_(items.c.deadline >= today, items.c.deadline <= soon),
            "green": items.c.deadline > soon,
        }
        clauses.append(sa.or_(*(lights[light] for light in f.light)))
    if f.q:
        # Case-insensitive, on the text and on the identifiers people quote (ZG-2026-000123, a report's number).
        pattern = f"%{_like_escape(f.q)}%"
        clauses.append(sa.or_(*(items.c[column].ilike(pattern, escape="\\")
                                for column in ("title", "description", "number", "external_ref"))))
    return clauses


def list_items(conn: sa.Connection, actor: Actor, f: ItemFilters, *, limit: int, cursor: str | None,
               today: dt.date, yellow_days: int) -> tuple[list[dict], str | None]:
    """One page of items, newest first, ordered by (created_at, id) so pages never skip or repeat."""
    fingerprint = f.fingerprint()
    query = itemrows.ITEM_WITH_UNIT.where(*_where(conn, actor, f, today, yellow_days))
    if cursor:
        created, item_id = cursors.decode(cursor, fingerprint, (str, str))
        try:
            created_at = parse_rfc3339(created)
        except (ValueError, OverflowError):  # OverflowError: a time whose UTC form is outside years 1-9999
            raise InvalidInput("cursor is not valid for this query", field="cursor") from None
        query = query.where(sa.or_(items.c.created_at < created_at,
                                   sa.and_(items.c.created_at == created_at, items.c.id < item_id)))
    query = query.order_by(items.c.created_at.desc(), items.c.id.desc()).limit(limit + 1)
    rows = [dict(r) for r in conn.execute(query).mappings()]
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = cursors.encode([rfc3339(last["created_at"]), last["id"]], fingerprint)
    return rows, next_cursor


def count_items(conn: sa.Connection, actor: Actor, f: ItemFilters, *, today: dt.date, yellow_days: int) -> int:
    """How many items in the caller's scope match the filters (every page together)."""
    query = (sa.select(sa.func.count()).select_from(items.join(units, units.c.id == items.c.unit_id))
             .where(*_where(conn, actor, f, today, yellow_days)))
    return conn.execute(query).scalar_one()


def filter_clauses(conn: sa.Connection, actor: Actor, f: ItemFilters, today: dt.date, yellow_days: int) -> list:
    """The WHERE clauses of the list's scope and filters, for other readers of the same items (the ledger)."""
    return _where(conn, actor, f, today, yellow_days)

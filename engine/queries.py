"""Reading items: one item in the caller's scope, and the filtered, scoped, paginated list."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa

from engine import itemrows, paging
from engine.accounts import Actor
from engine.clock import parse_rfc3339, rfc3339
from engine.errors import InvalidInput, NotFound
from engine.listing import narrow as listnarrow
from engine.listing import textsearch
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
        """Identity of the query, bound into its page cursors."""
        return paging.query_fingerprint({k: (v.isoformat() if isinstance(v, dt.date) else
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


def _subtree_clause(paths: list[str]) -> sa.ColumnElement:
    return sa.or_(*(units.c.path.startswith(path, autoescape=True) for path in paths))


def _units_in_view(conn: sa.Connection, actor: Actor, f: ItemFilters) -> dict[int, tuple[str, str]]:
    """The units whose items the list may show: the caller's subtree, narrowed to the ``unit`` filter's
    subtrees; by id, each unit's (code, path), which the page's rows carry."""
    paths = None
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
    query = sa.select(units.c.id, units.c.code, units.c.path)
    if not actor.sees_everything:
        query = query.where(_subtree_clause([actor.unit_path]))
    if paths is not None:
        query = query.where(_subtree_clause(paths))
    return {row.id: (row.code, row.path) for row in conn.execute(query)}


def _checked_on_entries(conn: sa.Connection, column: sa.Column) -> sa.ColumnElement:
    """``column`` as a term SQLite will not look up by its own index, only test on the entries of the index it
    walks. SQLite's planner, knowing little of how many rows a range or a subtree holds, would otherwise
    collect them all through that column's index and sort them; walking the ordering index (which carries
    unit_id and deadline) stops after a page. PostgreSQL weighs both ways by its statistics: unchanged there."""
    if conn.dialect.name != "sqlite":
        return column
    return sa.literal_column(f"+items.{column.name}", column.type)


def _where(conn: sa.Connection, actor: Actor, f: ItemFilters, today: dt.date, yellow_days: int,
           in_view: dict[int, tuple[str, str]]) -> tuple[list, bool]:
    """The WHERE clauses of the filters, and whether they name the few rows to read (engine.listing.narrow)."""
    clauses, few = [], False
    if f.unit is not None or not actor.sees_everything:
        # The scope as a list of unit ids (a province has a few hundred units), read from the units table
        # once, rather than joining every item to its unit to compare paths.
        # One unit alone is read from its own index in the list's order; several are tested on the entries.
        unit_id = items.c.unit_id if len(in_view) == 1 else _checked_on_entries(conn, items.c.unit_id)
        clauses.append(unit_id.in_(sorted(in_view)))
    for name in ("state", "source", "severity", "assignee", "campaign", "workflow"):
        values = getattr(f, name)
        if values is not None:
            clauses.append(items.c[name].in_(values))
    due_date, deadline = _checked_on_entries(conn, items.c.due_date), _checked_on_entries(conn, items.c.deadline)
    if f.due_before is not None:
        clauses.append(due_date < f.due_before)
    if f.due_after is not None:
        clauses.append(due_date > f.due_after)
    if f.overdue is not None:
        overdue = sa.and_(deadline.is_not(None), deadline < today)
        clauses.append(overdue if f.overdue else sa.not_(overdue))
    if f.light is not None:
        soon = today + dt.timedelta(days=yellow_days)
        lights = {
            "none": deadline.is_(None),
            "red": deadline < today,
            "yellow": sa.and_(deadline >= today, deadline <= soon),
            "green": deadline > soon,
        }
        clauses.append(sa.or_(*(lights[light] for light in f.light)))
    if f.q:
        # Case-insensitive, on the text and on the identifiers people quote (ZG-2026-000123, a report's number).
        clauses += textsearch.search_clauses(conn, items, f.q)
    candidates = listnarrow.candidates(conn, f, today, yellow_days)
    if candidates is not None:
        clauses.append(listnarrow.ROWID.in_(candidates))
        few = True
    return clauses, few


def list_items(conn: sa.Connection, actor: Actor, f: ItemFilters, *, limit: int, cursor: str | None,
               today: dt.date, yellow_days: int) -> tuple[list[dict], str | None]:
    """One page of items, newest first, ordered by (created_at, id) so pages never skip or repeat."""
    fingerprint = f.fingerprint()
    in_view = _units_in_view(conn, actor, f)
    clauses, few = _where(conn, actor, f, today, yellow_days, in_view)
    query = sa.select(items).where(*clauses)
    if cursor:
        created, item_id = paging.decode(cursor, fingerprint, (str, str))
        try:
            created_at = parse_rfc3339(created)
        except (ValueError, OverflowError):  # OverflowError: a time whose UTC form is outside years 1-9999
            raise InvalidInput("cursor is not valid for this query", field="cursor") from None
        # One row-value comparison, which both stores read as a range of the ordering index (an OR of two
        # comparisons is two ranges, merged and sorted again).
        # With a few candidate rows named, they are read by rowid and sorted; the range must not draw SQLite
        # into walking the ordering index from the cursor to the oldest item in search of them.
        position = ((items.c.created_at, items.c.id) if not few else
                    (_checked_on_entries(conn, items.c.created_at), _checked_on_entries(conn, items.c.id)))
        query = query.where(sa.tuple_(*position)
                            < sa.tuple_(sa.literal(created_at, items.c.created_at.type),
                                        sa.literal(item_id, items.c.id.type)))
    query = query.order_by(items.c.created_at.desc(), items.c.id.desc()).limit(limit + 1)
    rows = []
    for row in conn.execute(query).mappings():
        item = dict(row)
        item["unit_code"], item["unit_path"] = _unit_of(conn, in_view, item["unit_id"])
        rows.append(item)
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = paging.encode([rfc3339(last["created_at"]), last["id"]], fingerprint)
    return rows, next_cursor


def _unit_of(conn: sa.Connection, in_view: dict[int, tuple[str, str]], unit_id: int) -> tuple[str, str]:
    """A row's unit (code, path): from the units in view, or read (an item whose unit is outside every
    subtree the caller can see cannot be listed, but a row written outside closeloop might point anywhere)."""
    found = in_view.get(unit_id)
    if found is None:
        row = conn.execute(sa.select(units.c.code, units.c.path).where(units.c.id == unit_id)).one()
        found = in_view[unit_id] = (row.code, row.path)
    return found


def count_items(conn: sa.Connection, actor: Actor, f: ItemFilters, *, today: dt.date, yellow_days: int) -> int:
    """How many items in the caller's scope match the filters (every page together)."""
    in_view = _units_in_view(conn, actor, f)
    clauses, _few = _where(conn, actor, f, today, yellow_days, in_view)
    query = sa.select(sa.func.count()).select_from(items).where(*clauses)
    return conn.execute(query).scalar_one()


def filter_clauses(conn: sa.Connection, actor: Actor, f: ItemFilters, today: dt.date, yellow_days: int) -> list:
    """The WHERE clauses of the list's scope and filters, for other readers of the same items (the ledger)."""
    clauses, _few = _where(conn, actor, f, today, yellow_days, _units_in_view(conn, actor, f))
    return clauses

"""An item's rows: its two identifiers (the id and the number) and the prebuilt Core statements of the item
write path, built once at import, not per call.

The transition path is the hot path; an ORM session per call costs a factor of three here (DESIGN.md).
"""
from __future__ import annotations

import os
import time

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.compiler import compiles

from engine.errors import IntegrityViolation
from engine.models import HistoryRecord, Item, NumberSequence, Outbox, Unit, User
from engine.store.fastpath import Prebuilt

items = Item.__table__
units = Unit.__table__
users = User.__table__
outbox = Outbox.__table__
history = HistoryRecord.__table__
sequences = NumberSequence.__table__

_ITEM_WITH_UNIT = sa.select(items, units.c.code.label("unit_code"), units.c.path.label("unit_path")).select_from(
    items.join(units, units.c.id == items.c.unit_id)
)
SELECT_BY_ID = _ITEM_WITH_UNIT.where(items.c.id == sa.bindparam("ref"))
SELECT_BY_NUMBER = _ITEM_WITH_UNIT.where(items.c.number == sa.bindparam("ref"))
# What the chain says of the row, read in the same statement as the row a transition locks: the last
# record's seq, state and hash, and whether the creation record names the row's workflow version and number.
# Its fields are canonical JSON, where a key's quotes are never escaped (a quote inside a value is), so a
# substring search is exact.
_head, _first = history.alias("head"), history.alias("first")


class _Position(sa.sql.functions.FunctionElement):
    """Where a text first holds another (1-based; 0: nowhere), case-sensitive on both stores (LIKE is not on
    SQLite): SQLite's instr, PostgreSQL's strpos."""

    name = "position"
    type = sa.Integer()
    inherit_cache = True


@compiles(_Position, "sqlite")
def _instr(element, compiler, **kw) -> str:
    return f"instr({compiler.process(element.clauses, **kw)})"


@compiles(_Position, "postgresql")
def _strpos(element, compiler, **kw) -> str:
    return f"strpos({compiler.process(element.clauses, **kw)})"


_NOWHERE = sa.literal_column("0", sa.Integer)  # in the SQL text: the prebuilt statements bind only their own keys


def _names(key: str, column) -> sa.ColumnElement[bool]:
    """Whether the creation record's fields hold ``"key":"<the row's column>"``."""
    quoted = sa.literal_column(f"""'"{key}":"'""", sa.String) + column + sa.literal_column("""'"'""", sa.String)
    return _Position(_first.c.fields, quoted) > _NOWHERE


# A creation record made before numbers were chained names none (engine.audit.replay.NUMBER): it vouches for
# no number, so the row's is taken.
_NAMES_NO_NUMBER = _Position(_first.c.fields, sa.literal_column("""'"number":'""", sa.String)) == _NOWHERE
_CHAIN = (_head.c.seq.label("head_seq"), _head.c.to_state.label("head_to_state"), _head.c.hash.label("head_hash"),
          _names("workflow_hash", items.c.workflow_hash).label("created_on_hash"),
          sa.or_(_names("number", items.c.number), _NAMES_NO_NUMBER).label("created_as_number"))
_CHAIN_JOIN = (items.outerjoin(_head, sa.and_(_head.c.item_id == items.c.id, _head.c.seq == items.c.history_seq))
               .outerjoin(_first, sa.and_(_first.c.item_id == items.c.id, _first.c.seq == sa.literal_column("1"))))
_ITEM_WITH_CHAIN = sa.select(items, units.c.code.label("unit_code"), units.c.path.label("unit_path"), *_CHAIN).select_from(
    _CHAIN_JOIN.join(units, units.c.id == items.c.unit_id))
# The chain's side alone, read again after a lock wait (see engine.audit.head).
CHAIN_OF_ITEM = Prebuilt(sa.select(items.c.version, items.c.state, items.c.history_seq, items.c.history_hash, *_CHAIN)
                         .select_from(_CHAIN_JOIN).where(items.c.id == sa.bindparam("id")))
# FOR UPDATE OF items: lock the item row only, never the shared unit row or the history.
LOCK_BY_ID = _ITEM_WITH_CHAIN.where(items.c.id == sa.bindparam("ref")).with_for_update(of=items)
LOCK_BY_NUMBER = _ITEM_WITH_CHAIN.where(items.c.number == sa.bindparam("ref")).with_for_update(of=items)
ITEM_WITH_UNIT = _ITEM_WITH_UNIT

_LOADERS = {(False, False): Prebuilt(SELECT_BY_ID), (False, True): Prebuilt(SELECT_BY_NUMBER),
            (True, False): Prebuilt(LOCK_BY_ID), (True, True): Prebuilt(LOCK_BY_NUMBER)}
# The history and outbox rows of every write, prebuilt (engine.store.fastpath): the transition path's inserts.
INSERT_HISTORY = Prebuilt(history.insert(), [c.name for c in history.columns if c.name != "id"])
INSERT_OUTBOX = Prebuilt(outbox.insert(), [c.name for c in outbox.columns if c.name not in ("id", "dispatched_at")])

UPDATE_ITEM = items.update().where(items.c.id == sa.bindparam("_id"), items.c.version == sa.bindparam("_version"))
INSERT_ITEM = items.insert()
# Registration's statements, prebuilt (engine.store.fastpath): the item with every column, its unit, its assignee.
INSERT_NEW_ITEM = Prebuilt(INSERT_ITEM, [c.name for c in items.columns])
# Unit codes are unique regardless of case (engine.accounts.add_unit), so city-edu names CITY-EDU; the row
# gives the code as stored, which is what items and their records carry.
SELECT_UNIT = sa.select(units.c.id, units.c.code, units.c.path).where(
    sa.func.lower(units.c.code) == sa.func.lower(sa.bindparam("code")))
SELECT_ASSIGNEE = (
    sa.select(users.c.username, users.c.roles, users.c.active, units.c.path)
    .select_from(users.join(units, units.c.id == users.c.unit_id))
    .where(users.c.username == sa.bindparam("username"))
)
UNIT_BY_CODE = Prebuilt(SELECT_UNIT)
ASSIGNEE_BY_NAME = Prebuilt(SELECT_ASSIGNEE)


def load_item(conn: sa.Connection, ref: str, *, lock: bool = False) -> dict | None:
    """The item (with its unit's code and path) by id or number, optionally locked for update."""
    if "\x00" in ref:  # no id or number contains NUL, and PostgreSQL refuses to compare text holding one
        return None
    by_number = "-" in ref and len(ref) != 36
    try:
        found = _LOADERS[(lock, by_number)].first(conn, {"ref": ref})
        if found is None and by_number and ref.upper() != ref:
            # Numbers are written in capitals (engine.items); zg-2026-000001 is the same item.
            found = _LOADERS[(lock, by_number)].first(conn, {"ref": ref.upper()})
        return found
    except ValueError:  # a date or time column holding text that is not one: edited outside closeloop
        raise IntegrityViolation(f"item {ref} has a malformed date or time column; run `closeloop audit verify`"
                                 ) from None


def _next_number_upsert(insert) -> Prebuilt:
    one = sa.literal_column("1", sa.Integer)  # in the SQL text: the only parameter is the year
    return Prebuilt(insert(sequences).values(year=sa.bindparam("year"), last=one).on_conflict_do_update(
        index_elements=[sequences.c.year], set_={"last": sequences.c.last + one}).returning(sequences.c.last))


# Built once per dialect: building and compiling the upsert cost more than running it (each registration).
_NEXT_NUMBER = {"sqlite": _next_number_upsert(sqlite.insert), "postgresql": _next_number_upsert(postgresql.insert)}


# Item ids are UUIDs that start with the time they were made (RFC 9562, version 7). An item's id is the key of
# its row's unique index and leads the keys of the indexes on its history, notices, evidence files and checkpoint
# heads. Random ids (version 4) put each new item, and each notice a sweep writes for a batch of items, on a page
# of its own all over those B-trees, so at a million items every insert read and rewrote a page no other insert
# nearby used. Ids that ascend with time land next to each other: items registered together, and the items a
# sweep takes in row order, write the same few pages. The 62 random bits in each id keep ids unguessable and
# unique across processes.
_RANDOM_BITS = 62
_SUB_MS_STEPS = 4096  # the 12 bits after the version: fractions of the millisecond (RFC 9562, 6.2 method 3)


def new_item_id(now_ns: int | None = None, random_bits: int | None = None) -> str:
    """A fresh item id: a version 7 UUID of ``now_ns`` (nanoseconds since the epoch; default the wall clock)
    and ``random_bits`` (62 of them; default from the OS: given only to make reproducible test data)."""
    ns = time.time_ns() if now_ns is None else now_ns
    ms, within = divmod(ns, 1_000_000)
    fraction = within * _SUB_MS_STEPS // 1_000_000
    if random_bits is None:
        random = int.from_bytes(os.urandom(8), "big") >> (64 - _RANDOM_BITS)
    else:
        random = random_bits & ((1 << _RANDOM_BITS) - 1)
    value = (ms << 80) | (0x7 << 76) | (fraction << 64) | (0b10 << 62) | random
    digits = f"{value:032x}"
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


def number_text(prefix: str, year: int, serial: int) -> str:
    """An item number as closeloop writes it: ZG-2026-000123 (six digits, seven past a year's millionth item)."""
    return f"{prefix.upper()}-{year}-{serial:06d}"


def next_number(conn: sa.Connection, year: int) -> int:
    """The next item number of ``year``, atomically (an upsert that returns the new value)."""
    return _NEXT_NUMBER[conn.dialect.name].rows(conn, {"year": year})[0][0]


_HISTORY_COLUMNS = [c.name for c in history.columns if c.name != "id"]
_OUTBOX_COLUMNS = [c.name for c in outbox.columns if c.name not in ("id", "dispatched_at")]
_UPDATES: dict[tuple[str, ...], Prebuilt] = {}
_WRITES: dict[tuple[str, ...], Prebuilt] = {}


def write_transition(conn: sa.Connection, changes: dict, item: dict, record: dict, queued: dict) -> int:
    """Write a transition: SET ``changes`` on the item row if it is still at ``item``'s version, and only then
    append the history ``record`` and the outbox row ``queued``; return 1, or 0 when the version did not match
    and nothing was written. On PostgreSQL it is one statement (one round trip instead of three)."""
    params = {f"v_{k}": v for k, v in changes.items()}
    params.update(_id=item["id"], _version=item["version"])
    if conn.dialect.name == "postgresql":
        params.update({f"h_{k}": v for k, v in record.items()}, **{f"o_{k}": v for k, v in queued.items()})
        return _combined_write(tuple(changes)).rowcount(conn, params)
    updated = _update_statement(tuple(changes)).rowcount(conn, params)
    if updated == 1:
        INSERT_HISTORY.run(conn, record)
        INSERT_OUTBOX.run(conn, queued)
    return updated


def _update_statement(columns: tuple[str, ...]) -> Prebuilt:
    """The prebuilt UPDATE for this set of columns (a handful of combinations occur; each built once)."""
    statement = _UPDATES.get(columns)
    if statement is None:
        statement = _UPDATES[columns] = Prebuilt(UPDATE_ITEM.values(**{k: sa.bindparam(f"v_{k}") for k in columns}))
    return statement


def _combined_write(columns: tuple[str, ...]) -> Prebuilt:
    """WITH updated AS (UPDATE items ... RETURNING id), recorded AS (INSERT INTO history ... SELECT ... FROM
    updated) INSERT INTO outbox ... SELECT ... FROM updated: the inserts take their one row from the update's,
    so they write nothing when it matched nothing. Built once per set of columns."""
    statement = _WRITES.get(columns)
    if statement is None:
        updated = (UPDATE_ITEM.values(**{k: sa.bindparam(f"v_{k}", type_=items.c[k].type) for k in columns})
                   .returning(items.c.id).cte("updated"))
        recorded = history.insert().from_select(_HISTORY_COLUMNS, sa.select(
            *[sa.bindparam(f"h_{c}", type_=history.c[c].type) for c in _HISTORY_COLUMNS]).select_from(updated)
        ).cte("recorded")
        queued = outbox.insert().from_select(_OUTBOX_COLUMNS, sa.select(
            *[sa.bindparam(f"o_{c}", type_=outbox.c[c].type) for c in _OUTBOX_COLUMNS]).select_from(updated))
        statement = _WRITES[columns] = Prebuilt(queued.add_cte(recorded))
    return statement

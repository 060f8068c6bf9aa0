"""Prebuilt Core statements for the item write path: built once at import, not per call.

The transition path is the hot path; an ORM session per call costs a factor of three here (DESIGN.md).
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from engine.fastpath import Prebuilt
from engine.models import HistoryRecord, Item, NumberSequence, Outbox, Unit, User

items = Item.__table__
units = Unit.__table__
users = User.__table__
outbox = Outbox.__table__
sequences = NumberSequence.__table__

_ITEM_WITH_UNIT = sa.select(items, units.c.code.label("unit_code"), units.c.path.label("unit_path")).select_from(
    items.join(units, units.c.id == items.c.unit_id)
)
SELECT_BY_ID = _ITEM_WITH_UNIT.where(items.c.id == sa.bindparam("ref"))
SELECT_BY_NUMBER = _ITEM_WITH_UNIT.where(items.c.number == sa.bindparam("ref"))
# FOR UPDATE OF items: lock the item row only, never the shared unit row.
LOCK_BY_ID = SELECT_BY_ID.with_for_update(of=items)
LOCK_BY_NUMBER = SELECT_BY_NUMBER.with_for_update(of=items)
ITEM_WITH_UNIT = _ITEM_WITH_UNIT

_LOADERS = {(False, False): Prebuilt(SELECT_BY_ID), (False, True): Prebuilt(SELECT_BY_NUMBER),
            (True, False): Prebuilt(LOCK_BY_ID), (True, True): Prebuilt(LOCK_BY_NUMBER)}
# The history and outbox rows of every write, prebuilt (engine.fastpath): the transition path's inserts.
INSERT_HISTORY = Prebuilt(HistoryRecord.__table__.insert(),
                               [c.name for c in HistoryRecord.__table__.columns if c.name != "id"])
INSERT_OUTBOX = Prebuilt(outbox.insert(), [c.name for c in outbox.columns if c.name not in ("id", "dispatched_at")])

UPDATE_ITEM = items.update().where(items.c.id == sa.bindparam("_id"), items.c.version == sa.bindparam("_version"))
INSERT_ITEM = items.insert()
SELECT_UNIT = sa.select(units.c.id, units.c.code, units.c.path).where(units.c.code == sa.bindparam("code"))
SELECT_ASSIGNEE = (
    sa.select(users.c.username, users.c.roles, users.c.active, units.c.path)
    .select_from(users.join(units, units.c.id == users.c.unit_id))
    .where(users.c.username == sa.bindparam("username"))
)


def load_item(conn: sa.Connection, ref: str, *, lock: bool = False) -> dict | None:
    """The item (with its unit's code and path) by id or number, optionally locked for update."""
    if "\x00" in ref:  # no id or number contains NUL, and PostgreSQL refuses to compare text holding one
        return None
    by_number = "-" in ref and len(ref) != 36
    return _LOADERS[(lock, by_number)].first(conn, {"ref": ref})


def next_number(conn: sa.Connection, year: int) -> int:
    """The next item number of ``year``, atomically (an upsert that returns the new value)."""
    insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(sequences)
    stmt = insert.values(year=year, last=1).on_conflict_do_update(
        index_elements=[sequences.c.year], set_={"last": sequences.c.last + 1}
    ).returning(sequences.c.last)
    return conn.execute(stmt).scalar_one()

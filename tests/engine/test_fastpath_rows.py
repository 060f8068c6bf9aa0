"""The transition path's prebuilt statements (engine.store.fastpath) against SQLAlchemy's own, on both stores.

They run on the driver's cursor and convert values themselves, so they must read and write exactly what the
column types would: the same Python values and types for every column, and on SQLite the same stored text.
"""
from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from engine import itemrows
from tests.helpers import drive, new_item

LOADERS = {"by id": (itemrows.SELECT_BY_ID, False, False), "by number": (itemrows.SELECT_BY_NUMBER, False, True),
           "locked by id": (itemrows.LOCK_BY_ID, True, False), "locked by number": (itemrows.LOCK_BY_NUMBER, True, True)}


def _items_in_every_shape(client, world, rt) -> list[dict]:
    """A new item (most columns empty), one waiting on an extension, one closed: every column set somewhere."""
    extended = new_item(client, world, due_date=(rt.today() + dt.timedelta(days=30)).isoformat())
    return [new_item(client, world), drive(client, world, rt, extended, "extension_requested"),
            drive(client, world, rt, new_item(client, world), "closed")]


@pytest.mark.parametrize("loader", LOADERS)
def test_a_prebuilt_item_read_equals_sqlalchemys_column_for_column(client, world, rt, loader):
    statement, lock, by_number = LOADERS[loader]
    for item in _items_in_every_shape(client, world, rt):
        ref = item["number"] if by_number else item["id"]
        with rt.store.write() as conn:  # a locking read needs a write transaction on PostgreSQL
            fast = itemrows.load_item(conn, ref, lock=lock)
            slow = dict(conn.execute(statement, {"ref": ref}).mappings().one())
        assert fast.keys() == slow.keys()
        for column, value in slow.items():
            assert (type(fast[column]), fast[column]) == (type(value), value), (item["state"], column)
        assert fast["closed_at"] is not None or item["state"] != "closed"


# PostgreSQL stores dates and times as such, with no text form to differ.
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_every_date_and_time_column_a_transition_wrote_is_stored_as_sqlalchemy_stores_it(client, world, rt):
    """On SQLite the columns are text: a different spelling of the same instant would sort and compare wrongly."""
    items = itemrows.items
    columns = [c for c in items.columns if isinstance(c.type, (sa.Date, sa.DateTime, sa.types.TypeDecorator))]
    for item in _items_in_every_shape(client, world, rt):
        with rt.store.read() as conn:
            typed = conn.execute(sa.select(*columns).where(items.c.id == item["id"])).mappings().one()
            stored = conn.execute(sa.select(*(sa.type_coerce(c, sa.String) for c in columns))
                                  .where(items.c.id == item["id"])).one()
            for column, text in zip(columns, stored):
                value, write = typed[column.name], column.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
                assert text == (write(value) if write and value is not None else value), (item["state"], column.name)

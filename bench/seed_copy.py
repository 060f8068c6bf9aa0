"""Copy the items and histories bench/seed.py made in one database into another (SQLite to PostgreSQL, say):
much faster than seeding again, since making the rows (hashing every record) is most of a seed's time.

The target gets the same unit tree and people first (bench.seed builds them), then every item (its unit
found again by code) and every history record, in batches of items in the order they were made.
Run: .venv/bin/python bench/seed.py 0 --db TARGET --copy-from SOURCE
"""
from __future__ import annotations

import datetime as dt
from typing import Callable

import sqlalchemy as sa

from engine.models import HistoryRecord, Item, NumberSequence, Unit
from engine.store import Store
from engine.store.bulk import Rows

items, history, units = Item.__table__, HistoryRecord.__table__, Unit.__table__
ITEM_COLUMNS = [c.name for c in items.columns]
HISTORY_COLUMNS = [c.name for c in history.columns if c.name != "id"]


def _converter(rows: Rows, column: sa.Column) -> Callable:
    """How a value read through the column's type is handed to Rows.insert on the target."""
    if isinstance(column.type, sa.types.TypeDecorator):  # the UTC instants
        return rows.instant
    if isinstance(column.type, sa.Date) and rows.sqlite:
        return lambda value: None if value is None else value.isoformat()
    return lambda value: value


def copy_items(source: Store, target: Store, unit_ids: dict[str, int], insert: Callable, *, batch: int = 10_000,
               progress: Callable[[int, int], None] | None = None) -> tuple[int, int, dict[int, int]]:
    """Copy every item and history record of ``source`` into ``target`` (whose units ``unit_ids`` names by
    code) with ``insert(conn, table, columns, rows)``; return (items, records, the last number handed out by year)."""
    with source.read() as conn:
        codes = dict(conn.execute(sa.select(units.c.id, units.c.code)).all())
        total = conn.execute(sa.select(sa.func.count()).select_from(items)).scalar_one()
        numbers = dict(conn.execute(sa.select(NumberSequence.__table__)).all())
    done = records = 0
    position: tuple[dt.datetime, str] | None = None
    while True:
        with source.read() as conn:
            query = sa.select(items).order_by(items.c.created_at, items.c.id).limit(batch)
            if position is not None:
                query = query.where(sa.tuple_(items.c.created_at, items.c.id) > sa.tuple_(
                    sa.literal(position[0], items.c.created_at.type), sa.literal(position[1], items.c.id.type)))
            found = [dict(r) for r in conn.execute(query).mappings()]
            if not found:
                break
            chain = conn.execute(sa.select(history).where(history.c.item_id.in_([r["id"] for r in found]))
                                 .order_by(history.c.item_id, history.c.seq)).mappings().all()
        position = (found[-1]["created_at"], found[-1]["id"])
        with target.write() as conn:
            rows = Rows(conn)
            convert = {c.name: _converter(rows, c) for c in items.columns}
            for row in found:
                row["unit_id"] = unit_ids[codes[row["unit_id"]]]
            insert(conn, items, ITEM_COLUMNS, [tuple(convert[c](r[c]) for c in ITEM_COLUMNS) for r in found])
            insert(conn, history, HISTORY_COLUMNS, [tuple(r[c] for c in HISTORY_COLUMNS) for r in chain])
        done += len(found)
        records += len(chain)
        if progress is not None:
            progress(done, total)
    return done, records, numbers

"""The ledger as it stands now: the list's items in the caller's scope, oldest first, read in chunks."""
from __future__ import annotations

import datetime as dt
from typing import Iterator

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from engine import itemrows, queries
from engine.accounts import Actor
from engine.ledger.columns import ledger_row
from engine.runtime import Runtime

items, history = itemrows.items, itemrows.history
CHUNK = 2000  # items per read: constant memory whatever the ledger's size
# Only the columns the ledger shows: each column read costs its conversion on every row.
LEDGER_SELECT = sa.select(
    *(items.c[name] for name in ("id", "number", "external_ref", "source", "title", "description", "measures",
                                 "assignee", "due_date", "deadline", "state", "workflow_hash", "closed_at",
                                 "campaign", "created_at")),
    itemrows.units.c.code.label("unit_code")).select_from(items.join(itemrows.units,
                                                                      itemrows.units.c.id == items.c.unit_id))


def _progress_note(dialect: str):
    """The ``progress`` an import record's fields hold, read by the database (most records are not parsed)."""
    if dialect == "postgresql":
        return sa.func.json_extract_path_text(sa.cast(history.c.fields, postgresql.JSON), "progress")
    return sa.func.json_extract(history.c.fields, "$.progress")


def latest_progress(conn: sa.Connection, item_ids: list[str]) -> dict[str, str]:
    """最近进展 of each item: the newest record that says something (engine.ledger.columns.progress_of)."""
    imported = history.c.trigger == "import"
    # An import record's comment says who imported it; the progress it brought is in its fields.
    said = sa.case((imported, _progress_note(conn.dialect.name)), else_=history.c.comment).label("said")
    query = (sa.select(history.c.item_id, history.c.seq, said)
             .where(history.c.item_id.in_(item_ids), sa.or_(imported, sa.func.length(history.c.comment) > 0)))
    found: dict[str, tuple[int, str]] = {}
    for item_id, seq, text in conn.execute(query):
        if text and (item_id not in found or found[item_id][0] < seq):
            found[item_id] = (seq, text)
    return {item_id: text for item_id, (_seq, text) in found.items()}


def count_rows(rt: Runtime, actor: Actor, filters: queries.ItemFilters) -> int:
    """How many rows the ledger will have (for a progress bar)."""
    with rt.store.read() as conn:
        return queries.count_items(conn, actor, filters, today=rt.today(), yellow_days=rt.settings.yellow_days)


def in_chunks(conn: sa.Connection, query: sa.Select) -> Iterator[list[dict]]:
    """The rows of ``query`` in registration order, CHUNK at a time, from one streamed result.

    One ordered read in one transaction (a consistent ledger, and no re-sorting of the table per chunk, which
    page-by-page reads would cost without an index on the ordering); the driver hands rows over as they are
    fetched (a server-side cursor on PostgreSQL), so memory holds one chunk."""
    result = conn.execute(query.order_by(items.c.created_at, items.c.id)
                          .execution_options(stream_results=True, yield_per=CHUNK))
    for partition in result.mappings().partitions(CHUNK):
        yield [dict(r) for r in partition]


def current_rows(rt: Runtime, actor: Actor, filters: queries.ItemFilters) -> Iterator[tuple]:
    """The ledger's rows now, one item each, in registration order."""
    today, yellow_days = rt.today(), rt.settings.yellow_days
    serial = 0
    with rt.store.read() as conn:
        query = LEDGER_SELECT.where(*queries.filter_clauses(conn, actor, filters, today, yellow_days))
        for chunk in in_chunks(conn, query):
            progress = latest_progress(conn, [r["id"] for r in chunk])
            for item in chunk:
                serial += 1
                definition = rt.registry.by_hash(item["workflow_hash"]).definition
                closed = rt.local_date(item["closed_at"]) if item["closed_at"] else None
                yield ledger_row(serial, item, state_title=definition.state(item["state"]).title.zh,
                                 progress=progress.get(item["id"]), today=today, yellow_days=yellow_days,
                                 closed_on=closed)


def ledger_rows(rt: Runtime, actor: Actor, filters: queries.ItemFilters, *, as_of: dt.date | None = None
                ) -> Iterator[tuple]:
    """The ledger's rows now, or as they stood at the end of ``as_of`` (a day before today)."""
    if as_of is not None and as_of < rt.today():
        from engine.ledger.as_of import rows_as_of

        return rows_as_of(rt, actor, filters, as_of)
    return current_rows(rt, actor, filters)

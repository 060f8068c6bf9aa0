"""engine.store.bulk on both stores: rows written from pre-converted values read back through SQLAlchemy's column
types exactly; inserts that skip rows already there say which went in; drawn ids never repeat."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from engine.clock import rfc3339
from engine.models import Item
from engine.reminders.models import Notice
from engine.store.bulk import Rows
from tests.helpers import new_item

_notices, _items = Notice.__table__, Item.__table__
COLUMNS = ("id", "key", "item_id", "kind", "level", "rule", "state", "deadline", "due_at", "issued_at", "status",
           "recipients")
AT = dt.datetime(2026, 3, 2, 1, 0, 0, 120, tzinfo=dt.timezone.utc)


def _row(rows: Rows, notice_id: int, key: str, item_id: str, level: str | None = None) -> tuple:
    deadline = dt.date(2026, 2, 27).isoformat() if rows.sqlite else dt.date(2026, 2, 27)
    return (notice_id, key, item_id, "escalation.issued" if level else "reminder.overdue", level, "r", "rectifying",
            deadline, rows.instant(AT), rows.instant(AT + dt.timedelta(hours=2)), "issued", '["asg_a"]')


def test_new_rows_go_in_once_and_say_which_did(client, world, rt):
    item = new_item(client, world)["id"]
    with rt.store.write() as conn:
        rows = Rows(conn)
        first = rows.new_ids(_notices, 2)
        assert rows.insert_new(_notices, COLUMNS, [_row(rows, first[0], "k/1", item), _row(rows, first[1], "k/2", item)],
                               unique="key") == set(first)
        # Again with one key already there and one repeated within the rows: only the new key goes in.
        again = rows.new_ids(_notices, 3)
        assert min(again) > max(first)
        inserted = rows.insert_new(_notices, COLUMNS, [_row(rows, again[0], "k/1", item, "red"),
                                                       _row(rows, again[1], "k/3", item),
                                                       _row(rows, again[2], "k/3", item, "blue")], unique="key")
        assert inserted == {again[1]}
        # The ids of the skipped rows were drawn: they are not handed out again in this transaction.
        assert min(rows.new_ids(_notices, 1)) > max(again)
    with rt.store.read() as conn:
        stored = conn.execute(sa.select(_notices).order_by(_notices.c.id)).mappings().all()
    assert [(r["id"], r["key"], r["level"]) for r in stored] == [(first[0], "k/1", None), (first[1], "k/2", None),
                                                                 (again[1], "k/3", None)]
    assert {(r["deadline"], r["due_at"], r["issued_at"]) for r in stored} == {
        (dt.date(2026, 2, 27), AT, AT + dt.timedelta(hours=2))}


def test_stored_instants_read_back_as_the_column_type_does(client, world, rt):
    item = new_item(client, world)["id"]
    with rt.store.write() as conn:
        rows = Rows(conn)
        rows.set_values(_items, "next_reminder_at", "id", [(rows.instant(AT), item)])
        raw = conn.execute(sa.text("SELECT next_reminder_at FROM items WHERE id = :id"), {"id": item}).scalar_one()
        assert rows.read_instant(raw) == AT and rows.read_rfc3339(raw) == rfc3339(AT) == "2026-03-02T01:00:00.000120Z"
        if rows.sqlite:  # text another writer left without microseconds still reads right
            assert rows.read_rfc3339("2026-03-02 01:00:00") == "2026-03-02T01:00:00.000000Z"
    with rt.store.read() as conn:
        assert conn.execute(sa.select(_items.c.next_reminder_at).where(_items.c.id == item)).scalar_one() == AT


def test_values_set_by_key_whether_shared_or_not(client, world, rt):
    ids = [new_item(client, world)["id"] for _ in range(3)]
    later = AT + dt.timedelta(days=1)
    with rt.store.write() as conn:
        rows = Rows(conn)
        rows.set_values(_items, "next_reminder_at", "id", [(rows.instant(AT), ids[0]), (rows.instant(later), ids[1]),
                                                           (rows.instant(AT), ids[2]), (None, "no-such-item")])
    with rt.store.read() as conn:
        got = dict(conn.execute(sa.select(_items.c.id, _items.c.next_reminder_at).where(_items.c.id.in_(ids))).all())
    assert got == {ids[0]: AT, ids[1]: later, ids[2]: AT}


def test_many_rows_go_in_a_few_statements_not_one_each(client, world, rt):
    """On SQLite each statement whose triggers write the items' FTS5 index writes a new index segment, so a
    statement per row made a 12,000-row ledger import in one transaction take ten times as long."""
    item = new_item(client, world)["id"]
    statements: list[str] = []
    with rt.store.write() as conn:
        rows = Rows(conn)
        if rows.sqlite:
            rows.driver.set_trace_callback(statements.append)
        ids = rows.new_ids(_notices, 1_200)
        rows.insert(_notices, COLUMNS, [_row(rows, n, f"k/{n}", item) for n in ids])
        if rows.sqlite:
            rows.driver.set_trace_callback(None)
    with rt.store.read() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM notices WHERE key LIKE 'k/%'")).scalar_one() == 1_200
    inserts = [s for s in statements if s.startswith("INSERT INTO notices")]
    assert len(inserts) == (3 if rt.store.dialect == "sqlite" else 0)  # 500 + 500 + 200 rows on SQLite

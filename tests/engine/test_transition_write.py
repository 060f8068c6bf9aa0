"""A transition's write (engine.itemrows.write_transition) on both stores: the item row, its history record and
its outbox row all together when the item is still at the version read, and nothing at all when it is not
(on PostgreSQL the three are one statement, whose inserts hang on the update's row)."""
from __future__ import annotations

import sqlalchemy as sa

from engine import history, itemrows
from engine.clock import rfc3339
from engine.items import outbox_row
from tests.helpers import new_item, table_counts

TABLES = ("items", "history", "outbox")


def _next(rt, item: dict) -> tuple[dict, dict, dict]:
    """The changes, history insert values and outbox row of a comment-like self-loop on ``item``."""
    now = rt.clock.now()
    record, params = history.new_record(
        item_id=item["id"], seq=item["history_seq"] + 1, trigger="report_progress", from_state=item["state"],
        to_state=item["state"], actor="asg_a", at=rfc3339(now), comment="本周完成 3 所幼儿园扩班", evidence=[],
        fields={}, prev_hash=item["history_hash"])
    changes = {"version": item["version"] + 1, "history_seq": record["seq"], "history_hash": record["hash"],
               "updated_at": now}
    return changes, params, outbox_row("item.transitioned", {**item, **changes}, record, now)


def _row(rt, item_id: str) -> dict:
    with rt.store.read() as conn:
        return itemrows.load_item(conn, item_id)


def test_a_matching_version_writes_the_row_its_record_and_its_outbox_row(client, world, rt):
    item = _row(rt, new_item(client, world)["id"])
    before = table_counts(rt, TABLES)
    changes, record, queued = _next(rt, item)
    with rt.store.write() as conn:
        assert itemrows.write_transition(conn, changes, item, record, queued) == 1
    after = _row(rt, item["id"])
    assert (after["version"], after["history_seq"], after["history_hash"]) == (
        item["version"] + 1, item["history_seq"] + 1, record["hash"])
    assert table_counts(rt, TABLES) == {**before, "history": before["history"] + 1, "outbox": before["outbox"] + 1}
    with rt.store.read() as conn:
        stored = conn.execute(sa.text("SELECT seq, comment, prev_hash, hash FROM history WHERE item_id = :i "
                                      "ORDER BY seq DESC LIMIT 1"), {"i": item["id"]}).one()
        queued_row = conn.execute(sa.text("SELECT event, item_id, payload FROM outbox ORDER BY id DESC LIMIT 1")).one()
    assert tuple(stored) == (record["seq"], record["comment"], item["history_hash"], record["hash"])
    assert tuple(queued_row) == ("item.transitioned", item["id"], queued["payload"])


def test_a_stale_version_writes_nothing(client, world, rt):
    item = _row(rt, new_item(client, world)["id"])
    before = table_counts(rt, TABLES)
    changes, record, queued = _next(rt, {**item, "version": item["version"] - 1})
    with rt.store.write() as conn:
        assert itemrows.write_transition(conn, changes, {**item, "version": item["version"] - 1}, record, queued) == 0
    assert table_counts(rt, TABLES) == before
    assert _row(rt, item["id"]) == item

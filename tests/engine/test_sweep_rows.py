"""What the sweep writes, row by row, on both stores: each notice with its key and status, the inbox rows of
the issued ones, and outbox rows whose payload is exactly what delivery reads (keys in this order).

The rows are read back through SQLAlchemy's column types, so the sweep's own value conversions (text on
SQLite, naive UTC on PostgreSQL) must agree with theirs.
"""
from __future__ import annotations

import datetime as dt

import orjson
import sqlalchemy as sa

from engine.clock import rfc3339
from engine.models import Item, Outbox
from engine.reminders.models import Notice, NoticeRecipient
from engine.reminders.sweep import sweep
from tests.engine.test_reminders_schedule import _at, _rectifying

_notices, _recipients, _outbox, _items = Notice.__table__, NoticeRecipient.__table__, Outbox.__table__, Item.__table__
UTC = dt.timezone.utc


def _office(day: str) -> dt.datetime:
    """09:00 in Shanghai on ``day``: when a notice of that day falls due."""
    return _at(day).astimezone(UTC)


def _written(rt) -> tuple[list[dict], list[tuple], list[dict]]:
    with rt.store.read() as conn:
        notices = [dict(r) for r in conn.execute(sa.select(_notices).order_by(_notices.c.id)).mappings()]
        inbox = [tuple(r) for r in conn.execute(sa.select(_recipients.c.notice_id, _recipients.c.username,
                                                          _recipients.c.read_at).order_by(_recipients.c.id))]
        outbox = [dict(r) for r in conn.execute(sa.select(_outbox).where(_outbox.c.batch.is_not(None))
                                                .order_by(_outbox.c.id)).mappings()]
    return notices, inbox, outbox


def test_a_late_sweep_writes_every_row_as_delivery_and_the_inbox_read_it(client, world, rt, clock):
    item = _rectifying(client, world, rt, clock, start="2026-02-09", due="2026-02-25")
    with rt.store.read() as conn:
        entered = conn.execute(sa.select(_items.c.state_entered_at).where(_items.c.id == item["id"])).scalar_one()
    clock.set(_at("2026-03-30", 11))
    now = clock.now()
    result = sweep(rt)
    notices, inbox, outbox = _written(rt)

    prefix = f"{item['id']}/{rfc3339(entered)}"
    # Blue, orange and red after 3, 10 and 20 working days overdue (28 February is a make-up working day);
    # the overdue reminder's latest day is Monday 30 March. Only red and the reminder are sent; what is sent
    # is written first, then the levels it supersedes.
    expected = [("reminder.overdue", None, "rectifying.reminders.1", "2026-03-30", "issued", ["asg_a", "sup_a"]),
                ("escalation.issued", "red", "rectifying.escalation.red", "2026-03-24", "issued", ["aud", "sup"]),
                ("escalation.issued", "blue", "rectifying.escalation.blue", "2026-02-28", "superseded", ["sup_a"]),
                ("escalation.issued", "orange", "rectifying.escalation.orange", "2026-03-10", "superseded", ["sup"])]
    assert [{k: v for k, v in n.items() if k != "id"} for n in notices] == [
        {"key": f"{prefix}/{rule}/{day}", "item_id": item["id"], "kind": kind, "level": level, "rule": rule,
         "state": "rectifying", "deadline": dt.date(2026, 2, 25), "due_at": _office(day), "issued_at": now,
         "status": status, "recipients": orjson.dumps(people).decode()}
        for kind, level, rule, day, status, people in expected]

    ids = {n["level"]: n["id"] for n in notices}
    assert sorted(result.notices) == [ids[None], ids["red"]]
    assert (result.claimed, result.issued, result.superseded) == (1, 2, 2)
    assert inbox == [(ids[None], "asg_a", None), (ids[None], "sup_a", None), (ids["red"], "aud", None),
                     (ids["red"], "sup", None)]

    assert [(o["event"], o["item_id"], o["batch"], o["created_at"], o["dispatched_at"]) for o in outbox] == [
        ("reminder.overdue", item["id"], result.batch, now, None),
        ("escalation.issued", item["id"], result.batch, now, None)]
    payloads = [orjson.loads(o["payload"]) for o in outbox]
    keys = ["event", "notice", "key", "item", "number", "title", "unit", "unit_path", "state", "deadline",
            "overdue_days", "level", "rule", "due_at", "recipients"]
    assert [list(p) for p in payloads] == [keys, keys]
    common = {"item": item["id"], "number": item["number"], "title": item["title"], "unit": "DEPT-A",
              "unit_path": payloads[0]["unit_path"], "state": "rectifying", "deadline": "2026-02-25",
              "overdue_days": 33}
    assert payloads == [
        {**common, "event": "reminder.overdue", "notice": ids[None], "key": f"{prefix}/rectifying.reminders.1/2026-03-30",
         "level": None, "rule": "rectifying.reminders.1", "due_at": "2026-03-30T01:00:00+00:00",
         "recipients": ["asg_a", "sup_a"]},
        {**common, "event": "escalation.issued", "notice": ids["red"],
         "key": f"{prefix}/rectifying.escalation.red/2026-03-24", "level": "red", "rule": "rectifying.escalation.red",
         "due_at": "2026-03-24T01:00:00+00:00", "recipients": ["aud", "sup"]}]
    assert payloads[0]["unit_path"].count("/") == 3  # CITY > DEPT-A

    clock.set(_at("2026-03-31", 9))
    again = sweep(rt)  # the next day: one more reminder; every escalation is there already
    assert (again.claimed, again.issued, again.superseded) == (1, 1, 0)
    assert len(_written(rt)[0]) == 5

"""A workflow whose escalation levels fall due out of order (orange before blue): the sweep still sends the
highest level among the notices that are new, on both stores, even when a higher one was sent before.

The sweep writes every notice first with the status it would have if all were new, and corrects the few
where some were there already; this is one of those.
"""
from __future__ import annotations

import orjson
import pytest
import sqlalchemy as sa

from engine.config import Settings
from engine.models import Outbox
from engine.reminders.models import Notice, NoticeRecipient
from engine.reminders.sweep import sweep
from tests.engine.test_reminders_schedule import _at, _rectifying
from tests.helpers import edited_workflows

_notices, _recipients, _outbox = Notice.__table__, NoticeRecipient.__table__, Outbox.__table__


@pytest.fixture
def settings(db_url, tmp_path, workflows_dir):
    """The standard workflow with orange falling due before blue (3 and 10 working days overdue)."""

    def swap(data: dict) -> None:
        rectifying = next(s for s in data["states"] if s["name"] == "rectifying")
        rectifying["escalation"] = [{"after_overdue": "3 working days", "level": "orange"},
                                    {"after_overdue": "10 working days", "level": "blue"}]

    return Settings(database_url=db_url, workflows_dir=edited_workflows(workflows_dir, tmp_path / "wf", "standard",
                                                                          swap))


def test_a_lower_level_falling_due_after_a_higher_one_was_sent_is_sent_too(client, world, rt, clock):
    item = _rectifying(client, world, rt, clock, start="2026-03-02", due="2026-03-13")
    clock.set(_at("2026-03-18", 10))  # 3 working days overdue: orange
    first = sweep(rt)
    assert (first.issued, first.superseded) == (2, 0)
    clock.set(_at("2026-03-27", 10))  # 10 working days overdue: blue, while orange is due (and sent) already
    later = sweep(rt)
    # Among what is new (the day's reminder and blue) blue is the highest level: sent, not superseded.
    assert (later.claimed, later.issued, later.superseded) == (1, 2, 0)
    with rt.store.read() as conn:
        notices = [dict(r) for r in conn.execute(sa.select(_notices).order_by(_notices.c.id)).mappings()]
        inbox = [tuple(r) for r in conn.execute(sa.select(_recipients.c.notice_id, _recipients.c.username))]
        outbox = [dict(r) for r in conn.execute(sa.select(_outbox).where(_outbox.c.batch.is_not(None))
                                                .order_by(_outbox.c.id)).mappings()]
    blue = next(n for n in notices if n["level"] == "blue")
    assert blue["status"] == "issued" and orjson.loads(blue["recipients"]) == ["sup_a"]
    assert (blue["id"], "sup_a") in inbox
    sent = [orjson.loads(o["payload"]) for o in outbox if o["event"] == "escalation.issued"]
    assert [(p["level"], p["notice"]) for p in sent] == [("orange", sent[0]["notice"]), ("blue", blue["id"])]
    assert all(n["status"] == "issued" for n in notices) and len(notices) == 4
    assert item["id"] == blue["item_id"]

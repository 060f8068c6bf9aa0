"""One delivery pass under steady load: it takes the events waiting when it began and ends."""
from __future__ import annotations

import orjson
import sqlalchemy as sa

from engine.delivery import worker
from engine.delivery.fanout import FANOUT_BATCH
from engine.models import Outbox
from tests.delivery_support import insert_events, reminder


def _one_more_event(rt) -> None:
    payload = {"event": "item.transitioned", "unit_path": "/1/2/"}
    with rt.store.write() as conn:
        conn.execute(sa.insert(Outbox.__table__).values(event="item.transitioned", item_id=None, batch=None,
                                                        payload=orjson.dumps(payload).decode(),
                                                        created_at=rt.clock.now()))


def test_a_pass_fans_out_what_was_waiting_in_full_batches_and_leaves_later_arrivals_to_the_next(rt, monkeypatch):
    # Under steady load an event arrives while each fan-out transaction runs. A pass that chased them would
    # never end (the scheduler then skips its next runs) and would spend a transaction and a disk sync on
    # each handful of rows; the next pass, an interval later, takes them in one batch.
    waiting = FANOUT_BATCH + 5
    insert_events(rt, [("reminder.overdue", reminder(n), None) for n in range(waiting)])
    real, calls = worker.fan_out, []

    def fan_out_while_events_arrive(runtime, now, **kwargs):
        taken = real(runtime, now, **kwargs)
        calls.append(taken)
        if len(calls) < 50:  # bounded, so that a pass chasing arrivals still ends here
            _one_more_event(runtime)
        return taken

    monkeypatch.setattr(worker, "fan_out", fan_out_while_events_arrive)
    first = worker.deliver(rt)
    # A full batch, then the rest with what arrived meanwhile: short of full, so caught up, and the pass ends.
    assert calls == [FANOUT_BATCH, 6]
    assert first.outbox_rows == waiting + 1
    second = worker.deliver(rt)
    assert second.outbox_rows == 1 and calls[2:] == [1]  # what arrived during the first pass's last batch

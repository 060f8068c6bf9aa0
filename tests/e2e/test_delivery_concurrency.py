"""Several delivery processes on one database (each its own runtime and connection pool, running at once):
no message is sent twice, and a robot's rate limit holds across them because it is counted in the database."""
from __future__ import annotations

import bisect
import datetime as dt
import threading
import time
from collections import Counter

import pytest
import sqlalchemy as sa

from engine.config import Settings
from engine.delivery import fanout
from engine.delivery.fanout import fan_out
from engine.delivery.models import Delivery
from engine.delivery.worker import claim, deliver, next_due_at
from engine.runtime import Runtime
from tests.delivery_support import add_webhook, insert_events, reminder
from tests.receivers import ok, receiver

SENDERS = 3
JOIN_TIMEOUT_S = 120


@pytest.fixture
def settings(db_url) -> Settings:
    """The receiver listens on 127.0.0.1, which only this setting lets a webhook reach."""
    return Settings(database_url=db_url, allow_private_webhooks=True)


@pytest.fixture
def senders(settings, clock):
    """Runtimes standing in for separate worker processes: own store, own connections, same clock."""
    runtimes = [Runtime.open(settings, clock=clock) for _ in range(SENDERS)]
    yield runtimes
    for runtime in runtimes:
        runtime.store.dispose()


def _all_at_once(runtimes: list[Runtime]) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(len(runtimes), timeout=JOIN_TIMEOUT_S)

    def run(runtime: Runtime) -> None:
        try:
            start.wait()
            deliver(runtime)
        except BaseException as exc:  # noqa: BLE001 - reported to the test below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(r,), daemon=True) for r in runtimes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_TIMEOUT_S)
    assert not any(t.is_alive() for t in threads) and not errors, errors


def _slow_ok(n, received):
    time.sleep(0.002)  # keeps sends in flight while the other senders claim
    return ok(n, received)


def test_several_senders_never_send_one_message_twice(rt, client, world, clock, senders):
    with receiver(clock, _slow_ok) as rx:
        add_webhook(client, world, rx.url + "/hook", events=("reminder.overdue",))
        insert_events(rt, [("reminder.overdue", reminder(n), None) for n in range(1, 151)])
        _all_at_once(senders)
    ids = Counter(r.headers["webhook-id"] for r in rx.got)
    assert len(ids) == 150 and set(ids.values()) == {1}
    assert next_due_at(rt) is None


def test_a_robots_rate_limit_holds_across_senders(rt, client, world, clock, senders):
    per_minute = rt.settings.robot_messages_per_minute
    with receiver(clock) as rx:
        add_webhook(client, world, rx.url + "/robot/send?access_token=T", kind="dingtalk",
                    events=("reminder.overdue",))
        insert_events(rt, [("reminder.overdue", reminder(n), None) for n in range(1, 101)])
        start = clock.now()
        while True:
            _all_at_once(senders)
            due = next_due_at(rt)
            if due is None:
                break
            assert due - start < dt.timedelta(hours=1)
            clock.set(max(due, clock.now()))
    times = sorted(r.at for r in rx.got)
    assert len(times) == len({r.body for r in rx.got}) == 100
    most = max(bisect.bisect_left(times, t + dt.timedelta(minutes=1)) - i for i, t in enumerate(times))
    assert most == per_minute


def test_a_claim_skips_deliveries_another_sender_holds(rt, client, world, clock, senders):
    add_webhook(client, world, "http://127.0.0.1:9/hook", events=("reminder.overdue",))
    insert_events(rt, [("reminder.overdue", reminder(n), None) for n in range(1, 31)])
    fan_out(rt, clock.now())
    first, second = senders[0], senders[1]
    if rt.store.dialect == "postgresql":
        # Another process is inside its claim: it holds the oldest ten rows locked, not yet leased.
        with first.store.writer.begin() as held:
            locked = held.execute(sa.select(Delivery.__table__.c.id).order_by(Delivery.__table__.c.id).limit(10)
                                  .with_for_update()).scalars().all()
            result: list = []
            claiming = threading.Thread(target=lambda: result.append(claim(second, "other", limit=10)), daemon=True)
            claiming.start()
            claiming.join(5)
            skipped = not claiming.is_alive()  # a claim that waited for the lock would still be running
        claiming.join(JOIN_TIMEOUT_S)
        assert skipped, "the claim waited for rows another sender holds instead of skipping them"
        taken, _settled = result[0]
        assert {c.delivery_id for c in taken}.isdisjoint(locked) and len(taken) == 10
    else:
        # One writer at a time: a second claim starts after the first committed its leases, and skips them.
        locked = [c.delivery_id for c in claim(first, "one", limit=10)[0]]
        taken, _settled = claim(second, "other", limit=10)
        assert {c.delivery_id for c in taken}.isdisjoint(locked) and len(locked) == len(taken) == 10
    assert len({c.message.message_id for c in taken}) == 10


def test_rows_another_process_fans_out_during_a_fan_out_go_out_once(rt, client, world, clock, senders, monkeypatch):
    # On SQLite a fan-out reads its batch before it takes the write lock, and another process may fan out some
    # of the same rows meanwhile; on PostgreSQL the other skips the rows the first holds. Either way each row
    # must become exactly one delivery.
    add_webhook(client, world, "http://127.0.0.1:9/hook", events=("reminder.overdue",))
    insert_events(rt, [("reminder.overdue", reminder(n), None) for n in range(1, 21)])
    first, second = senders[0], senders[1]
    real_load, overtaken = fanout._load, []

    def load_while_the_other_fans_out(row):
        if not overtaken:
            overtaken.append(None)
            overtaken[0] = fan_out(second, clock.now(), limit=10)  # the ten oldest it can take, in its own lock
        return real_load(row)

    monkeypatch.setattr(fanout, "_load", load_while_the_other_fans_out)
    taken = fan_out(first, clock.now())
    if rt.store.dialect == "postgresql":
        assert overtaken == [0] and taken == 20  # the first holds all twenty locked
    else:
        assert overtaken == [10] and taken == 10  # the first marked only what the other had left
    with rt.store.read() as conn:
        per_row = conn.execute(sa.text("SELECT outbox_id, count(*) FROM delivery_events GROUP BY outbox_id")).all()
        undispatched = conn.execute(sa.text("SELECT count(*) FROM outbox WHERE dispatched_at IS NULL")).scalar_one()
    assert len(per_row) == 20 and {count for _id, count in per_row} == {1} and undispatched == 0

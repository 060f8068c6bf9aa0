"""SQLite writes from the event loop while another thread of the process holds the write lock (a background
job's transaction): the loop waits for the release without blocking, then writes inline on its own thread;
past the lock timeout the write is refused as Busy, having changed nothing."""
from __future__ import annotations

import asyncio
import threading
import time

import pytest
import sqlalchemy as sa

from api import dbcalls
from engine.config import Settings
from engine.delivery import fanout
from engine.delivery.fanout import FANOUT_BATCH
from engine.delivery.worker import deliver
from engine.errors import Busy
from engine.jobs import DELIVERY_JOB, scheduler
from engine.store.core import WriteBusy
from engine.store.lockwait import MAKE_WAY_SECONDS
from tests.delivery_support import insert_events

LOCK_TIMEOUT_S = 1.0
pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # PostgreSQL has no process lock


@pytest.fixture
def settings(db_url) -> Settings:
    """A short lock wait, so the refusal comes within a second."""
    return Settings(database_url=db_url, write_lock_timeout=LOCK_TIMEOUT_S)


def _job_holding_the_lock(rt, seconds: float) -> tuple[threading.Thread, threading.Event]:
    """A thread in a write transaction for ``seconds``, as the sweep's or the delivery's would be."""
    holding = threading.Event()

    def hold() -> None:
        with rt.store.write() as conn:
            conn.execute(sa.text("UPDATE units SET name = name || '·' WHERE code = 'CITY'"))
            holding.set()
            time.sleep(seconds)

    thread = threading.Thread(target=hold)
    thread.start()
    return thread, holding


def _rename(rt, name: str, wrote_on: list[int]):
    def work() -> str:
        with rt.store.write() as conn:
            wrote_on.append(threading.get_ident())
            conn.execute(sa.text("UPDATE units SET name = :name WHERE code = 'DEPT-B'"), {"name": name})
        return name
    return work


async def _write_while_held(rt, hold_seconds: float, work) -> tuple[object, int, float]:
    """Run ``work`` through dbcalls.in_writer while a job holds the lock; its result (or error), the loop's
    ticks meanwhile and the seconds it took."""
    job, holding = _job_holding_the_lock(rt, hold_seconds)
    await asyncio.to_thread(holding.wait)
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    ticker = asyncio.create_task(tick())
    started = time.monotonic()
    try:
        outcome = await dbcalls.in_writer(rt, work)
    except Busy as refused:
        outcome = refused
    elapsed = time.monotonic() - started
    ticker.cancel()
    await asyncio.to_thread(job.join)
    return outcome, ticks, elapsed


def _unit_name(rt, code: str) -> str:
    with rt.store.read() as conn:
        return conn.execute(sa.text("SELECT name FROM units WHERE code = :c"), {"c": code}).scalar_one()


def _dispatched(rt) -> int:
    with rt.store.read() as conn:
        return conn.execute(sa.text("SELECT count(*) FROM outbox WHERE dispatched_at IS NOT NULL")).scalar_one()


def test_a_write_waits_on_the_loop_for_the_job_then_runs_inline(rt, world):
    wrote_on: list[int] = []
    outcome, ticks, elapsed = asyncio.run(_write_while_held(rt, 0.3, _rename(rt, "民政局（新）", wrote_on)))
    assert outcome == "民政局（新）" and _unit_name(rt, "DEPT-B") == "民政局（新）"
    # On the loop's own thread, once: not handed to the write thread, where every later write would follow it.
    assert wrote_on == [threading.get_ident()]
    assert elapsed >= 0.25 and ticks >= 10  # it waited for the job, and the loop kept serving meanwhile


def test_a_write_the_job_keeps_waiting_past_the_lock_timeout_is_refused_and_changes_nothing(rt, world):
    wrote_on: list[int] = []
    outcome, ticks, elapsed = asyncio.run(_write_while_held(rt, LOCK_TIMEOUT_S + 1.0, _rename(rt, "改不了", wrote_on)))
    assert isinstance(outcome, Busy) and outcome.retry_after == 1
    assert LOCK_TIMEOUT_S - 0.05 <= elapsed < LOCK_TIMEOUT_S + 0.9
    assert wrote_on == [] and _unit_name(rt, "DEPT-B") == "市民政局"
    assert ticks >= 50  # the wait never blocked the loop


def test_a_write_standing_back_for_a_queued_writer_goes_ahead_once_the_queue_empties(rt, world):
    # A loop's write stands back while writers are queued on the write thread, even with the lock free; the
    # last of them leaving the queue (after its commit, or at its timeout) must wake it, or it would wait for
    # some other write's release, or for the whole lock timeout and then a 503.
    store, wrote_on = rt.store, []
    store._count_waiting(1)  # a queued writer that has released the lock but not yet left the queue
    leaves = threading.Timer(0.05, store._count_waiting, args=(-1,))

    async def write() -> tuple[str, float]:
        leaves.start()
        started = time.monotonic()
        done = await dbcalls.in_writer(rt, _rename(rt, "民政局（排队后）", wrote_on))
        return done, time.monotonic() - started

    done, elapsed = asyncio.run(write())
    leaves.join()
    assert done == "民政局（排队后）" and wrote_on == [threading.get_ident()]
    assert elapsed < LOCK_TIMEOUT_S / 2, f"woke only after {elapsed:.2f} s"


def test_the_delivery_job_lets_the_loops_waiting_writes_go_between_its_batches(rt, world):
    # Under load a delivery pass fans out thousands of outbox rows, a batch per transaction. The job took the
    # lock back the moment it released it, so of the requests that had queued during a batch one or two got
    # in, and the rest waited for the next gap: a tail of a few hundred milliseconds every delivery interval.
    # Every write that waited for a batch must go before the next one.
    total, writers = 3 * FANOUT_BATCH, 8
    insert_events(rt, [("item.transitioned", {"item": f"item-{n}"}, None) for n in range(total)])
    delivery = scheduler(rt).get_job(DELIVERY_JOB).func  # the job as the scheduler runs it
    job = threading.Thread(target=delivery, args=[rt])
    seen: list[int] = []  # how many outbox rows had been fanned out, as each write saw it

    def count_dispatched() -> None:
        with rt.store.write() as conn:
            seen.append(conn.execute(sa.text("SELECT count(*) FROM outbox WHERE dispatched_at IS NOT NULL")
                                     ).scalar_one())
            conn.execute(sa.text("UPDATE units SET name = name WHERE code = 'DEPT-B'"))

    async def writer() -> None:
        while job.is_alive():
            await dbcalls.in_writer(rt, count_dispatched)

    async def write_while_the_job_runs() -> None:
        job.start()
        await asyncio.gather(*(writer() for _ in range(writers)))
        await asyncio.to_thread(job.join)

    asyncio.run(write_while_the_job_runs())
    assert _dispatched(rt) == total
    after_first_batch = seen.count(FANOUT_BATCH)
    assert after_first_batch >= writers, (
        f"{after_first_batch} of the {writers} writes waiting for the first batch went before the second")


def test_a_job_stands_back_for_waiting_writes_for_a_bounded_time_only(rt, world):
    # Under load that never lets up some write is always waiting: the job must still get its batches done.
    store = rt.store
    with store._released.counted():  # a loop's write that keeps waiting
        started = time.monotonic()
        with store.background(), store.write() as conn:
            conn.execute(sa.text("UPDATE units SET name = '市民政局（后台）' WHERE code = 'DEPT-B'"))
        elapsed = time.monotonic() - started
    assert MAKE_WAY_SECONDS - 0.01 <= elapsed < MAKE_WAY_SECONDS + LOCK_TIMEOUT_S / 2
    assert _unit_name(rt, "DEPT-B") == "市民政局（后台）"
    started = time.monotonic()
    with store.background(), store.write() as conn:  # nobody waiting: no standing back
        conn.execute(sa.text("UPDATE units SET name = '市民政局' WHERE code = 'DEPT-B'"))
    assert time.monotonic() - started < MAKE_WAY_SECONDS / 2


def test_requests_write_while_a_fan_out_reads_and_works_out_its_batch(rt, world, monkeypatch):
    # A fan-out batch reads a thousand outbox rows and parses their payloads: tens of milliseconds under load,
    # which it spent holding the write lock, so every request's write waited. Only its marking needs the lock.
    insert_events(rt, [("item.transitioned", {"item": f"item-{n}"}, None) for n in range(20)])
    real_load, during = fanout._load, []

    def load_and_write(row):
        if not during:
            try:
                with rt.store.without_waiting():  # a request's write that would refuse rather than wait
                    _rename(rt, "民政局（分发时）", [])()
                during.append("written")
            except WriteBusy:
                during.append("refused: the fan-out held the lock while reading")
        return real_load(row)

    monkeypatch.setattr(fanout, "_load", load_and_write)
    deliver(rt)
    assert during == ["written"] and _unit_name(rt, "DEPT-B") == "民政局（分发时）"
    assert _dispatched(rt) == 20

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
from engine.errors import Busy

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

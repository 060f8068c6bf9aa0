"""WriteBehind: writes run in the order submitted, a failed write reaches the caller, and the block never ends
with a write still running on the caller's connection."""
from __future__ import annotations

import gc
import signal
import threading
from contextlib import contextmanager

import pytest

from engine.store.write_behind import WriteBehind


def _alive() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name == "closeloop-write-behind"]


def test_writes_run_in_order_on_another_thread_and_all_have_run_when_the_block_ends():
    done, threads = [], set()

    def write(n: int) -> None:
        threads.add(threading.get_ident())
        done.append(n)

    with WriteBehind(depth=1) as behind:
        for n in range(50):
            behind.submit(write, n)
    assert done == list(range(50))
    assert threads and threading.get_ident() not in threads
    assert _alive() == []


def test_a_failed_write_is_raised_in_the_caller_and_the_writes_after_it_are_dropped():
    done = []

    def write(n: int) -> None:
        if n == 3:
            raise ValueError("disk full at write 3")
        done.append(n)

    with pytest.raises(ValueError, match="disk full at write 3"):
        with WriteBehind() as behind:
            for n in range(10):
                behind.submit(write, n)
    assert done == [0, 1, 2]
    assert _alive() == []


def test_a_failure_in_the_caller_waits_for_the_write_in_flight_before_it_propagates():
    started, release, finished = threading.Event(), threading.Event(), []

    def slow_write() -> None:
        started.set()
        release.wait(5)
        finished.append(True)

    def caller() -> None:
        with WriteBehind() as behind:
            behind.submit(slow_write)
            started.wait(5)
            raise KeyError("a bad row")

    result = []
    runner = threading.Thread(target=lambda: result.append(pytest.raises(KeyError, caller)))
    runner.start()
    runner.join(0.2)
    assert runner.is_alive(), "the caller's block ended while a write was still running on its connection"
    release.set()
    runner.join(5)
    assert finished == [True] and result and _alive() == []


def test_a_caller_that_fails_drops_the_writes_still_queued():
    started, release, done = threading.Event(), threading.Event(), []

    def write(n: int) -> None:
        if n == 0:
            started.set()
            release.wait(5)
        done.append(n)

    with pytest.raises(KeyError, match="a bad row") as failed:
        with WriteBehind(depth=2) as behind:
            behind.submit(write, 0)
            started.wait(5)
            behind.submit(write, 1)
            behind.submit(write, 2)
            threading.Timer(0.1, release.set).start()
            raise KeyError("a bad row")
    assert done == [0], "writes queued behind a failed caller were still run"
    assert _alive() == [] and not getattr(failed.value, "__notes__", None)


@contextmanager
def ctrl_c_raises():
    """SIGINT raises KeyboardInterrupt in the main thread's code, whatever ran before in this worker process: the
    default handler, and no garbage collection meanwhile, whose finalizers would swallow the exception as
    "unraisable" if the signal landed in one (the test failed so, rarely, in full runs)."""
    assert threading.current_thread() is threading.main_thread(), "signals reach only the main thread"
    handler = signal.signal(signal.SIGINT, signal.default_int_handler)
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        signal.signal(signal.SIGINT, handler)


def test_ctrl_c_while_the_block_ends_waits_for_the_write_in_flight():
    """A signal (Ctrl-C in `closeloop import`) that lands while the block waits for the thread is raised only once
    the write running on the caller's connection has finished: never while it still runs."""
    main, finished = threading.main_thread().ident, []

    def write() -> None:
        signal.pthread_kill(main, signal.SIGINT)  # the caller is waiting for this write by now
        threading.Event().wait(0.3)
        finished.append(True)

    with ctrl_c_raises(), pytest.raises(KeyboardInterrupt):
        with WriteBehind() as behind:
            behind.submit(write)
    assert finished == [True], "the block ended while its write was still running"
    assert _alive() == []

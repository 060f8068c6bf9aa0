"""Event loops waiting for the process's SQLite write lock, woken when it is released, with no thread each.

A server runs its SQLite writes inline on the event loop (engine.store). When the lock is taken by another
thread of the process (a background job, a checkpoint), handing the write to the write thread instead
keeps every later write there too: while that thread holds the lock, the loop's next write finds it taken
and follows. The writes then pay two threads contending for the GIL. Waiting on the loop for the lock's
release, then writing inline again, ends the detour with the holder's transaction.

A background job that writes in batches (the sweep, the delivery's fan-out) used to take the lock back the
moment it had released it: of the requests that had queued during a batch, one or two got in before the next,
and the rest waited for the whole pass. Between two batches, a job now makes way (``ReleaseWaiters.make_way``)
for every write of the process that is waiting.
"""
from __future__ import annotations

import asyncio
import threading
from contextlib import contextmanager
from typing import Callable, Iterator

# The longest a job's batch stands back for waiting writes: under load that never lets up, it goes on anyway.
MAKE_WAY_SECONDS = 0.25


class ReleaseWaiters:
    """Futures of event loops to resolve at the next release of a lock."""

    def __init__(self) -> None:
        self._futures: list[tuple[asyncio.AbstractEventLoop, asyncio.Future]] = []
        self._guard = threading.Lock()
        # Writes between the lock's refusal and their next try, woken or not (a woken one counts until it runs).
        self.waiting = 0
        self._fewer = threading.Condition()  # notified whenever a write stops waiting

    @contextmanager
    def counted(self) -> Iterator[None]:
        """Count a loop's write as waiting for the lock while the block (its await) lasts."""
        with self._fewer:
            self.waiting += 1
        try:
            yield
        finally:
            with self._fewer:
                self.waiting -= 1
                self._fewer.notify_all()

    def stopped_waiting(self) -> None:
        """Tell a job standing back (make_way) that a write the caller counts itself stopped waiting."""
        with self._fewer:
            self._fewer.notify_all()

    def make_way(self, others_waiting: Callable[[], int], limit: float = MAKE_WAY_SECONDS) -> None:
        """Block while ``others_waiting()`` says writes are waiting for the lock, at most ``limit`` seconds."""
        with self._fewer:
            self._fewer.wait_for(lambda: not others_waiting(), timeout=limit)

    def future(self) -> asyncio.Future:
        """A future of the running loop, resolved at the next wake()."""
        loop = asyncio.get_running_loop()
        made = loop.create_future()
        with self._guard:
            self._futures.append((loop, made))
        return made

    def wake(self) -> None:
        """Resolve every waiting future (from any thread); never raises, since it runs after a commit."""
        if not self._futures:  # the common case, read without the guard: a waiter re-checks the lock after adding
            return
        with self._guard:
            waiting, self._futures = self._futures, []
        by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future]] = {}
        for loop, future in waiting:
            by_loop.setdefault(loop, []).append(future)
        for loop, futures in by_loop.items():
            try:
                loop.call_soon_threadsafe(_resolve, futures)
            except RuntimeError:
                pass  # the loop closed meanwhile: nothing waits on it any more


def _resolve(futures: list[asyncio.Future]) -> None:
    for future in futures:
        if not future.done():  # cancelled by its timeout meanwhile
            future.set_result(None)

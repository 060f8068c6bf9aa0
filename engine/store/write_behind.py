"""Bulk writes run on a second thread, in order, while the caller builds the next rows.

The database driver releases the GIL while a statement runs (sqlite3 around each step, psycopg while it
waits on the server), so a thread that only executes statements overlaps with Python that builds rows. A
100,000-row ledger import spends about as long inside SQLite (its indexes and the FTS5 trigram index) as in
building the rows; one after the other they add up, side by side the longer one sets the time.

Only the write thread touches the connection between :meth:`WriteBehind.submit` and the end of the block,
and the block never ends while a write runs, however it ends (a signal such as Ctrl-C included): the caller's
transaction then commits or rolls back with nothing else on its connection. A write that fails is raised in the
caller (at its next submit or at the end); after a failure, the caller's or a write's, the writes still queued
are dropped.
"""
from __future__ import annotations

import queue
import threading
from typing import Callable

# Writes waiting at most: the caller builds ahead by this many, which bounds the rows held in memory.
DEPTH = 2
_DONE = None


class WriteBehind:
    """One write thread for one transaction's bulk writes; use as a context manager."""

    def __init__(self, depth: int = DEPTH) -> None:
        self._pending: queue.Queue = queue.Queue(maxsize=depth)
        self._failure: BaseException | None = None
        self._dropping = False  # set when the caller failed: queued writes are not run
        # Set by the thread as it ends. Not Thread.join: Python 3.11's join, interrupted by a signal, can mark a
        # thread that is still running as stopped (its bpo-45274 handling), and is_alive() then says False.
        self._ended = threading.Event()
        self._thread = threading.Thread(target=self._run, name="closeloop-write-behind", daemon=True)

    def __enter__(self) -> "WriteBehind":
        self._thread.start()
        return self

    def submit(self, write: Callable[..., object], *args: object) -> None:
        """Run ``write(*args)`` after the writes submitted before it; raise an earlier write's failure."""
        self._raise_failure()
        self._pending.put((write, args))

    def _run(self) -> None:
        try:
            while (job := self._pending.get()) is not _DONE:
                if self._failure is None and not self._dropping:
                    write, args = job
                    try:
                        write(*args)
                    except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
                        self._failure = exc
        finally:
            self._ended.set()

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self._dropping = True
        interrupted = self._finish()
        if interrupted is not None:
            if self._failure is not None:
                interrupted.add_note(f"a bulk write had failed too: {self._failure!r}")
            raise interrupted
        if exc_type is None:
            self._raise_failure()
        elif self._failure is not None:
            exc.add_note(f"a bulk write had failed too: {self._failure!r}")

    def _finish(self) -> BaseException | None:
        """Stop the thread and wait until it has ended; an exception that interrupted the wait (KeyboardInterrupt
        from a signal) is returned to raise afterwards, not raised while a write may still run."""
        interrupted: BaseException | None = None
        while True:
            try:
                self._pending.put(_DONE)
                break
            except BaseException as exc:  # noqa: BLE001 - raised once the thread has ended
                interrupted, self._dropping = interrupted or exc, True
        while not self._ended.is_set():
            try:
                self._ended.wait()
            except BaseException as exc:  # noqa: BLE001 - raised once the thread has ended
                interrupted, self._dropping = interrupted or exc, True
        try:
            self._thread.join()  # it has nothing left to do but return
        except BaseException as exc:  # noqa: BLE001 - the writes are over: only the return is left
            interrupted = interrupted or exc
        return interrupted

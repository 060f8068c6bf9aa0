"""Bulk writes run on a second thread, in order, while the caller builds the next rows.

The database driver releases the GIL while a statement runs (sqlite3 around each step, psycopg while it
waits on the server), so a thread that only executes statements overlaps with Python that builds rows. A
100,000-row ledger import spends about as long inside SQLite (its indexes and the FTS5 trigram index) as in
building the rows; one after the other they add up, side by side the longer one sets the time.

Only the write thread touches the connection between :meth:`WriteBehind.submit` and the end of the block,
and the block ends only when every submitted write has run: a write that fails is raised in the caller (at
its next submit or at the end), and after a failure the rest are dropped, so the caller's transaction rolls
back with nothing running on its connection.
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
        self._thread = threading.Thread(target=self._run, name="closeloop-write-behind", daemon=True)

    def __enter__(self) -> "WriteBehind":
        self._thread.start()
        return self

    def submit(self, write: Callable[..., object], *args: object) -> None:
        """Run ``write(*args)`` after the writes submitted before it; raise an earlier write's failure."""
        self._raise_failure()
        self._pending.put((write, args))

    def _run(self) -> None:
        while (job := self._pending.get()) is not _DONE:
            if self._failure is None:  # after a failure, drain without writing
                write, args = job
                try:
                    write(*args)
                except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
                    self._failure = exc

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure

    def __exit__(self, exc_type, exc, tb) -> None:
        self._pending.put(_DONE)
        self._thread.join()
        if exc_type is None:
            self._raise_failure()

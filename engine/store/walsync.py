"""Group commit for SQLite: no commit is acknowledged before an fsync of the ``-wal`` file covers it.

SQLite in WAL mode with ``synchronous=NORMAL`` writes each commit into the log without syncing it: a
killed process loses nothing, but an OS crash or a power cut may lose the last commits, which callers were
already told had succeeded. ``synchronous=FULL`` syncs inside every commit: one fsync (~4 ms on this
machine's disk) per transaction, ~260 commits a second at most, one writer at a time.

This is the third way, the one databases call group commit: commits stay fast (NORMAL), and a thread
syncs the log in a loop; a caller waits until a sync that started after its commit has finished. One
fsync covers every commit made before it began, so under load each costs a fraction of a sync, and a
lone commit waits for exactly one. Linux syncs a file through any descriptor open on it, so the thread
keeps its own read-only one on the ``-wal`` file.

The sync is an fdatasync, as SQLite's own (synchronous=FULL) is on Linux: it writes the data and the
metadata needed to read it back (the file's size when the log grew), and skips a journal commit for the
modification time alone. Under ext4's data=ordered that commit would also flush every other file's dirty
pages (the database file a checkpoint just wrote) before the log's sync could return.
"""
from __future__ import annotations

import asyncio
import logging
import os
import threading
from pathlib import Path

log = logging.getLogger("closeloop.store")


class WalSync:
    """Counts commits, syncs the log behind them, and lets callers wait until theirs is on disk."""

    def __init__(self, wal_path: Path) -> None:
        self.wal_path = wal_path
        self._cond = threading.Condition()
        self._committed = 0  # commits counted so far
        self._durable = 0  # commits covered by a finished fsync
        self._waiters: list[tuple[int, asyncio.AbstractEventLoop, asyncio.Future]] = []
        self._thread: threading.Thread | None = None
        self._closed = False
        self._fd: int | None = None
        self._ino = 0  # the inode self._fd is open on
        self.syncs = 0

    def committed(self) -> int:
        """Count a commit that has just returned; its number, to wait for."""
        with self._cond:
            self._committed += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="closeloop-walsync", daemon=True)
                self._thread.start()
            self._cond.notify_all()
            return self._committed

    def durable(self, seq: int) -> bool:
        """Whether commit ``seq`` is on disk."""
        return self._durable >= seq

    def wait(self, seq: int) -> None:
        """Block until commit ``seq`` is on disk."""
        with self._cond:
            while self._durable < seq and not self._closed:
                self._cond.wait()

    async def wait_async(self, seq: int) -> None:
        """Wait, without blocking the event loop, until commit ``seq`` is on disk."""
        if self._durable >= seq:
            return
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        with self._cond:
            if self._durable >= seq or self._closed:
                return
            self._waiters.append((seq, loop, future))
            self._cond.notify_all()
        await future

    def _sync(self) -> None:
        """fdatasync the log through this thread's descriptor, reopening it if the file was replaced."""
        try:
            # One stat per sync, against the inode noted at open: every system call here lets the event loop's
            # thread take the GIL, and this thread must win it back before it can go on.
            if self._fd is not None and os.stat(self.wal_path).st_ino != self._ino:
                os.close(self._fd)
                self._fd = None
            if self._fd is None:
                self._fd = os.open(self.wal_path, os.O_RDONLY)
                self._ino = os.fstat(self._fd).st_ino
            os.fdatasync(self._fd)
        except FileNotFoundError:
            # No log file: nothing is waiting in one (the last connection folded it into the database).
            pass
        self.syncs += 1

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._durable >= self._committed and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                target = self._committed
            try:
                self._sync()
            except OSError:
                # Never acknowledge what may not be on disk: say so and try again.
                log.exception("fsync of %s failed; retrying", self.wal_path)
                continue
            with self._cond:
                self._durable = max(self._durable, target)
                ready = [w for w in self._waiters if w[0] <= target]
                self._waiters = [w for w in self._waiters if w[0] > target]
                self._cond.notify_all()
            _release(ready)

    def close(self) -> None:
        """A last sync, then stop the thread and release every waiter."""
        with self._cond:
            target = self._committed
        try:
            self._sync()
        except OSError:
            log.exception("final fsync of %s failed", self.wal_path)
            target = self._durable
        with self._cond:
            self._durable = max(self._durable, target)
            self._closed = True
            self._cond.notify_all()
            waiters, self._waiters = self._waiters, []
        if self._thread is not None:
            self._thread.join(timeout=5)
        _release(waiters)
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _release(waiters: list[tuple[int, asyncio.AbstractEventLoop, asyncio.Future]]) -> None:
    """Wake the waiters, one call per event loop: each call writes to the loop's wake-up pipe."""
    by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future]] = {}
    for _seq, loop, future in waiters:
        by_loop.setdefault(loop, []).append(future)
    for loop, futures in by_loop.items():
        try:
            loop.call_soon_threadsafe(_resolve, futures)
        except RuntimeError:
            pass  # the loop is closed: nobody is left to wake


def _resolve(futures: list[asyncio.Future]) -> None:
    for future in futures:
        if not future.done():
            future.set_result(None)

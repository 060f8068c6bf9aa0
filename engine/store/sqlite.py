"""SQLite specifics of the store: how connections are set up, and the checkpoints that bound the WAL.

A PASSIVE checkpoint never blocks writers, but it cannot restart the log while readers keep using it: under
sustained reads and writes the ``-wal`` file then grows by ~25 KB per transition for as long as the load
lasts. So once the log holds more than the limit, a RESTART checkpoint runs under the process's write lock
(writers queue behind it for a few milliseconds) and waits for readers to move to the newest snapshot; the
next commit writes from the start of the file again, and ``journal_size_limit`` cuts the file back.
"""
from __future__ import annotations

import logging
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, ContextManager

import sqlalchemy as sa

from engine.errors import Busy

log = logging.getLogger("closeloop.store")

# Readers wait this long on the rare lock a reader can meet in WAL mode (recovery by another connection).
READ_BUSY_MS = 10_000
# How long a RESTART checkpoint waits for readers to leave the old log before giving up until the next
# round; it holds the write lock meanwhile, so this is also the longest stall it can cause.
RESTART_WAIT_MS = 100
# A WAL frame is a page plus its 24-byte header.
FRAME_HEADER = 24
# Rows PRAGMA optimize reads of each index when it refreshes statistics (SQLite samples the rest).
ANALYSIS_LIMIT = 1000


def sqlite_engine(url: str, begin: str, pool_size: int, wal_limit: int, cache_mb: int | None = None) -> sa.Engine:
    """An engine whose connections use WAL and start transactions with ``begin`` (and a page cache of
    ``cache_mb``, else SQLite's default)."""
    engine = sa.create_engine(url, pool_size=pool_size, max_overflow=pool_size * 4, pool_pre_ping=False)

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:
        # Let SQLAlchemy's "begin" event below decide how transactions start.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        # The writer waits only when Store.write asks it to, and then for a bounded time; readers rarely wait.
        cur.execute(f"PRAGMA busy_timeout={READ_BUSY_MS if begin == 'BEGIN' else 0}")
        cur.execute("PRAGMA synchronous=NORMAL")
        # When the log restarts, the file is cut back to this size instead of keeping its high-water mark.
        cur.execute(f"PRAGMA journal_size_limit={wal_limit}")
        if cache_mb is not None:
            cur.execute(f"PRAGMA cache_size=-{cache_mb * 1024}")  # negative: in KiB
        if begin != "BEGIN":
            # Writers never checkpoint: a checkpoint (and its fsync) inside a commit is a latency spike every
            # few hundred transitions. WalCheckpoints runs them on a background thread instead.
            cur.execute("PRAGMA wal_autocheckpoint=0")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:
        # Straight to the driver: this runs once per transaction, and SQLAlchemy's execute costs ~40 us.
        conn.connection.driver_connection.execute(begin)

    return engine


def optimize(conn: sa.Connection) -> None:
    """Let SQLite refresh the planner's statistics of the tables whose size changed much since they were
    taken (``PRAGMA optimize``, as SQLite advises before a long-lived connection closes), each read from a
    sample of rows so that it takes milliseconds even at a million items. Run when a process ends its
    writing and after a migration; bench/seed.py runs a full ANALYZE after a bulk load."""
    if conn.dialect.name != "sqlite" or conn.closed or conn.invalidated:
        return
    driver = conn.connection.driver_connection
    try:
        driver.execute(f"PRAGMA analysis_limit={ANALYSIS_LIMIT}")
        driver.execute("PRAGMA optimize")
    except sqlite3.OperationalError as exc:  # another process writes: the statistics wait for the next time
        log.info("PRAGMA optimize skipped: %s", exc)


def is_busy(exc: sqlite3.OperationalError) -> bool:
    """SQLITE_BUSY (or one of its extended codes): another connection holds the lock."""
    return (getattr(exc, "sqlite_errorcode", 0) & 0xFF) == sqlite3.SQLITE_BUSY


# Rows a transition changes (its item, its history record, its outbox event, and a notice now and then): the
# unit in which commits are counted, so that one bulk transaction of thousands of rows counts as what it wrote.
ROWS_A_COMMIT = 4


class WalCheckpoints:
    """Background checkpoints, every few hundred commits' worth of rows, that keep one database's WAL under
    ``wal_limit``."""

    def __init__(self, reader: sa.Engine, wal_limit: int, write_lock: Callable[[], ContextManager[None]]) -> None:
        self.reader = reader
        self.wal_limit = wal_limit
        self.write_lock = write_lock
        # Commits between two checks: about a quarter of the limit at ~25 KB a transition, at most 500.
        self.every = max(16, min(500, wal_limit // (100 * 1024)))
        self._commits = 0
        self._next = self.every
        self._pending = False
        self._frame_bytes = 0
        self._executor: ThreadPoolExecutor | None = None
        self._executor_lock = threading.Lock()

    def committed(self, changes: int = ROWS_A_COMMIT) -> None:
        """Count a commit that changed ``changes`` rows (triggers' included), as that many transitions' worth of
        rows; every ``every`` such, schedule a checkpoint (unless one is still pending). Counting commits alone
        let a bulk import or a seed of a million items, a few huge commits, grow the log by gigabytes."""
        self._commits += max(1, -(-changes // ROWS_A_COMMIT))
        if self._commits >= self._next and not self._pending:
            self._next = self._commits + self.every
            self._pending = True
            with self._executor_lock:
                if self._executor is None:
                    self._executor = ThreadPoolExecutor(1, thread_name_prefix="closeloop-checkpoint")
                self._executor.submit(self.run)

    def run(self) -> None:
        """Copy the WAL into the database file; past the limit, restart the log from the top."""
        try:
            with self.reader.connect() as conn:
                driver = conn.connection.driver_connection
                _busy, frames, _copied = driver.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                if not self._frame_bytes:
                    self._frame_bytes = driver.execute("PRAGMA page_size").fetchone()[0] + FRAME_HEADER
                if frames * self._frame_bytes > self.wal_limit:
                    self._restart(driver)
        except Exception:  # noqa: BLE001 - nobody awaits this thread: say so, and try again later
            log.exception("WAL checkpoint failed")
        finally:
            self._pending = False

    def _restart(self, driver: sqlite3.Connection) -> None:
        try:
            with self.write_lock():
                driver.execute(f"PRAGMA busy_timeout={RESTART_WAIT_MS}")
                try:
                    driver.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
                finally:
                    driver.execute(f"PRAGMA busy_timeout={READ_BUSY_MS}")
        except Busy:
            pass  # a writer here has waited that long for another process's lock: try after the next commits

    def settle(self) -> None:
        """Wait until a checkpoint already scheduled has finished."""
        with self._executor_lock:
            executor = self._executor
        if executor is not None:
            executor.submit(lambda: None).result()

    def close(self) -> None:
        """Wait for a running checkpoint (it holds a connection) and stop the thread."""
        with self._executor_lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)

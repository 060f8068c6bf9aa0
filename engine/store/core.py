"""The Store: a process's engines and the one way to open a write transaction (migrations: engine.store.migrate).

How writes are serialized is decided here and nowhere else. SQLite allows one writer: threads that race
for its lock sleep in the busy handler and p99 jumps to a second, so each process takes a lock before
``BEGIN IMMEDIATE``. PostgreSQL wants real concurrency with row locks, so there is no lock at all.
On both, a write waits at most ``lock_timeout`` for the locks it needs and then raises errors.Busy (503)
having changed nothing. SQLite's WAL checkpoints live in engine.store.sqlite, the schema revision checks in
engine.store.revisions.
"""
from __future__ import annotations

import asyncio
import math
import sqlite3
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, ContextManager, Iterator, TypeVar

import sqlalchemy as sa

from engine.config import SQLITE_WAL_LIMIT_MB, SQLITE_WRITER_CACHE_MB, WRITE_LOCK_TIMEOUT_S, Settings
from engine.errors import Busy
from engine.store.commit_hooks import after_commit_hooks, run_hooks
from engine.store.lockwait import ReleaseWaiters
from engine.store.pgping import ping_when_idle
from engine.store.sqlite import WalCheckpoints, is_busy, optimize, sqlite_engine
from engine.store.walsync import WalSync

T = TypeVar("T")


def normalize_url(url: str) -> str:
    """Pick the drivers we ship: pysqlite for SQLite, psycopg 3 for PostgreSQL."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


class PendingSync:
    """The newest commit a block made whose trip to disk the caller still has to await."""

    seq = 0


class WriteBusy(Exception):
    """The write lock is taken and the caller asked not to wait (see Store.without_waiting).

    ``in_process``: taken by a thread of this process (await Store.lock_released), not by another process.
    """

    def __init__(self, *, in_process: bool) -> None:
        super().__init__("the write lock is taken by " + ("this process" if in_process else "another process"))
        self.in_process = in_process


def _postgres_busy(exc: Exception) -> bool:
    """A pool checkout that timed out, or a lock_timeout (SQLSTATE 55P03), wrapped or straight from the driver."""
    if isinstance(exc, sa.exc.TimeoutError):
        return True
    return getattr(getattr(exc, "orig", exc), "sqlstate", None) == "55P03"


class Store:
    """The database behind one process: a reader engine, a writer engine and the write discipline."""

    def __init__(self, url: str, *, lock_timeout: float = WRITE_LOCK_TIMEOUT_S,
                 wal_limit_mb: float = SQLITE_WAL_LIMIT_MB, pool_size: int = 20, max_overflow: int = 20,
                 writer_cache_mb: int = SQLITE_WRITER_CACHE_MB) -> None:
        self.url = normalize_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        self.lock_timeout = lock_timeout
        self.retry_after = max(1, math.ceil(lock_timeout))
        self.wal_limit = int(wal_limit_mb * 1024 * 1024)
        if self.is_sqlite:
            if self.url in ("sqlite://", "sqlite:///:memory:"):
                raise ValueError("an in-memory SQLite database cannot be shared; use a file")
            self.reader = sqlite_engine(self.url, "BEGIN", pool_size=8, wal_limit=self.wal_limit)
            self.writer = sqlite_engine(self.url, "BEGIN IMMEDIATE", pool_size=1, wal_limit=self.wal_limit,
                                        cache_mb=writer_cache_mb)
            self._write_lock: threading.Lock | None = threading.Lock()
            self._checkpoints: WalCheckpoints | None = WalCheckpoints(self.reader, self.wal_limit, self._locked)
            # Group commit: a commit is acknowledged once an fsync of the log covers it (engine.store.walsync).
            self._walsync: WalSync | None = WalSync(Path(f"{sqlite_path(self.url)}-wal"))
            # One writer at a time, first come first served: threads racing for SQLite's lock (an unfair one)
            # are where one-second tails come from. Off the loop, writes would queue on this one thread.
            write_threads, read_threads = 1, 8
            # A single indexed read of a local file (~20 us) is cheaper inline than a hop to a thread.
            self.inline_lookups = True
            # A server runs SQLite writes on its event loop: they are a few hundred microseconds of mostly
            # GIL-holding work, so a thread hop only adds contention. They never block it: when a thread of
            # this process holds the lock (a job, a checkpoint, queued writes) the loop awaits its release
            # (lock_released); only another process's lock sends the write to the write thread (api.dbcalls).
            self.inline_writes = True
        else:
            # lock_timeout and pool_timeout turn "waits forever for a row lock or a connection" into a 503.
            self.reader = self.writer = sa.create_engine(
                self.url, pool_size=pool_size, max_overflow=max_overflow, pool_timeout=lock_timeout,
                # A server that does not answer (a dropped route, a stopped VM) must not hang a request either.
                connect_args={"options": f"-c lock_timeout={int(lock_timeout * 1000)}",
                              "connect_timeout": max(2, math.ceil(lock_timeout))})
            ping_when_idle(self.writer)  # not on every checkout: a round trip a transaction saved under load
            self._write_lock = None
            self._checkpoints = None
            self._walsync = None  # PostgreSQL syncs its own log at each commit (and groups them itself)
            # Reads and writes share the pool: half of its connections each, so no thread waits for one.
            write_threads = read_threads = max(1, (pool_size + max_overflow) // 2)
            self.inline_lookups = False  # a network round trip must not block the event loop
            self.inline_writes = False
        self._writer_conn: sa.Connection | None = None
        # Writers blocked on (or queued for) the lock: while any wait, inline writes queue behind them.
        self._waiting = 0
        self._waiting_lock = threading.Lock()
        self._released = ReleaseWaiters()  # event loops waiting for the write lock (lock_released)
        self._local = threading.local()
        self._thread_conns: list[sa.Connection] = []
        self._threads = {"write": write_threads, "read": read_threads}
        self._executors: dict[str, ThreadPoolExecutor] = {}
        self._executors_lock = threading.Lock()

    @classmethod
    def for_settings(cls, settings: Settings) -> "Store":
        """The store a deployment's settings describe."""
        return cls(settings.database_url, lock_timeout=settings.write_lock_timeout,
                   wal_limit_mb=settings.sqlite_wal_limit_mb, pool_size=settings.db_pool_size,
                   max_overflow=settings.db_max_overflow, writer_cache_mb=settings.sqlite_writer_cache_mb)

    def _executor(self, kind: str) -> ThreadPoolExecutor:
        executor = self._executors.get(kind)
        if executor is None:
            with self._executors_lock:
                executor = self._executors.get(kind)
                if executor is None:
                    executor = self._executors[kind] = ThreadPoolExecutor(
                        self._threads[kind], thread_name_prefix=f"closeloop-{kind}")
        return executor

    @property
    def write_executor(self) -> ThreadPoolExecutor:
        """Threads for write transactions: one for SQLite (a fair queue), a pool for PostgreSQL."""
        return self._executor("write")

    @property
    def read_executor(self) -> ThreadPoolExecutor:
        """Threads for reads that should not block an event loop."""
        return self._executor("read")

    @property
    def dialect(self) -> str:
        """'sqlite' or 'postgresql'."""
        return self.writer.dialect.name

    def busy(self) -> Busy:
        """The refusal for a write that could not get its lock in time."""
        return Busy(f"the database is busy with another writer; nothing was changed, retry in {self.retry_after} s",
                    retry_after=self.retry_after)

    @contextmanager
    def _thread_flag(self, name: str) -> Iterator[None]:
        setattr(self._local, name, True)
        try:
            yield
        finally:
            setattr(self._local, name, False)

    def without_waiting(self) -> ContextManager[None]:
        """In this block (this thread), write() raises WriteBusy at once rather than wait for the lock."""
        return self._thread_flag("nowait")

    def background(self) -> ContextManager[None]:
        """In this block (this thread, a background job's), each write first lets the process's writes that are
        waiting for the lock go (ReleaseWaiters.make_way): a job's batches never hold requests up long."""
        return self._thread_flag("background")

    @contextmanager
    def deferred_sync(self) -> Iterator["PendingSync"]:
        """In this block (this thread), write() returns at commit without waiting for the disk; the caller
        awaits ``durable_async(pending.seq)`` before it acknowledges anything."""
        pending = PendingSync()
        self._local.pending = pending
        try:
            yield pending
        finally:
            self._local.pending = None

    def wait_durable(self, seq: int) -> None:
        """Block until commit ``seq`` of this process is on disk (what ``durable_async`` does, for a thread)."""
        if seq and self._walsync is not None:
            self._walsync.wait(seq)

    async def durable_async(self, seq: int) -> None:
        """Wait, without blocking the event loop, until commit ``seq`` of this process is on disk."""
        if seq and self._walsync is not None:
            await self._walsync.wait_async(seq)

    def submit_write(self, fn: Callable[[], T]) -> Future[tuple[T, int]]:
        """Run ``fn`` on the write thread(s): its wait for the lock counts from now and ends in Busy; the
        future holds (``fn``'s result, the commit to await with ``durable_async``)."""
        if self._write_lock is None:
            return self.write_executor.submit(lambda: (fn(), 0))
        deadline = time.monotonic() + self.lock_timeout
        self._count_waiting(1)

        def run() -> tuple[T, int]:
            self._local.deadline = deadline
            try:
                with self.deferred_sync() as pending:
                    return fn(), pending.seq
            finally:
                self._local.deadline = None
                self._count_waiting(-1)

        return self.write_executor.submit(run)

    def _count_waiting(self, delta: int) -> None:
        with self._waiting_lock:
            self._waiting += delta
            done = self._waiting == 0
        if done:  # loops that stood back for queued writers may write now (lock_released), and jobs (make_way)
            self._released.wake()
            self._released.stopped_waiting()

    def _acquire(self) -> float:
        """Take the process's write lock; return the deadline for SQLite's lock too (0.0: do not wait)."""
        if getattr(self._local, "nowait", False):
            # Writers already queued go first, and the event loop never blocks on a lock.
            if self._waiting or not self._write_lock.acquire(blocking=False):
                raise WriteBusy(in_process=True)
            return 0.0
        if getattr(self._local, "background", False):
            self._released.make_way(lambda: self._waiting or self._released.waiting)
        deadline = getattr(self._local, "deadline", None) or time.monotonic() + self.lock_timeout
        if self._write_lock.acquire(blocking=False):
            return deadline
        self._count_waiting(1)
        try:
            if not self._write_lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
                raise self.busy()
        finally:
            self._count_waiting(-1)
        return deadline

    def _begin(self, conn: sa.Connection, deadline: float) -> sa.RootTransaction:
        """BEGIN IMMEDIATE without waiting; if another connection holds the lock, wait until ``deadline``."""
        try:
            return conn.begin()
        except sqlite3.OperationalError as exc:  # from BEGIN IMMEDIATE itself, before anything was written
            if not is_busy(exc):
                raise
            if not deadline:
                raise WriteBusy(in_process=False) from exc
        # SQLite's own busy handler waits for the lock, bounded by what is left of the deadline. The writer
        # connection keeps busy_timeout=0 otherwise, so an uncontended write never sets it.
        driver = conn.connection.driver_connection
        driver.execute(f"PRAGMA busy_timeout={max(0, int((deadline - time.monotonic()) * 1000))}")
        try:
            return conn.begin()
        except sqlite3.OperationalError as exc:
            if is_busy(exc):
                raise self.busy() from exc
            raise
        finally:
            driver.execute("PRAGMA busy_timeout=0")

    @contextmanager
    def write(self) -> Iterator[sa.Connection]:
        """One write transaction: commits when the block ends, rolls back on any exception.

        Waits at most ``lock_timeout`` for the lock, then raises Busy, having changed nothing.
        """
        if self._write_lock is None:
            try:
                with self.writer.begin() as conn, after_commit_hooks(conn) as hooks:
                    yield conn
            except Exception as exc:  # engine.store.fastpath raises the driver's own errors, unwrapped
                if _postgres_busy(exc):
                    raise self.busy() from exc
                raise
            run_hooks(hooks)
            return
        deadline = self._acquire()
        try:
            # One long-lived connection for the one writer: checking a connection out of the pool and
            # building a Connection object for each transaction costs more than the transaction's SQL.
            conn = self._writer_conn
            if conn is None or conn.closed or conn.invalidated:
                conn = self._writer_conn = self.writer.connect()
            transaction = self._begin(conn, deadline)
            changed_before = conn.connection.driver_connection.total_changes
            try:
                with transaction, after_commit_hooks(conn) as hooks:
                    yield conn
            except BaseException:
                if conn.invalidated:
                    conn.close()
                    self._writer_conn = None
                raise
            changes = conn.connection.driver_connection.total_changes - changed_before
        finally:
            self._release()
        run_hooks(hooks)
        self._checkpoints.committed(changes)
        seq = self._walsync.committed()
        pending = getattr(self._local, "pending", None)
        if pending is not None:
            pending.seq = max(pending.seq, seq)
        else:
            self._walsync.wait(seq)

    def settle_checkpoints(self) -> None:
        """Wait until a WAL checkpoint already scheduled has finished (SQLite; nothing to wait for on PostgreSQL)."""
        if self._checkpoints is not None:
            self._checkpoints.settle()

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold the process's write lock (waiting at most lock_timeout, then Busy), without a transaction."""
        self._acquire()
        try:
            yield
        finally:
            self._release()

    def _release(self) -> None:
        self._write_lock.release()
        self._released.wake()

    async def lock_released(self, timeout: float) -> None:
        """Wait, without blocking the event loop, for the next release of this process's write lock (or for
        it to be free of holders and queued writers); errors.Busy after ``timeout`` seconds."""
        released = self._released.future()
        if not self._write_lock.locked() and not self._waiting:
            self._released.wake()  # released before the future was added: it would wait for the next one
        try:
            with self._released.counted():  # a background job's next write waits for this one (Store.background)
                await asyncio.wait_for(released, max(0.0, timeout))
        except TimeoutError:
            raise self.busy() from None

    @contextmanager
    def single(self) -> Iterator[sa.Connection]:
        """A connection for single prebuilt statements (engine.store.fastpath) outside an explicit transaction.

        On SQLite each thread keeps one open (a single SELECT is consistent on its own, and autocommits);
        never call ``conn.execute`` on it, which would open a transaction that nothing ends.
        """
        if not self.is_sqlite:
            # Autocommit: the statement runs alone, without the BEGIN before and the ROLLBACK after it that
            # would cost two more round trips (psycopg switches autocommit on the client, sending nothing).
            with self.reader.connect() as conn:
                yield conn.execution_options(isolation_level="AUTOCOMMIT")
            return
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed or conn.invalidated:
            conn = self._local.conn = self.reader.connect()
            self._thread_conns.append(conn)
        yield conn

    @contextmanager
    def read(self) -> Iterator[sa.Connection]:
        """A read-only transaction (a consistent snapshot)."""
        with self.reader.begin() as conn:
            yield conn

    def dispose(self) -> None:
        """Close every pooled connection (and let the executors' idle threads end)."""
        with self._executors_lock:
            executors, self._executors = self._executors, {}
        for executor in executors.values():
            executor.shutdown(wait=False)
        if self._checkpoints is not None:
            self._checkpoints.close()
        if self._walsync is not None:
            self._walsync.close()
        if self._write_lock is not None:
            with self._write_lock:
                if self._writer_conn is not None:
                    optimize(self._writer_conn)
                    self._writer_conn.close()
                    self._writer_conn = None
        while self._thread_conns:
            self._thread_conns.pop().close()
        self._local = threading.local()
        self.reader.dispose()
        if self.writer is not self.reader:
            self.writer.dispose()


def safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a message helper must never raise
        return "<database>"


def sqlite_path(url: str) -> Path | None:
    """The file behind a SQLite URL, if it is one."""
    parsed = sa.make_url(normalize_url(url))
    return Path(parsed.database) if parsed.get_backend_name() == "sqlite" and parsed.database else None

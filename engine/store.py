"""Database access: engines, the one way to open a write transaction, and schema checks.

How writes are serialized is decided here and nowhere else. SQLite allows one writer: threads that race
for its lock sleep in the busy handler and p99 jumps to a second, so each process takes a lock before
``BEGIN IMMEDIATE``. PostgreSQL wants real concurrency with row locks, so there is no lock at all.
"""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import sqlalchemy as sa
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from engine.config import PROJECT_ROOT

MIGRATIONS = PROJECT_ROOT / "migrations"
# Write transactions between two background WAL checkpoints on SQLite (about 1-4 MB of WAL).
CHECKPOINT_EVERY = 500


def normalize_url(url: str) -> str:
    """Pick the drivers we ship: pysqlite for SQLite, psycopg 3 for PostgreSQL."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def _sqlite_engine(url: str, begin: str, pool_size: int) -> sa.Engine:
    engine = sa.create_engine(url, pool_size=pool_size, max_overflow=pool_size * 4, pool_pre_ping=False)

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:
        # Let SQLAlchemy's "begin" event below decide how transactions start.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=10000")
        cur.execute("PRAGMA synchronous=NORMAL")
        if begin != "BEGIN":
            # Writers never checkpoint: a checkpoint (and its fsync) inside a commit is a latency spike every
            # few hundred transitions. Store.write() hands checkpoints to a reader thread instead.
            cur.execute("PRAGMA wal_autocheckpoint=0")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:
        # Straight to the driver: this runs once per transaction, and SQLAlchemy's execute costs ~40 us.
        conn.connection.driver_connection.execute(begin)

    return engine


class Store:
    """The database behind one process: a reader engine, a writer engine and the write discipline."""

    def __init__(self, url: str) -> None:
        self.url = normalize_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        if self.is_sqlite:
            if self.url in ("sqlite://", "sqlite:///:memory:"):
                raise ValueError("an in-memory SQLite database cannot be shared; use a file")
            self.reader = _sqlite_engine(self.url, "BEGIN", pool_size=8)
            self.writer = _sqlite_engine(self.url, "BEGIN IMMEDIATE", pool_size=1)
            self._write_lock: threading.Lock | None = threading.Lock()
            self._commits = 0
            # One writer at a time, first come first served: threads racing for SQLite's lock (an unfair one)
            # are where one-second tails come from. Off the loop, writes would queue on this one thread.
            write_threads, read_threads = 1, 8
            # A single indexed read of a local file (~20 us) is cheaper inline than a hop to a thread.
            self.inline_lookups = True
            # A server runs SQLite writes on its event loop: they are a few hundred microseconds of mostly
            # GIL-holding work, so a thread hop only adds contention. The cost: while another process (a CLI
            # command) holds the write lock, the loop waits for it (at most busy_timeout, 10 s).
            self.inline_writes = True
        else:
            self.reader = self.writer = sa.create_engine(self.url, pool_size=20, max_overflow=20, pool_pre_ping=True)
            self._write_lock = None
            write_threads = read_threads = 20
            self.inline_lookups = False  # a network round trip must not block the event loop
            self.inline_writes = False
        self._writer_conn: sa.Connection | None = None
        self._local = threading.local()
        self._thread_conns: list[sa.Connection] = []
        self._threads = {"write": write_threads, "read": read_threads}
        self._executors: dict[str, ThreadPoolExecutor] = {}
        self._executors_lock = threading.Lock()

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

    @contextmanager
    def write(self) -> Iterator[sa.Connection]:
        """One write transaction: commits when the block ends, rolls back on any exception."""
        if self._write_lock is None:
            with self.writer.begin() as conn:
                yield conn
            return
        with self._write_lock:
            # One long-lived connection for the one writer: checking a connection out of the pool and
            # building a Connection object for each transaction costs more than the transaction's SQL.
            conn = self._writer_conn
            if conn is None or conn.closed or conn.invalidated:
                conn = self._writer_conn = self.writer.connect()
            try:
                with conn.begin():
                    yield conn
            except BaseException:
                if conn.invalidated:
                    conn.close()
                    self._writer_conn = None
                raise
            self._commits += 1
            if self._commits % CHECKPOINT_EVERY == 0:
                self.read_executor.submit(self.checkpoint)

    def checkpoint(self) -> None:
        """Copy committed WAL pages into the SQLite file without blocking writers (a PASSIVE checkpoint)."""
        if self.is_sqlite:
            with self.reader.connect() as conn:
                conn.connection.driver_connection.execute("PRAGMA wal_checkpoint(PASSIVE)")

    @contextmanager
    def single(self) -> Iterator[sa.Connection]:
        """A connection for single prebuilt statements (engine.fastpath) outside an explicit transaction.

        On SQLite each thread keeps one open (a single SELECT is consistent on its own, and autocommits);
        never call ``conn.execute`` on it, which would open a transaction that nothing ends.
        """
        if not self.is_sqlite:
            with self.reader.connect() as conn:
                yield conn
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
        if self._write_lock is not None:
            with self._write_lock:
                if self._writer_conn is not None:
                    self._writer_conn.close()
                    self._writer_conn = None
        while self._thread_conns:
            self._thread_conns.pop().close()
        self._local = threading.local()
        self.reader.dispose()
        if self.writer is not self.reader:
            self.writer.dispose()


def alembic_config(url: str | None = None) -> Config:
    """An alembic Config pointing at the project's migrations, independent of the working directory."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if url:
        cfg.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    return cfg


def head_revision() -> str:
    """The newest migration's revision id."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(store: Store) -> str | None:
    """The revision the database is at, or None if it was never migrated."""
    with store.reader.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def migrate(store: Store, revision: str = "head") -> None:
    """Bring the schema up to ``revision`` in one transaction (on SQLite too)."""
    from alembic import command

    cfg = alembic_config()
    with store.write() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


class SchemaNotReady(RuntimeError):
    """The database is unmigrated or behind the code."""


def require_schema_at_head(store: Store) -> None:
    """Refuse to go on with an unmigrated or older database, saying which command fixes it."""
    current, head = current_revision(store), head_revision()
    if current != head:
        state = "has never been migrated" if current is None else f"is at revision {current}, the code needs {head}"
        raise SchemaNotReady(f"the database {safe_url(store.url)} {state}: run `closeloop migrate` first")


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

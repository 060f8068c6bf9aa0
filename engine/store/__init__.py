"""The store layer: everything between the engine and the database file or server.

- core: the Store of one process (its engines, the one way to open a write transaction, the executors)
- sqlite, walsync, lockwait: SQLite's connections and checkpoints, group commit, waiting for the write lock
- pgping: PostgreSQL's idle-connection check
- fastpath, bulk, write_behind: statements prebuilt on the driver's cursor, bulk rows, bulk writes on a thread
- commit_hooks, unavailable: work run after a commit, and the database being unreachable told apart
- revisions, migrate: the schema's revision and its migrations
"""
from engine.store.core import Store, WriteBusy, normalize_url, safe_url, sqlite_path

__all__ = ["Store", "WriteBusy", "normalize_url", "safe_url", "sqlite_path"]

"""Which database errors mean "the database cannot serve now" (answer 503, retry later), not a defect (500).

PostgreSQL stopped, restarting or unreachable; a pool with no free connection; a SQLite file on a full disk,
made read-only, or failing I/O. Each leaves nothing half-written: the transaction that met it rolls back
(SQLite and PostgreSQL guarantee it), so the client may simply retry. Anything else (a constraint, a bad
statement) is a defect and stays a 500 with its trace in the log.
"""
from __future__ import annotations

import sqlite3

import sqlalchemy as sa

# SQLite's primary result codes (the low byte of the extended code) for conditions outside the request.
_SQLITE_REASONS = {
    sqlite3.SQLITE_FULL: "the database's disk is full",
    sqlite3.SQLITE_READONLY: "the database file is read-only",
    sqlite3.SQLITE_IOERR: "the database file cannot be read or written (I/O error)",
    sqlite3.SQLITE_CANTOPEN: "the database file cannot be opened",
    sqlite3.SQLITE_BUSY: "the database is busy with another writer",
    sqlite3.SQLITE_LOCKED: "the database is locked",
    sqlite3.SQLITE_PROTOCOL: "the database's lock protocol failed; retry",
}
# PostgreSQL SQLSTATE classes: 08 connection exceptions, 40 transaction rollback (a deadlock or a
# serialization failure: PostgreSQL chose this transaction to undo), 53 insufficient resources, 57 operator
# intervention (shutdown, crash recovery, "cannot connect now"), 55P03 lock not available.
_PG_CLASSES = {"08": "the database is unreachable",
               "40": "the database undid this request to resolve a conflict with a concurrent one",
               "53": "the database is out of resources", "57": "the database is shutting down or starting up"}


def unavailable(exc: BaseException) -> str | None:
    """Why the database cannot serve now, if that is what ``exc`` means; else None."""
    if isinstance(exc, sa.exc.TimeoutError):
        return "every database connection is in use"
    original = getattr(exc, "orig", None) or exc
    if isinstance(original, sqlite3.Error):
        return _SQLITE_REASONS.get(getattr(original, "sqlite_errorcode", 0) & 0xFF)
    sqlstate = getattr(original, "sqlstate", None)
    if sqlstate:
        if sqlstate == "55P03":
            return "the database is busy with another writer"
        return _PG_CLASSES.get(sqlstate[:2])
    if type(original).__module__.startswith("psycopg") and type(original).__name__ in (
            "OperationalError", "InterfaceError"):
        return "the database is unreachable"  # a refused or dropped connection carries no SQLSTATE
    if isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated:
        return "the connection to the database was lost"
    return None

"""Which database errors answer 503 (retry later) and which stay defects (500)."""
from __future__ import annotations

import sqlite3

import psycopg
import pytest
import sqlalchemy as sa

from engine.store.unavailable import unavailable


class Coded(psycopg.errors.Error):
    """A driver error carrying a SQLSTATE, as psycopg raises them."""

    def __init__(self, sqlstate: str) -> None:
        self._state = sqlstate
        super().__init__("x")

    @property
    def sqlstate(self) -> str:
        return self._state


def _sqlite(code: int) -> sqlite3.OperationalError:
    error = sqlite3.OperationalError("x")
    error.sqlite_errorcode = code
    return error


@pytest.mark.parametrize("error, reason", [
    (Coded("40P01"), "conflict"), (Coded("40001"), "conflict"), (Coded("57P01"), "shutting down"),
    (Coded("08006"), "unreachable"), (Coded("53300"), "resources"), (Coded("55P03"), "busy"),
    (_sqlite(sqlite3.SQLITE_FULL), "full"), (_sqlite(sqlite3.SQLITE_READONLY | (1 << 8)), "read-only"),
    (_sqlite(sqlite3.SQLITE_IOERR_FSYNC if hasattr(sqlite3, "SQLITE_IOERR_FSYNC") else sqlite3.SQLITE_IOERR), "I/O"),
])
def test_a_database_that_cannot_serve_now_is_named_straight_from_the_driver_or_wrapped(error, reason):
    assert reason in unavailable(error)  # engine.store.fastpath raises the driver's own error
    assert reason in unavailable(sa.exc.OperationalError("SELECT 1", {}, error))  # SQLAlchemy wraps it


def test_a_pool_with_no_free_connection_is_named():
    assert "in use" in unavailable(sa.exc.TimeoutError())


@pytest.mark.parametrize("error", [Coded("23505"), Coded("42P01"), _sqlite(sqlite3.SQLITE_CONSTRAINT),
                                   _sqlite(sqlite3.SQLITE_ERROR), ValueError("x")])
def test_a_defect_is_not_called_unavailability(error):
    assert unavailable(error) is None

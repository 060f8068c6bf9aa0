"""Prebuilt statements compiled once per dialect and run on the DBAPI cursor: the transition hot path.

SQLAlchemy builds the SQL (so it stays portable and tied to the table definitions), but executing through
its Connection costs ~50 us a statement here, five times the statement itself. The few statements on the
transition path are therefore compiled once and run on the driver's cursor inside the caller's
transaction, with the same value conversions the column types do (UTC-naive datetimes, ISO dates).
"""
from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from engine.clock import UTC
from engine.models import Item, UTCDateTime

_DATETIME_COLUMNS = frozenset(c.name for c in Item.__table__.columns if isinstance(c.type, UTCDateTime))
_DATE_COLUMNS = frozenset(c.name for c in Item.__table__.columns if isinstance(c.type, sa.Date))


_PLAIN = frozenset({str, int, type(None), bool, bytes})


def _to_sqlite(value: Any) -> Any:
    kind = type(value)
    if kind in _PLAIN:  # most values: nothing to convert
        return value
    if kind is dt.datetime:
        # The text form SQLAlchemy's SQLite DateTime type writes: naive UTC, microseconds.
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
    if kind is dt.date:
        return value.isoformat()
    return value


def _to_postgres(value: Any) -> Any:
    if type(value) is dt.datetime:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def _sqlite_datetime(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value).replace(tzinfo=UTC)


def _postgres_datetime(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=UTC)


def _readers(names: list[str], sqlite: bool) -> list[tuple[int, Any]]:
    """(position, converter) for the result columns that need converting on this dialect."""
    out = []
    for position, name in enumerate(names):
        if name in _DATETIME_COLUMNS:
            out.append((position, _sqlite_datetime if sqlite else _postgres_datetime))
        elif name in _DATE_COLUMNS and sqlite:
            out.append((position, dt.date.fromisoformat))
    return out


class Prebuilt:
    """One Core statement, compiled lazily once per dialect, executed on the raw cursor."""

    def __init__(self, statement: sa.Executable, column_keys: list[str] | None = None) -> None:
        self.statement = statement
        self.column_keys = column_keys
        self._compiled: dict[str, tuple[str, tuple[str, ...] | None]] = {}
        self._columns: dict[str, tuple[list[str], list[tuple[int, Any]]]] = {}

    def _sql(self, dialect: sa.Dialect) -> tuple[str, tuple[str, ...] | None]:
        cached = self._compiled.get(dialect.name)
        if cached is None:
            compiled = self.statement.compile(dialect=dialect, column_keys=self.column_keys)
            positions = tuple(compiled.positiontup) if compiled.positional else None
            cached = self._compiled[dialect.name] = (str(compiled), positions)
        return cached

    def execute(self, conn: sa.Connection, params: dict) -> Any:
        """Run with ``params`` (Python values) in ``conn``'s transaction; return the DBAPI cursor."""
        sql, positions = self._sql(conn.dialect)
        driver = conn.connection.driver_connection
        if positions is not None:  # SQLite's qmark style
            return driver.execute(sql, [_to_sqlite(params[name]) for name in positions])
        cursor = driver.cursor()
        cursor.execute(sql, {k: _to_postgres(v) for k, v in params.items()})
        return cursor

    def first(self, conn: sa.Connection, params: dict) -> dict | None:
        """The first row as a dict of Python values, or None."""
        cursor = self.execute(conn, params)
        row = cursor.fetchone()
        if row is None:
            return None
        columns = self._columns.get(conn.dialect.name)
        if columns is None:
            names = [d[0] for d in cursor.description]
            columns = self._columns[conn.dialect.name] = (names, _readers(names, conn.dialect.name == "sqlite"))
        names, readers = columns
        values = list(row)
        for position, convert in readers:
            if values[position] is not None:
                values[position] = convert(values[position])
        return dict(zip(names, values))

    def executemany(self, conn: sa.Connection, rows: list[dict]) -> None:
        """Run once per row of ``rows`` in ``conn``'s transaction (bulk writes: the sweep's notices)."""
        if not rows:
            return
        sql, positions = self._sql(conn.dialect)
        driver = conn.connection.driver_connection
        if positions is not None:
            driver.executemany(sql, [[_to_sqlite(row[name]) for name in positions] for row in rows])
            return
        with driver.cursor() as cursor:
            cursor.executemany(sql, [{k: _to_postgres(v) for k, v in row.items()} for row in rows])

    def rowcount(self, conn: sa.Connection, params: dict) -> int:
        """Run a write and return how many rows it touched."""
        return self.execute(conn, params).rowcount

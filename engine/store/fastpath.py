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
from engine.models import UTCDateTime

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


def _readers(types: list[sa.types.TypeEngine], sqlite: bool) -> list[tuple[int, Any]]:
    """(position, converter) for the result columns whose driver value is not what their type hands back."""
    out = []
    for position, kind in enumerate(types):
        if isinstance(kind, UTCDateTime):
            out.append((position, _sqlite_datetime if sqlite else _postgres_datetime))
        elif sqlite and isinstance(kind, sa.Date):  # SQLite keeps dates as text
            out.append((position, dt.date.fromisoformat))
        elif sqlite and isinstance(kind, sa.Boolean):  # and truth as 0 or 1
            out.append((position, bool))
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
        """Run with ``params`` (Python values) in ``conn``'s transaction; return the DBAPI cursor, for the caller
        to read and close (``run``, ``first``, ``rows`` and ``rowcount`` close theirs)."""
        sql, positions = self._sql(conn.dialect)
        driver = conn.connection.driver_connection
        if positions is not None:  # SQLite's qmark style
            return driver.execute(sql, [_to_sqlite(params[name]) for name in positions])
        cursor = driver.cursor()
        cursor.execute(sql, {k: _to_postgres(v) for k, v in params.items()})
        return cursor

    def run(self, conn: sa.Connection, params: dict) -> None:
        """Run a statement whose result is not needed (an insert) and close its cursor."""
        self.execute(conn, params).close()

    def rows(self, conn: sa.Connection, params: dict) -> list[tuple]:
        """Every row as the driver gives it (plain values: no conversion), the cursor closed."""
        cursor = self.execute(conn, params)
        try:
            return cursor.fetchall()
        finally:
            cursor.close()

    def first(self, conn: sa.Connection, params: dict) -> dict | None:
        """The first row as a dict of Python values, or None."""
        cursor = self.execute(conn, params)
        try:
            row = cursor.fetchone()
            if row is None:
                return None
            columns = self._columns.get(conn.dialect.name)
            if columns is None:
                names = [d[0] for d in cursor.description]
                # The statement's own column types, in the order the row has them (a Select's or a RETURNING's).
                types = [c.type for c in self.statement.exported_columns]
                columns = self._columns[conn.dialect.name] = (names, _readers(types, conn.dialect.name == "sqlite"))
        finally:
            cursor.close()
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
        cursor = self.execute(conn, params)
        try:
            return cursor.rowcount
        finally:
            cursor.close()

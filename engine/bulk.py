"""Bulk writes of many rows on the driver's cursor, with values given once in the driver's own form.

The sweep writes tens of thousands of rows a minute at a province's scale. Through SQLAlchemy, or even
engine.fastpath's per-row conversion, most of the time goes into converting the same few values again
for every row (one ``now`` in every notice and outbox row). Here a caller converts each distinct value
once (:meth:`Rows.instant`, :meth:`Rows.day`, the same conversions the column types and engine.fastpath
do) and hands over plain tuples. Inserts that must skip rows already present go in one multi-row
``INSERT ... ON CONFLICT DO NOTHING RETURNING`` (SQLite >= 3.35 and PostgreSQL alike), so what was new
is known without reading the keys first.
"""
from __future__ import annotations

import datetime as dt
from typing import Any, Sequence

import sqlalchemy as sa

from engine.clock import rfc3339
from engine.fastpath import _postgres_datetime, _sqlite_datetime, _to_postgres, _to_sqlite

# Bound parameters in one statement, kept under PostgreSQL's 65,535 and any SQLite build's limit.
MAX_PARAMETERS = 30_000
# Rows in one multi-row statement: larger ones cost more to prepare than they save in round trips.
MAX_ROWS = 1_000


class Rows:
    """One connection's bulk statements and value conversions (SQLite or PostgreSQL)."""

    def __init__(self, conn: sa.Connection) -> None:
        self.sqlite = conn.dialect.name == "sqlite"
        self.driver = conn.connection.driver_connection
        self._mark = "?" if self.sqlite else "%s"
        self._quote = conn.dialect.identifier_preparer.quote
        self._sql: dict[tuple, str] = {}

    def instant(self, value: dt.datetime | None) -> Any:
        """An aware datetime as a UTC column stores it (naive UTC; text on SQLite)."""
        if value is None:
            return None
        return _to_sqlite(value) if self.sqlite else _to_postgres(value)

    def day(self, value: dt.date | None) -> Any:
        """A date as a Date column stores it (ISO text on SQLite)."""
        return value.isoformat() if self.sqlite and value is not None else value

    def read_instant(self, raw: Any) -> dt.datetime:
        """A UTC column's stored value as an aware datetime."""
        return _sqlite_datetime(raw) if self.sqlite else _postgres_datetime(raw)

    def read_rfc3339(self, raw: Any) -> str:
        """A UTC column's stored value in engine.clock.rfc3339's form."""
        if self.sqlite and len(raw) == 26 and raw[10] == " ":
            # The text the column type writes ('2026-03-02 01:00:00.000000') already holds every digit.
            return f"{raw[:10]}T{raw[11:]}Z"
        return rfc3339(self.read_instant(raw))

    def read_day(self, raw: Any) -> dt.date | None:
        """A Date column's stored value as a date."""
        return dt.date.fromisoformat(raw) if self.sqlite and raw is not None else raw

    def _columns(self, columns: Sequence[str]) -> str:
        return ", ".join(self._quote(c) for c in columns)

    def insert(self, table: sa.Table, columns: Sequence[str], rows: list[tuple]) -> None:
        """Insert ``rows`` (tuples in the order of ``columns``), one prepared statement for all."""
        if not rows:
            return
        key = ("insert", table.name, tuple(columns))
        sql = self._sql.get(key)
        if sql is None:
            sql = self._sql[key] = (f"INSERT INTO {self._quote(table.name)} ({self._columns(columns)}) "
                                    f"VALUES ({', '.join([self._mark] * len(columns))})")
        if self.sqlite:
            self.driver.executemany(sql, rows)
            return
        with self.driver.cursor() as cursor:
            cursor.executemany(sql, rows)

    def insert_new(self, table: sa.Table, columns: Sequence[str], rows: list[tuple], *, unique: str) -> dict[Any, int]:
        """Insert the rows whose ``unique`` column value is not taken yet; {that value: new id} for those.

        Rows already present (or repeated within ``rows``) are skipped, not errors: a second sweeper or a
        second look at the same item leaves the first copy as it was. The table's key is an integer ``id``.
        """
        if not rows:
            return {}
        if self.sqlite:
            return self._insert_new_sqlite(table, columns, rows, unique)
        per_statement = max(1, min(MAX_ROWS, MAX_PARAMETERS // len(columns)))
        out: dict[Any, int] = {}
        with self.driver.cursor() as cursor:
            for start in range(0, len(rows), per_statement):
                chunk = rows[start:start + per_statement]
                key = ("insert_new", table.name, tuple(columns), len(chunk), unique)
                sql = self._sql.get(key)
                if sql is None:
                    row = f"({', '.join([self._mark] * len(columns))})"
                    sql = self._sql[key] = (f"INSERT INTO {self._quote(table.name)} ({self._columns(columns)}) "
                                            f"VALUES {', '.join([row] * len(chunk))} ON CONFLICT "
                                            f"({self._quote(unique)}) DO NOTHING RETURNING {self._quote(unique)}, id")
                cursor.execute(sql, [value for row in chunk for value in row])
                out.update(cursor.fetchall())
        return out

    def _insert_new_sqlite(self, table: sa.Table, columns: Sequence[str], rows: list[tuple],
                           unique: str) -> dict[Any, int]:
        # SQLite's RETURNING over a multi-row VALUES costs a fifth more than the plain prepared insert. The one
        # writer holds the database's write lock for the whole transaction, so the ids above the largest
        # taken are ours to hand out, and what was inserted is read back by that id range.
        name = self._quote(table.name)
        (largest,) = self.driver.execute(f"SELECT COALESCE(MAX(id), 0) FROM {name}").fetchone()
        key = ("insert_new", table.name, tuple(columns), unique)
        sql = self._sql.get(key)
        if sql is None:
            sql = self._sql[key] = (f"INSERT INTO {name} (id, {self._columns(columns)}) "
                                    f"VALUES ({', '.join([self._mark] * (len(columns) + 1))}) "
                                    f"ON CONFLICT ({self._quote(unique)}) DO NOTHING")
        self.driver.executemany(sql, [(largest + n, *row) for n, row in enumerate(rows, 1)])
        return dict(self.driver.execute(f"SELECT {self._quote(unique)}, id FROM {name} WHERE id > ?", (largest,)))

    def update(self, table: sa.Table, set_columns: Sequence[str], where_column: str, rows: list[tuple]) -> None:
        """``UPDATE table SET set_columns... WHERE where_column = ?`` once per row: (new values..., key)."""
        if not rows:
            return
        key = ("update", table.name, tuple(set_columns), where_column)
        sql = self._sql.get(key)
        if sql is None:
            assignments = ", ".join(f"{self._quote(c)} = {self._mark}" for c in set_columns)
            sql = self._sql[key] = (f"UPDATE {self._quote(table.name)} SET {assignments} "
                                    f"WHERE {self._quote(where_column)} = {self._mark}")
        if self.sqlite:
            self.driver.executemany(sql, rows)
            return
        with self.driver.cursor() as cursor:
            cursor.executemany(sql, rows)

"""Bulk writes of many rows on the driver's cursor, with values given once in the driver's own form.

The sweep writes tens of thousands of rows a minute at a province's scale. Through SQLAlchemy, or even
engine.store.fastpath's per-row conversion, most of the time goes into converting the same few values again
for every row (one ``now`` in every notice and outbox row). Here a caller converts each distinct value
once (:meth:`Rows.instant`: the conversion of the column type and engine.store.fastpath)
and hands over plain tuples. Rows that must not be written twice go in with ``ON CONFLICT DO NOTHING``
(SQLite >= 3.24 and PostgreSQL alike) under ids drawn beforehand, so what was new is known without
reading the unique keys first. On SQLite one statement inserts many rows (a multi-row VALUES list, as
many rows as the build's limit on bound parameters allows, up to a few hundred); on PostgreSQL one
statement takes every row as column arrays.

Not a prepared statement run once per row on SQLite: a statement whose triggers write an FTS5 table (items:
the trigram index of ``q=``) opens a statement savepoint, and FTS5 writes its pending terms out as a new
segment at every savepoint. Row by row, each item became a segment of its own and the merges grew with the
index: importing 12,000 items in one transaction took 12 s, most of it in FTS5, against 1.5 s this way.
"""
from __future__ import annotations

import datetime as dt
import sqlite3
from itertools import chain
from typing import Any, Sequence

import sqlalchemy as sa

from engine.clock import rfc3339
from engine.store.fastpath import _postgres_datetime, _sqlite_datetime, _to_postgres, _to_sqlite

# Keys in one SQLite ``IN (...)`` list, well under any build's limit on bound parameters.
MAX_ROWS = 1_000
# Rows in one SQLite multi-row INSERT at most (fewer when the build's limit on bound parameters is lower).
SQLITE_ROWS_PER_INSERT = 500


class Rows:
    """The bulk statements and value conversions of one transaction on one connection (SQLite or PostgreSQL)."""

    def __init__(self, conn: sa.Connection) -> None:
        self.sqlite = conn.dialect.name == "sqlite"
        self.driver = conn.connection.driver_connection
        self._mark = "?" if self.sqlite else "%s"
        self._dialect = conn.dialect
        self._quote = conn.dialect.identifier_preparer.quote
        self._sql: dict[tuple, str] = {}
        self._drawn: dict[str, int] = {}  # the largest id new_ids handed out, by table

    def instant(self, value: dt.datetime | None) -> Any:
        """An aware datetime as a UTC column stores it (naive UTC; text on SQLite)."""
        if value is None:
            return None
        return _to_sqlite(value) if self.sqlite else _to_postgres(value)

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

    def _insert_sql(self, table: sa.Table, columns: Sequence[str], count: int = 1) -> str:
        """The statement inserting ``columns``: ``count`` rows' values on SQLite, on PostgreSQL
        one array per column unnested into rows: one statement and round trip, the arrays sent in binary (the
        text form is escaped element by element in Python, and a multi-row VALUES list is parsed in Python
        for every statement: each costs more than the insert itself)."""
        head = f"INSERT INTO {self._quote(table.name)} ({', '.join(self._quote(c) for c in columns)})"
        if self.sqlite:
            row = f"({', '.join('?' * len(columns))})"
            return f"{head} VALUES {', '.join([row] * count)}"
        types = [table.c[c].type.compile(dialect=self._dialect) for c in columns]
        return f"{head} SELECT * FROM unnest({', '.join(f'%b::{t}[]' for t in types)})"

    def _statement(self, table: sa.Table, columns: Sequence[str], tail: str = "", count: int = 1) -> str:
        key = (table.name, tuple(columns), tail, count)
        return self._sql.get(key) or self._sql.setdefault(key, f"{self._insert_sql(table, columns, count)}{tail}")

    def _sqlite_insert(self, table: sa.Table, columns: Sequence[str], rows: list[tuple], tail: str = "") -> None:
        """Insert ``rows`` on SQLite in multi-row statements (see the module's docstring for why)."""
        limit = self.driver.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        per = max(1, min(SQLITE_ROWS_PER_INSERT, limit // len(columns)))
        for start in range(0, len(rows), per):
            chunk = rows[start:start + per]
            self.driver.execute(self._statement(table, columns, tail, len(chunk)), list(chain.from_iterable(chunk)))

    def insert(self, table: sa.Table, columns: Sequence[str], rows: list[tuple]) -> None:
        """Insert ``rows`` (tuples in the order of ``columns``)."""
        if not rows:
            return
        if self.sqlite:
            self._sqlite_insert(table, columns, rows)
            return
        with self.driver.cursor() as cursor:
            cursor.execute(self._statement(table, columns), [list(column) for column in zip(*rows)])

    def new_ids(self, table: sa.Table, count: int) -> list[int]:
        """``count`` ids of ``table``'s integer ``id`` never used nor drawn before, ascending, for rows this
        transaction inserts.

        SQLite: those above the largest, ours because this transaction holds the one write lock until it
        ends. PostgreSQL: drawn from the column's sequence, as an INSERT would draw them.
        """
        if count <= 0:
            return []
        if self.sqlite:
            (largest,) = self.driver.execute(f"SELECT COALESCE(MAX(id), 0) FROM {self._quote(table.name)}").fetchone()
            # Above those drawn before too: a drawn id whose row was skipped (ON CONFLICT) is not free again.
            largest = max(largest, self._drawn.get(table.name, 0))
            self._drawn[table.name] = largest + count
            return list(range(largest + 1, largest + count + 1))
        with self.driver.cursor() as cursor:
            cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                           (table.name, count))
            return sorted(row[0] for row in cursor.fetchall())

    def insert_new(self, table: sa.Table, columns: Sequence[str], rows: list[tuple], *, unique: str) -> set[int]:
        """Insert the rows whose ``unique`` column value is not taken yet; the ids of those inserted.

        ``columns`` starts with ``id`` and each row with an id from :meth:`new_ids`. Rows whose value is
        already there (or repeated within ``rows``) are skipped, not errors: a second look at the same
        item leaves the first copy as it was.
        """
        if not rows:
            return set()
        conflict = f" ON CONFLICT ({self._quote(unique)}) DO NOTHING"
        if not self.sqlite:
            with self.driver.cursor() as cursor:
                cursor.execute(self._statement(table, columns, f"{conflict} RETURNING id"),
                               [list(column) for column in zip(*rows)])
                return {row[0] for row in cursor.fetchall()}
        before = self.driver.total_changes
        self._sqlite_insert(table, columns, rows, conflict)
        ids = {row[0] for row in rows}
        if self.driver.total_changes - before == len(rows):
            return ids  # all new: the usual case, nothing to read back
        # The ids were unused when drawn: whichever of them exists now was inserted by this transaction.
        found = self.driver.execute(f"SELECT id FROM {self._quote(table.name)} WHERE id BETWEEN ? AND ?",
                                    (min(ids), max(ids)))
        return ids & {row[0] for row in found}

    def set_values(self, table: sa.Table, column: str, where: str, pairs: list[tuple]) -> None:
        """``UPDATE table SET column = value WHERE where = key`` for each (value, key) of ``pairs``.

        Keys sharing a value go in one statement (``IN`` on SQLite, ``= ANY`` on PostgreSQL): the items a
        sweep reschedules mostly share their next time.
        """
        by_value: dict[Any, list] = {}
        for value, key in pairs:
            by_value.setdefault(value, []).append(key)
        target = f"UPDATE {self._quote(table.name)} SET {self._quote(column)} = {self._mark} WHERE {self._quote(where)}"
        if not self.sqlite:
            with self.driver.cursor() as cursor:
                for value, keys in by_value.items():
                    cursor.execute(f"{target} = ANY(%s)", (value, keys))
            return
        for value, keys in by_value.items():
            for start in range(0, len(keys), MAX_ROWS):
                chunk = keys[start:start + MAX_ROWS]
                self.driver.execute(f"{target} IN ({', '.join('?' * len(chunk))})", (value, *chunk))

    def set_where_null(self, table: sa.Table, column: str, value: Any, ids: list[int]) -> set[int]:
        """Set ``column`` to ``value`` (in the driver's form, see :meth:`instant`) on the rows of ``ids`` where
        it is still NULL; the ids of the rows this call changed (those another transaction set are left)."""
        target = (f"UPDATE {self._quote(table.name)} SET {self._quote(column)} = {self._mark} "
                  f"WHERE {self._quote(column)} IS NULL AND id")
        if not self.sqlite:
            with self.driver.cursor() as cursor:
                cursor.execute(f"{target} = ANY(%s) RETURNING id", (value, ids))
                return {row[0] for row in cursor.fetchall()}
        changed: set[int] = set()
        for start in range(0, len(ids), MAX_ROWS):
            chunk = ids[start:start + MAX_ROWS]
            found = self.driver.execute(f"{target} IN ({', '.join('?' * len(chunk))}) RETURNING id", (value, *chunk))
            changed.update(row[0] for row in found)
        return changed


"""report_counts: a count of the items whose time to close is known, the divisor of the mean days to close

A ledger brings closed items in registered at the import (created_at) and closed at noon of their 销号日期
(closed_at): closed before they were registered here. What they took to close is not known here. Migration 0017
counted them 0 days, but still as closed items in the mean, so an office that imported 1,000 closed items and
then closed 10 in 20 days each saw avg_days_to_close 0.2 instead of 20. They still count as closed, in the
closure and on-time rates alike; only the mean leaves them out.

report_counts gains ``timed``: the final items of a row that closed after they were registered (closed_at >
created_at; one imported closed with no 销号日期 is closed at the import itself, not after it), added and taken away by
the triggers as the other figures are; the report divides the days by it (engine.reports.summary). The index the
report sums from (migration 0014) holds every figure, so it is made again with this one too. The triggers are
0017's (0013's with the days clamped at 0), read from there and changed here in three places: the column list, the
new figure's value after the days, and its sum on conflict.

The kept counts were filled without the new figure: as 0017 does, the zone's row is emptied, so the runtime fills
them again when it next opens the database (engine.reports.kept.ensure) and the report counts live until then.
Until then the triggers add nothing.

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-30
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def _load(file: str):
    """An earlier migration's module, for the SQL and columns it wrote (written once, read from there)."""
    spec = importlib.util.spec_from_file_location(f"_report_counts_{file[:4]}", Path(__file__).with_name(file))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_m0014 = _load("0014_report_counts_by_group.py")
_m0017 = _load("0017_days_to_close_not_negative.py")
_m0013 = _m0017._m0013

_INDEX = "ix_report_counts_by_group"
_ROWS = {"sqlite": (("new", "1"), ("old", "-1")), "postgresql": (("r", "sign"),)}
_TIMED = {"sqlite": "{sign} * ({row}.closed_at > {row}.created_at)",
          "postgresql": "sign * (r.closed_at > r.created_at)::integer"}
_COLUMNS = f"({_m0013._KEY}, {', '.join(_m0013.FIGURES)})"
_SUM_DAYS = "days = report_counts.days + excluded.days"


def _with_timed(statement: str, dialect: str) -> str:
    """One of 0017's statements, its every addition to report_counts counting ``timed`` too."""
    added = 0
    for row, sign in _ROWS[dialect]:
        days = _m0017._DAYS[dialect][1].format(row=row, sign=sign)
        if days in statement:
            statement = statement.replace(days, f"{days},\n               {_TIMED[dialect].format(row=row, sign=sign)}")
            added += 1
    # Each addition names the figures once and sums them once on conflict: as many as the days changed above.
    assert statement.count(_COLUMNS) == statement.count(_SUM_DAYS) == added, \
        "migration 0017's SQL is not what this migration changes"
    return (statement.replace(_COLUMNS, f"{_COLUMNS[:-1]}, timed)")
            .replace(_SUM_DAYS, f"{_SUM_DAYS}, timed = report_counts.timed + excluded.timed"))


def _drop_sqlite_triggers() -> None:
    # SQLite has no CREATE OR REPLACE TRIGGER; and a table a trigger names cannot be rebuilt under it (batch mode).
    for trigger in _m0017._TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}")


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        _drop_sqlite_triggers()
    op.drop_index(_INDEX, table_name="report_counts")
    # The rows found hold 0 until they are counted again (below); SQLite adds no NOT NULL column without a default.
    with op.batch_alter_table("report_counts") as batch:
        batch.add_column(sa.Column("timed", sa.Integer(), nullable=False, server_default="0"))
    op.create_index(_INDEX, "report_counts", [*_m0014.COLUMNS, "timed"])
    for statement in _m0017._statements(dialect, clamped=True):
        op.execute(_with_timed(statement, dialect))
    # Counted without the new figure: filled again, in the runtime's zone, when it next opens the database.
    op.execute("UPDATE report_counts_zone SET tz = NULL WHERE id = 1")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _drop_sqlite_triggers()
    op.drop_index(_INDEX, table_name="report_counts")
    with op.batch_alter_table("report_counts") as batch:
        batch.drop_column("timed")
    op.create_index(_INDEX, "report_counts", _m0014.COLUMNS)
    _m0017._remake(clamped=True)  # 0017's triggers, and the zone's row emptied: counted again at the next open

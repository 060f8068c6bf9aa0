"""report_counts: an item's days to close are never negative, so an item imported already closed adds none

A ledger brings closed items in with their 销号日期 (closed_at, at noon of that day), registered at the import:
closed_at before created_at, by up to years. Their days from registration to closing were counted as they came,
negative, and the summary report's avg_days_to_close fell below zero (-257.88 for two items closed in 2025 and
imported in 2026). What they took to close is not known here; they count as closed the moment they were
registered (0 days), as the live count does too (engine.reports.population.days_between).

The triggers of migration 0013 are made again with the days clamped at 0. The kept counts were reckoned with
the old ones: the zone's row is emptied, so the runtime fills them again when it next opens the database
(engine.reports.kept.ensure), as after a change of zone. Until then the triggers add nothing.

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-29
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

from alembic import op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None

# The triggers' SQL is migration 0013's, with one expression changed: written once, read from there.
_spec = importlib.util.spec_from_file_location("_report_counts_0013", Path(__file__).with_name("0013_report_counts.py"))
_m0013 = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_m0013)

_DAYS = {"sqlite": ("{sign} * (julianday({row}.closed_at) - julianday({row}.created_at))",
                    "{sign} * max(0, julianday({row}.closed_at) - julianday({row}.created_at))"),
         "postgresql": ("sign * extract(epoch FROM r.closed_at - r.created_at) / 86400.0",
                        "sign * greatest(0, extract(epoch FROM r.closed_at - r.created_at) / 86400.0)")}
_TRIGGERS = ("report_counts_insert", "report_counts_update", "report_counts_delete")


def _statements(dialect: str, clamped: bool) -> list[str]:
    """0013's trigger statements for ``dialect``, their days clamped at 0 or not."""
    old, new = _DAYS[dialect]
    if dialect == "sqlite":
        made = {(row, sign): _m0013._sqlite_add(row, sign) for row, sign in (("new", "1"), ("old", "-1"))}
        statements = list(_m0013.SQLITE)
        for (row, sign), text in made.items():
            plain = old.format(row=row, sign=sign)
            assert plain in text, "migration 0013's SQL is not what this migration changes"
            changed = text.replace(plain, new.format(row=row, sign=sign)) if clamped else text
            statements = [s.replace(text, changed) for s in statements]
        return statements
    assert old in _m0013.POSTGRES[0], "migration 0013's SQL is not what this migration changes"
    function = _m0013.POSTGRES[0].replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)
    return [function.replace(old, new) if clamped else function]


def _remake(clamped: bool) -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":  # SQLite has no CREATE OR REPLACE TRIGGER
        for trigger in _TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    for statement in _statements(dialect, clamped):
        op.execute(statement)
    # Counted with the other days: filled again, in the runtime's zone, when it next opens the database.
    op.execute("UPDATE report_counts_zone SET tz = NULL WHERE id = 1")


def upgrade() -> None:
    _remake(clamped=True)


def downgrade() -> None:
    _remake(clamped=False)

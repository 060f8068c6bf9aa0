"""unit codes unique regardless of case

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Codes that differ only in case cannot be merged automatically (items, users and paths refer to them):
    # say which ones clash and let an operator rename them, rather than fail inside CREATE INDEX.
    clashes = op.get_bind().execute(sa.text(
        "SELECT lower(code) AS folded, COUNT(*) FROM units GROUP BY lower(code) HAVING COUNT(*) > 1")).all()
    if clashes:
        raise RuntimeError("unit codes that differ only in case must be renamed before this migration: "
                           + ", ".join(row.folded for row in clashes))
    # Codes are ASCII (engine.accounts.CODE), so SQLite's ASCII-only lower() folds them like PostgreSQL's.
    op.create_index('uq_units_code_nocase', 'units', [sa.text('lower(code)')], unique=True)


def downgrade() -> None:
    op.drop_index('uq_units_code_nocase', table_name='units')

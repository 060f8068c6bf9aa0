"""admin log: the administrators' own hash-chained, append-only log

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

# Append-only like history (engine/audit/append_only.py lists both): the database itself refuses a change, so
# rewriting the log needs a deliberate DROP TRIGGER first, and the chain check and checkpoints find the change.
_SQLITE_TRIGGERS = [
    """CREATE TRIGGER admin_log_no_update BEFORE UPDATE ON admin_log
       BEGIN SELECT RAISE(ABORT, 'admin_log is append-only'); END""",
    """CREATE TRIGGER admin_log_no_delete BEFORE DELETE ON admin_log
       BEGIN SELECT RAISE(ABORT, 'admin_log is append-only'); END""",
]
_PG_TRIGGERS = [
    """CREATE FUNCTION admin_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN RAISE EXCEPTION 'admin_log is append-only'; END $$""",
    """CREATE TRIGGER admin_log_no_change BEFORE UPDATE OR DELETE ON admin_log
       FOR EACH ROW EXECUTE FUNCTION admin_log_append_only()""",
    """CREATE TRIGGER admin_log_no_truncate BEFORE TRUNCATE ON admin_log
       FOR EACH STATEMENT EXECUTE FUNCTION admin_log_append_only()""",
]


def upgrade() -> None:
    op.create_table('admin_log',
    sa.Column('seq', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('at', sa.String(length=32), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('target', sa.String(length=300), nullable=False),
    sa.Column('before', sa.Text(), nullable=True),
    sa.Column('after', sa.Text(), nullable=True),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('seq')
    )
    for statement in _PG_TRIGGERS if op.get_bind().dialect.name == "postgresql" else _SQLITE_TRIGGERS:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS admin_log_no_truncate ON admin_log")
        op.execute("DROP TRIGGER IF EXISTS admin_log_no_change ON admin_log")
        op.execute("DROP FUNCTION IF EXISTS admin_log_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS admin_log_no_update")
        op.execute("DROP TRIGGER IF EXISTS admin_log_no_delete")
    op.drop_table('admin_log')

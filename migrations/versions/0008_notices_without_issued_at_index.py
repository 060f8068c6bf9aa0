"""notices: drop the index on issued_at, which no query reads (an item's notices are found by item_id)

Every notice the sweep writes paid for one more B-tree insert for it: ~40,000 a sweep of 10,000 overdue
items. The item's notices are read through ix_notices_item_id and sorted by issued_at among themselves;
the inbox goes through notice_recipients' own index and joins notices by id.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27
"""
from __future__ import annotations

from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index('ix_notices_issued_at', table_name='notices')


def downgrade() -> None:
    op.create_index('ix_notices_issued_at', 'notices', ['issued_at'], unique=False)

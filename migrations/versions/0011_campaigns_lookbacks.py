"""campaigns and look-backs: registered campaigns (专项整治 rounds), look-back draws, their samples and re-checks

Items keep naming their campaign by code (items.campaign, no foreign key): an office may register items of a
round before the round itself is entered. The three look-back tables are append-only (engine/audit/append_only.py).

Revision ID: 0011
Revises: 0008
Create Date: 2026-11-27
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('campaigns',
    sa.Column('code', sa.String(length=100), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('issued_by', sa.String(length=200), nullable=False),
    sa.Column('issued_on', sa.Date(), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('code')
    )
    op.create_table('lookbacks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('seed', sa.String(length=64), nullable=False),
    sa.Column('size', sa.Integer(), nullable=True),
    sa.Column('percent', sa.Integer(), nullable=True),
    sa.Column('unit', sa.String(length=64), nullable=True),
    sa.Column('campaign', sa.String(length=100), nullable=True),
    sa.Column('population', sa.Integer(), nullable=False),
    sa.Column('population_digest', sa.String(length=64), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('lookback_items',
    sa.Column('lookback_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('position', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('item_id', sa.String(length=36), nullable=False),
    sa.ForeignKeyConstraint(['item_id'], ['items.id'], ),
    sa.ForeignKeyConstraint(['lookback_id'], ['lookbacks.id'], ),
    sa.PrimaryKeyConstraint('lookback_id', 'position')
    )
    op.create_table('lookback_checks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('lookback_id', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.String(length=36), nullable=False),
    sa.Column('result', sa.String(length=16), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('checked_by', sa.String(length=64), nullable=False),
    sa.Column('checked_at', sa.DateTime(), nullable=False),
    sa.Column('history_seq', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['item_id'], ['items.id'], ),
    sa.ForeignKeyConstraint(['lookback_id'], ['lookbacks.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('lookback_id', 'item_id', name='uq_lookback_checks_item')
    )
    op.create_index('ix_lookback_checks_lookback_id', 'lookback_checks', ['lookback_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_lookback_checks_lookback_id', table_name='lookback_checks')
    op.drop_table('lookback_checks')
    op.drop_table('lookback_items')
    op.drop_table('lookbacks')
    op.drop_table('campaigns')

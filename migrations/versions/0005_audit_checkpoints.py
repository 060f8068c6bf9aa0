"""audit checkpoints: signing keys, signed checkpoints, the chain heads they covered

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_keys',
    sa.Column('key_id', sa.String(length=64), nullable=False),
    sa.Column('algorithm', sa.String(length=16), nullable=False),
    sa.Column('public_key', sa.String(length=128), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('key_id')
    )
    op.create_table('audit_checkpoints',
    sa.Column('number', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.Column('key_id', sa.String(length=64), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('signature', sa.String(length=128), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['key_id'], ['audit_keys.key_id'], ),
    sa.PrimaryKeyConstraint('number'),
    sa.UniqueConstraint('hash')
    )
    op.create_table('audit_checkpoint_heads',
    sa.Column('checkpoint', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('item_id', sa.String(length=36), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('checkpoint', 'item_id')
    )
    op.create_index('ix_audit_checkpoint_heads_item', 'audit_checkpoint_heads', ['item_id', 'checkpoint'],
                    unique=False)


def downgrade() -> None:
    op.drop_index('ix_audit_checkpoint_heads_item', table_name='audit_checkpoint_heads')
    op.drop_table('audit_checkpoint_heads')
    op.drop_table('audit_checkpoints')
    op.drop_table('audit_keys')

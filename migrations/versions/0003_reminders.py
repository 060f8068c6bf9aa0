"""reminders: notices, inboxes, user e-mail, outbox batch

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('notices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('item_id', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('level', sa.String(length=16), nullable=True),
    sa.Column('rule', sa.String(length=100), nullable=False),
    sa.Column('state', sa.String(length=64), nullable=False),
    sa.Column('deadline', sa.Date(), nullable=False),
    sa.Column('due_at', sa.DateTime(), nullable=False),
    sa.Column('issued_at', sa.DateTime(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('recipients', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['item_id'], ['items.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key')
    )
    op.create_index('ix_notices_issued_at', 'notices', ['issued_at'], unique=False)
    op.create_index('ix_notices_item_id', 'notices', ['item_id'], unique=False)
    op.create_table('notice_recipients',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('notice_id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('read_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['notice_id'], ['notices.id'], ),
    sa.ForeignKeyConstraint(['username'], ['users.username'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('notice_id', 'username', name='uq_notice_recipient')
    )
    op.create_index('ix_notice_recipients_inbox', 'notice_recipients', ['username', 'read_at', 'notice_id'],
                    unique=False)
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('batch', sa.String(length=64), nullable=True))
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email', sa.String(length=254), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('email')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('batch')
    op.drop_index('ix_notice_recipients_inbox', table_name='notice_recipients')
    op.drop_table('notice_recipients')
    op.drop_index('ix_notices_item_id', table_name='notices')
    op.drop_index('ix_notices_issued_at', table_name='notices')
    op.drop_table('notices')

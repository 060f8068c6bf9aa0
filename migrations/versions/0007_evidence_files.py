"""evidence files: which item each stored (content-addressed) file was uploaded for, by whom, when

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('evidence_files',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.String(length=36), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('media_type', sa.String(length=127), nullable=False),
    sa.Column('uploaded_by', sa.String(length=64), nullable=False),
    sa.Column('uploaded_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['item_id'], ['items.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_evidence_files_item_sha', 'evidence_files', ['item_id', 'sha256'], unique=False)
    op.create_index('ix_evidence_files_sha', 'evidence_files', ['sha256'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_evidence_files_sha', table_name='evidence_files')
    op.drop_index('ix_evidence_files_item_sha', table_name='evidence_files')
    op.drop_table('evidence_files')

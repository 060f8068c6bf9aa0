"""items: room on each PostgreSQL page for the next version of its rows (fillfactor 80)

PostgreSQL writes an UPDATE as a new version of the row. When no indexed column changes and the row's page has
room, the new version stays on that page and no index is touched (a heap-only tuple, HOT). An item row has 19
indexes, four of them trigram GIN indexes over its texts, and most transitions (a progress report, a comment, an
extension request) change none of their columns. With the default fillfactor of 100 the pages were packed full
at insert, so every such transition wrote a new entry into all 19 indexes: in a copy of the benchmark's
1,000,000-item cluster, 0 of 5,447 progress reports were HOT and PostgreSQL spent 0.81 ms of CPU on each; with
80, all of them were, at 0.56 ms.

Only pages written from now on keep the room; an existing row's next version lands on such a page, so a busy
table converges by itself (`VACUUM FULL items` in a maintenance window rewrites it at once). SQLite rewrites a
row in place in its B-tree and has no such setting.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-28
"""
from __future__ import annotations

from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

FILLFACTOR = 80


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE items SET (fillfactor = {FILLFACTOR})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE items RESET (fillfactor)")

"""items_fts: how many items hold each common trigram, so that ``q=`` asks FTS5 for its rarer part first

A phrase query on SQLite's FTS5 trigram index reads the posting list of every trigram in the phrase. In an
office's texts some trigrams are in nearly every item: a year (``202``, ``026``), the number's prefix
(``zg-``), a report's brackets (``〔20``). A search for one inspection report's reference, 督查〔2026〕17号-3,
read the lists of a million items for those, 18-28 ms, to find the 631 that hold the whole phrase. Knowing how
many items hold each trigram, the search asks for the phrase's rarer part (``6〕17号-3``, a few thousand
entries: 2-3 ms), and the LIKE test on those candidates keeps the answer exactly what it was.

- ``items_fts_vocab``: FTS5's own view of the index's terms (``fts5vocab``, no storage of its own).
- ``search_terms``: each trigram in at least COMMON items and how many, copied from that view by a daily job
  (engine.listing.termstats) and read by every search. Statistics, like the planner's: when they are stale or
  missing a search is slower, never different.

PostgreSQL's pg_trgm indexes are weighed by its own planner: nothing is made there.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-29
"""
from __future__ import annotations

from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute("CREATE VIRTUAL TABLE items_fts_vocab USING fts5vocab(items_fts, row)")
    op.execute("CREATE TABLE search_terms (term TEXT PRIMARY KEY NOT NULL, items INTEGER NOT NULL) WITHOUT ROWID")


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute("DROP TABLE IF EXISTS search_terms")
    op.execute("DROP TABLE IF EXISTS items_fts_vocab")

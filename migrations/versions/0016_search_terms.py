"""search_terms: how many items hold each common trigram, so that ``q=`` asks the text index for its rarer part

A trigram index answers a substring by reading the posting list of every trigram in it. In an office's texts
some trigrams are in nearly every item: a year (``202``, ``026``), the number's prefix (``zg-``), a report's
brackets (``〔20``). A search for one inspection report's reference, 督查〔2026〕17号-3, read the lists of a
million items for those (SQLite's FTS5: 25-32 ms; PostgreSQL's pg_trgm index of external_ref: 21 ms) to find
the 631 items that hold it. Knowing how many items hold each trigram, the search asks the index for the text's
rarer part (engine.listing.termstats) and the LIKE test on those rows keeps the answer exactly what it was.

- ``search_terms``: each trigram in at least COMMON items and how many (and a row with the empty term: when they
  were counted, among how many items), written by a nightly job and read by every search. Statistics, like the
  planner's: when they are stale or missing a search is slower, never different.
- ``items_fts_vocab`` (SQLite): FTS5's own view of its index's terms (``fts5vocab``, no storage of its own), from
  which the counts are read exactly. PostgreSQL's are estimated from a sample of the items.

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
    if op.get_bind().dialect.name == "sqlite":
        op.execute("CREATE VIRTUAL TABLE items_fts_vocab USING fts5vocab(items_fts, row)")
        op.execute("CREATE TABLE search_terms (term TEXT PRIMARY KEY NOT NULL, items BIGINT NOT NULL) WITHOUT ROWID")
    else:
        op.execute("CREATE TABLE search_terms (term TEXT PRIMARY KEY, items BIGINT NOT NULL)")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS search_terms")
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS items_fts_vocab")

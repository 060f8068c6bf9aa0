"""The list's text search (``q=``): a substring of the title, description, number or external reference.

What matches is defined by the LIKE clauses alone (case-insensitive; engine.queries); the indexes of
migration 0009 only find the candidates faster, so both stores, and every path below, answer the same.
- SQLite: the FTS5 trigram table ``items_fts``. A query of 3 characters or more first asks it for the
  matching items (a substring query on trigrams; it folds case like LIKE does, and more), reading the posting
  lists of the query's rarer trigrams only when some are far commoner (engine.listing.termstats). When they are
  few, the list reads just those rows; when they are many, the LIKE scan along the ordering index finds a
  page's worth of them within a few thousand entries, which is faster than collecting every match. A query
  of 1 or 2 characters cannot use trigrams: it is always the LIKE scan (fast for a common word such as
  安全, as slow as a full scan for a rare one).
- PostgreSQL: the same ILIKE, served by pg_trgm GIN indexes on the four columns; the planner weighs them
  against the ordering index by its statistics. When the trigram counts show a rarer part of a long query,
  the indexes are asked for that part, and the whole query is tested on the rows they name (search_clauses).
"""
from __future__ import annotations

import re

import sqlalchemy as sa

from engine.listing import SEARCHED, termstats

# The items' own rowid (SQLite), which is the FTS5 table's rowid for the same item.
ROWID = sa.literal_column("items.rowid", sa.Integer)

FTS_TABLE = "items_fts"
# The FTS5 table and the shadow tables it keeps its index in (SQLite), and the GIN indexes (PostgreSQL):
# schema objects of migration 0009 that no model describes.
SEARCH_TABLES = frozenset({FTS_TABLE, *(f"{FTS_TABLE}_{part}" for part in ("data", "idx", "content", "docsize",
                                                                           "config", "vocab"))})
SEARCH_INDEXES = frozenset(f"ix_items_{column}_trgm" for column in SEARCHED)
# Trigrams: shorter queries cannot be looked up in the index.
MIN_INDEXED = 3
# At most this many candidates are read from the index; past it the LIKE scan along the order is used.
MAX_CANDIDATES = 2_000


def is_search_object(name: str | None, type_: str) -> bool:
    """Whether a schema object belongs to text search (for alembic's comparison, which must skip them)."""
    return (type_ == "table" and name in SEARCH_TABLES) or (type_ == "index" and name in SEARCH_INDEXES)


def include_object(obj, name, type_, reflected, compare_to) -> bool:  # noqa: ANN001 - alembic's hook signature
    """alembic's ``include_object``: everything but the text-search objects."""
    return not is_search_object(name, type_)


def like_escape(text: str) -> str:
    """``text`` as a LIKE pattern's literal part (escape character backslash)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def like_clause(items: sa.Table, q: str, *, indexed: bool = True) -> sa.ColumnElement:
    """Case-insensitive substring match of ``q`` on the searched columns: what ``q=`` means. Not ``indexed``: on
    expressions no index holds (a column joined to an empty text is the column, NULL stays NULL), so that
    PostgreSQL tests it on the rows other clauses found rather than reading an index for it too."""
    pattern = f"%{like_escape(q)}%"
    return sa.or_(*((items.c[column] if indexed else items.c[column] + sa.literal("")).ilike(pattern, escape="\\")
                    for column in SEARCHED))


# Characters pg_trgm takes as a word's in any UTF-8 database with a C.UTF-8 or language locale: ASCII letters
# and digits, and the CJK ideographs. (Python's isalnum also takes ①, ² and ½, which glibc does not.)
_WORD = re.compile(r"[0-9A-Za-z\u3400-\u4dbf\u4e00-\u9fff]{3}")


def _indexable(run: str) -> bool:
    """Whether pg_trgm surely finds a trigram in ``run``: three of its words' characters in a row."""
    return _WORD.search(run) is not None


def search_clauses(conn: sa.Connection, items: sa.Table, q: str) -> list[sa.ColumnElement]:
    """The list's clauses for ``q=``: like_clause; on PostgreSQL, when the trigram counts show a rarer part of a
    long query, that part's like_clause for the indexes to answer and the whole query tested on its rows."""
    if conn.dialect.name == "postgresql" and len(q) > MIN_INDEXED:
        runs = termstats.rarer_runs(q, termstats.counts(conn, q))
        if runs is not None and all(_indexable(run) for run in runs):
            return [*(like_clause(items, run) for run in runs), like_clause(items, q, indexed=False)]
    return [like_clause(items, q)]


def candidates(conn: sa.Connection, q: str) -> list[int] | None:
    """The rowids of the items whose searched text may hold ``q``, when the store has a text index to ask
    (SQLite's FTS5 table) and they are few; None when the LIKE scan along the list's order is the better way:
    ``q`` too short for trigrams, more than MAX_CANDIDATES items hold it, or PostgreSQL (whose planner
    weighs its trigram indexes itself)."""
    if conn.dialect.name != "sqlite" or len(q) < MIN_INDEXED:
        return None
    whole = termstats.phrase(q)
    query = termstats.fts_query(q, termstats.counts(conn, q)) if len(q) > MIN_INDEXED else whole
    rows = _matching(conn, query)
    if len(rows) > MAX_CANDIDATES and query != whole:  # its rarer part is in many items, the whole in fewer?
        rows = _matching(conn, whole)
    if len(rows) > MAX_CANDIDATES:
        return None
    return [row[0] for row in rows]


def _matching(conn: sa.Connection, query: str) -> list:
    return conn.exec_driver_sql(f"SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH ? LIMIT ?",
                                (query, MAX_CANDIDATES + 1)).all()

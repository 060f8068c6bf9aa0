"""SQLite: how many items hold each common trigram, and the FTS5 query that reads a search's rarer part.

An FTS5 phrase query reads the posting list of every trigram in the phrase, and in an office's texts some
trigrams are in nearly every item (a year's ``202``, the numbers' ``zg-``, a report's ``〔20``). Knowing from
``search_terms`` (migration 0016) how many items hold each trigram, a search asks FTS5 only for the runs of its
rarer trigrams, each run a phrase, all of them required. Every item holding the whole text holds each run, so
nothing is missed; the list's LIKE test on the candidates keeps the answer exactly what the whole phrase gives.
The counts are statistics, refreshed by a daily job (engine.jobs): stale or missing, a search is slower, never
different.
"""
from __future__ import annotations

import logging

import sqlalchemy as sa

from engine.store import Store

log = logging.getLogger("closeloop.search")

# A trigram held by fewer items is not recorded: its posting list is short enough to read whatever its count.
COMMON = 1_000
# The row that says the counts were made (no trigram is empty), with the number of items then.
COUNTED = ""
# The trigrams a search asks for: those held by at most this many times the items of its rarest one. Reading the
# posting lists of trigrams a few times commoner than the rarest costs little and narrows the candidates; a
# year's or a prefix's, a hundred times commoner, is what the whole phrase spends its time on.
RARER = 30


def phrase(text: str) -> str:
    """``text`` as one FTS5 phrase (a string in double quotes, its own quotes doubled): no query syntax."""
    return '"' + text.replace('"', '""') + '"'


def trigrams(q: str) -> list[str]:
    """The trigrams of ``q`` as the index holds them (case folded), in order."""
    return [q[i:i + 3].lower() for i in range(len(q) - 2)]


def fts_query(q: str, counts: dict[str, int]) -> str:
    """The FTS5 query for the items that may hold ``q`` (3 characters or more): the whole phrase, or, when
    ``counts`` (items a trigram; an absent one is in fewer than COMMON, taken as COMMON) shows some of its
    trigrams to be far commoner than the rest, each run of the rarer ones as a phrase, all of them required."""
    grams = trigrams(q)
    held = [counts.get(gram, COMMON) for gram in grams]
    most = RARER * min(held)
    kept = [count <= most for count in held]
    if all(kept):
        return phrase(q)
    runs, start = [], None
    for i, keep in enumerate([*kept, False]):
        if keep and start is None:
            start = i
        elif not keep and start is not None:
            runs.append(q[start:i + 2])  # trigrams start..i-1 cover the characters start..i+1
            start = None
    return " AND ".join(phrase(run) for run in runs)


def counts(conn: sa.Connection, q: str) -> dict[str, int]:
    """How many items hold each of ``q``'s common trigrams, as last counted (absent: fewer than COMMON)."""
    grams = sorted(set(trigrams(q)))
    marks = ", ".join("?" * len(grams))
    return dict(conn.exec_driver_sql(f"SELECT term, items FROM search_terms WHERE term IN ({marks})",
                                     tuple(grams)).all())


def refresh(store: Store) -> int:
    """Count again how many items hold each common trigram (SQLite: a read of the whole text index, then one
    short write; nothing on PostgreSQL); how many trigrams were recorded."""
    if not store.is_sqlite:
        return 0
    with store.read() as conn:
        rows = conn.exec_driver_sql("SELECT term, doc FROM items_fts_vocab WHERE doc >= ?", (COMMON,)).all()
        items = conn.exec_driver_sql("SELECT count(*) FROM items").scalar_one()
    with store.write() as conn:
        conn.exec_driver_sql("DELETE FROM search_terms")
        conn.exec_driver_sql("INSERT INTO search_terms (term, items) VALUES (?, ?)",
                             [(COUNTED, items), *(tuple(row) for row in rows)])
    log.info("text search statistics: %d common trigrams among %d items", len(rows), items)
    return len(rows)


def missing(store: Store) -> bool:
    """Whether the trigrams were never counted (SQLite), as on a first start."""
    if not store.is_sqlite:
        return False
    with store.read() as conn:
        return conn.exec_driver_sql("SELECT 1 FROM search_terms WHERE term = ?", (COUNTED,)).first() is None

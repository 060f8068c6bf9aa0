"""How many items hold each common trigram, and the rarer part of a search that the text index should read.

A trigram index answers a substring by reading the posting list of every trigram in it, and in an office's
texts some trigrams are in nearly every item (a year's ``202``, the numbers' ``zg-``, a report's ``〔20``).
Knowing from ``search_terms`` (migration 0016) how many items hold each trigram, a search asks the index only
for the runs of its rarer trigrams, each run a substring, all of them required (SQLite: an FTS5 query; PostgreSQL:
ILIKE clauses its pg_trgm indexes serve, engine.listing.textsearch). Every item holding the whole text holds
each run, so nothing is missed; the whole text's LIKE test on those rows keeps the answer exactly what it was.
The counts are statistics, refreshed by a nightly job (engine.jobs): stale or missing, a search is slower,
never different.
"""
from __future__ import annotations

import logging
from collections import Counter

import sqlalchemy as sa

from engine.listing import SEARCHED
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
# PostgreSQL: the items whose texts are counted (a sample of the table's pages), scaled up to the whole table.
SAMPLE = 20_000
# One count at a time on PostgreSQL, whichever process's job runs it (pg_advisory_xact_lock's key).
_LOCK_KEY = 0x5EA2C4


def phrase(text: str) -> str:
    """``text`` as one FTS5 phrase (a string in double quotes, its own quotes doubled): no query syntax."""
    return '"' + text.replace('"', '""') + '"'


def trigrams(q: str) -> list[str]:
    """The trigrams of ``q`` as the index holds them (case folded), in order."""
    return [q[i:i + 3].lower() for i in range(len(q) - 2)]


def rarer_runs(q: str, counts: dict[str, int]) -> list[str] | None:
    """The substrings of ``q`` (3 characters or more) to ask the index for: each run of its trigrams that
    ``counts`` (items a trigram; an absent one is in fewer than COMMON, taken as COMMON) shows to be far rarer
    than the rest; None when none is, and the whole of ``q`` is the thing to ask for."""
    held = [counts.get(gram, COMMON) for gram in trigrams(q)]
    most = RARER * min(held)
    kept = [count <= most for count in held]
    if all(kept):
        return None
    runs, start = [], None
    for i, keep in enumerate([*kept, False]):
        if keep and start is None:
            start = i
        elif not keep and start is not None:
            runs.append(q[start:i + 2])  # trigrams start..i-1 cover the characters start..i+1
            start = None
    return runs or None  # none kept (counts below zero): nothing narrower to ask


def fts_query(q: str, counts: dict[str, int]) -> str:
    """The FTS5 query for the items that may hold ``q``: the whole phrase, or its rarer runs all required."""
    runs = rarer_runs(q, counts)
    return phrase(q) if runs is None else " AND ".join(phrase(run) for run in runs)


_COUNTS = sa.text("SELECT term, items FROM search_terms WHERE term IN :terms").bindparams(
    sa.bindparam("terms", expanding=True))


def counts(conn: sa.Connection, q: str) -> dict[str, int]:
    """How many items hold each of ``q``'s common trigrams, as last counted (absent: fewer than COMMON)."""
    return dict(conn.execute(_COUNTS, {"terms": sorted(set(trigrams(q)))}).all())


def _fts_counts(conn: sa.Connection) -> tuple[list[tuple[str, int]], int]:
    """SQLite: every trigram's items, exactly, from FTS5's own view of its index."""
    rows = conn.exec_driver_sql("SELECT term, doc FROM items_fts_vocab WHERE doc >= ?", (COMMON,)).all()
    return [tuple(row) for row in rows], conn.exec_driver_sql("SELECT count(*) FROM items").scalar_one()


def _sampled_counts(conn: sa.Connection) -> tuple[list[tuple[str, int]], int]:
    """PostgreSQL: every trigram's items estimated from a sample of the table's pages (as ANALYZE samples),
    or counted over all of them when the table holds no more than SAMPLE items."""
    total = conn.exec_driver_sql("SELECT count(*) FROM items").scalar_one()
    texts = ", ".join(SEARCHED)
    if total <= SAMPLE:
        rows = conn.exec_driver_sql(f"SELECT {texts} FROM items")
    else:
        percent = min(100.0, 100.0 * SAMPLE / total)
        rows = conn.exec_driver_sql(f"SELECT {texts} FROM items TABLESAMPLE SYSTEM (%(percent)s)", {"percent": percent})
    held: Counter[str] = Counter()
    read = 0
    for row in rows:
        read += 1
        held.update({gram for text in row if text for gram in trigrams(text)})
    scale = total / read if read else 0
    return [(gram, round(n * scale)) for gram, n in held.items() if n * scale >= COMMON], total


def refresh(store: Store) -> int:
    """Count again how many items hold each common trigram (a read of the text index on SQLite, of a sample of
    the items on PostgreSQL; then one short write); how many trigrams were recorded."""
    with store.read() as conn:
        rows, items = _fts_counts(conn) if store.is_sqlite else _sampled_counts(conn)
    with store.write() as conn:
        if not store.is_sqlite:
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_LOCK_KEY})")
        conn.execute(sa.text("DELETE FROM search_terms"))
        conn.execute(sa.text("INSERT INTO search_terms (term, items) VALUES (:term, :items)"),
                     [{"term": COUNTED, "items": items}, *({"term": t, "items": n} for t, n in rows)])
    log.info("text search statistics: %d common trigrams among %d items", len(rows), items)
    return len(rows)


def missing(store: Store) -> bool:
    """Whether the trigrams were never counted, as on a first start."""
    with store.read() as conn:
        return conn.execute(sa.text("SELECT 1 FROM search_terms WHERE term = :t"), {"t": COUNTED}).first() is None

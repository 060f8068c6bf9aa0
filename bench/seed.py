"""Fill a database with N realistic items and their hash-chained histories, fast (bulk inserts, not the API).

What it makes (reproducibly, from ``--seed``):
- a province's unit tree: the province (PROV), 13 cities (C01..C13), 7 departments each (C01-EDU, ...): 105
  units; in each city a supervisor (sup_c01), a verifier (ver_c01) and a registrar (reg_c01), two assignees
  per department (asg_c01_edu_1, _2), and at the province sup_prov, ver_prov and aud_prov (auditor);
- N items over the two years before ``now``, numbered by year (ZG-2025-000001...) in the order they were
  made (bench/seed_numbers.py), in the three bundled workflows, every source and severity, 60 % in one of 16
  campaigns (ZX-2025-01...), with Chinese titles, descriptions and measures; old items are mostly closed,
  recent ones open, and open items whose due date has passed are overdue;
- each item's history from its creation to its state (assign, accept, progress reports, submit, approve,
  close; or cancel), hashed by engine.history, so ``closeloop audit verify`` accepts every chain. The creation
  record names the item's number, as the engine's do; each record names its real actor; evidence is left out
  (no files are stored).
The summary report's kept counts (engine.reports.kept) are made in one pass at the end, not row by row.
The statistics are brought up to date at the end: the text search's trigram counts, as a running service's
nightly job keeps them, and the planner's (SQLite ANALYZE; PostgreSQL VACUUM ANALYZE, which needs the tables'
owner: give the owner's or a superuser's URL).

Run:    .venv/bin/python bench/seed.py 1000000 [--db URL] [--seed 1]   (default: sqlite:///seed.db)
Import: from bench.seed import seed; seed("sqlite:///x.db", 100_000) or seed(runtime, 100_000)
"""
from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing
import os
import random
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

# bench/transitions.py shares its name with the `transitions` library: keep this folder off the import path,
# and the project's root on it (so that `bench.seed_text` is found when this runs as a script).
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
if str(HERE.parent) not in sys.path:
    sys.path.insert(0, str(HERE.parent))

import sqlalchemy as sa  # noqa: E402

from bench.seed_copy import copy_items  # noqa: E402
from bench.seed_items import CAMPAIGNS, Maker, World, build_world  # noqa: E402
from bench.seed_numbers import Numbering, created_at  # noqa: E402
from engine.clock import UTC  # noqa: E402
from engine.config import Settings  # noqa: E402
from engine.listing import termstats, textsearch  # noqa: E402
from engine.models import HistoryRecord, Item, NumberSequence  # noqa: E402
from engine.reports import kept  # noqa: E402
from engine.runtime import Runtime  # noqa: E402
from engine.store import Store  # noqa: E402
from engine.store.bulk import Rows  # noqa: E402
from engine.store.migrate import migrate  # noqa: E402
from engine.store.revisions import current_revision, head_revision  # noqa: E402

ITEM_COLUMNS = ("id", "number", "workflow", "workflow_hash", "state", "version", "title", "description", "source",
                "severity", "unit_id", "assignee", "due_date", "requested_due_date", "deadline", "state_entered_at",
                "measures", "external_ref", "campaign", "tags", "created_by", "submitted_by", "reopened_count",
                "history_seq", "history_hash", "next_reminder_at", "closed_at", "created_at", "updated_at")
HISTORY_COLUMNS = ("item_id", "seq", "trigger", "from_state", "to_state", "actor", "at", "comment", "evidence",
                   "fields", "prev_hash", "hash")
FTS_INSERT_TRIGGER = "items_fts_insert"  # migration 0009


@dataclass
class Seeded:
    """What seed() made: counts, time taken, and the names a benchmark filters by."""

    items: int
    records: int
    seconds: float
    units: list[str] = field(default_factory=list)
    assignees: list[str] = field(default_factory=list)
    campaigns: tuple[str, ...] = CAMPAIGNS




def _open(target: str | Runtime) -> tuple[Runtime, bool]:
    if isinstance(target, Runtime):
        return target, False
    store = Store(target)
    if current_revision(store) != head_revision():
        migrate(store)
    store.dispose()
    return Runtime.open(Settings(database_url=target)), True


def refresh_statistics(store: Store) -> None:
    """Bring the statistics up to date after a bulk load: the text search's trigram counts, and the planner's
    (SQLite ANALYZE; PostgreSQL VACUUM ANALYZE, so that index-only scans see every page as visible; it needs
    the tables' owner)."""
    termstats.refresh(store)
    if store.is_sqlite:
        with store.write() as conn:
            conn.exec_driver_sql("ANALYZE")
        return
    with store.writer.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        for table in ("items", "history", "units", "users"):
            conn.exec_driver_sql(f"VACUUM ANALYZE {table}")


def seed(target: str | Runtime, n: int, *, rng_seed: int = 1, now: dt.datetime | None = None,
         batch: int = 10_000, jobs: int | None = None, progress=None) -> Seeded:
    """Add ``n`` items with their histories to the database at ``target`` (a URL, migrated if need be, or an
    open Runtime); ``jobs`` processes make the rows (default: one per core; a Runtime target: this process);
    ``progress(done, n)`` is called after each batch."""
    started = time.perf_counter()
    rt, opened = _open(target)
    now = (now or rt.clock.now()).astimezone(UTC).replace(microsecond=0)
    world = build_world(rt)
    sequences = NumberSequence.__table__
    with rt.store.read() as conn:
        numbers = {r.year: r.last for r in conn.execute(sa.select(sequences))}
    numbering = Numbering.plan(rt.settings.number_prefix, n, now, rng_seed, rt.settings.tz, numbers)
    with _indexes_set_aside(rt.store, n), kept.paused(rt.store, rt.settings.tz):
        records = _load(rt, world, target if opened else None, now, numbering, n, batch, rng_seed,
                        jobs or os.cpu_count() or 1, progress)
    refresh_statistics(rt.store)
    result = Seeded(items=n, records=records, seconds=time.perf_counter() - started, units=list(world.units),
                    assignees=[a for names in world.assignees.values() for a in names])
    if opened:
        rt.store.dispose()
    return result


def _batch(rt: Runtime, world: World, rows: Rows, first: int, count: int, n: int, now: dt.datetime,
           rng_seed: int, numbering: Numbering) -> tuple[list[tuple], list[tuple]]:
    """Items ``first`` .. ``first + count - 1`` of ``n`` (spread evenly over the two years before ``now``) and
    their records; each batch draws from its own random sequence, so any number of processes make the same."""
    rng = random.Random(f"{rng_seed}:{first}")
    maker = Maker(rt, world, rows, rng, now)
    items, chain = [], []
    for i in range(first, first + count):
        row, records = maker.make(created_at(i, n, now, rng_seed), numbering, i)
        items.append(row)
        chain.extend(records)
    return items, chain


_worker: dict = {}


def _start_worker(url: str) -> None:
    rt = Runtime.open(Settings(database_url=url))
    with rt.store.read() as conn:
        _worker.update(rt=rt, world=build_world(rt, create=False), rows=Rows(conn))


def _worker_batch(first: int, count: int, n: int, now: dt.datetime, rng_seed: int,
                  numbering: Numbering) -> tuple[list[tuple], list[tuple]]:
    return _batch(_worker["rt"], _worker["world"], _worker["rows"], first, count, n, now, rng_seed, numbering)


def _batches(rt: Runtime, world: World, url: str | None, n: int, batch: int, now: dt.datetime, rng_seed: int,
             numbering: Numbering, jobs: int) -> Iterator[tuple[list[tuple], list[tuple]]]:
    """The batches in order: made here, or by ``jobs`` processes (a few batches ahead of the inserts)."""
    spans = [(first, min(batch, n - first)) for first in range(0, n, batch)]
    if jobs <= 1 or url is None:
        with rt.store.read() as conn:
            rows = Rows(conn)
        for first, count in spans:
            yield _batch(rt, world, rows, first, count, n, now, rng_seed, numbering)
        return
    context = multiprocessing.get_context("spawn")  # no inherited connections or threads
    with ProcessPoolExecutor(jobs, mp_context=context, initializer=_start_worker, initargs=(url,)) as pool:
        pending = [pool.submit(_worker_batch, first, count, n, now, rng_seed, numbering)
                   for first, count in spans[:jobs * 2]]
        for span in spans[jobs * 2:] + [None] * min(len(spans), jobs * 2):
            done = pending.pop(0).result()
            if span is not None:
                pending.append(pool.submit(_worker_batch, *span, n, now, rng_seed, numbering))
            yield done


def _load(rt: Runtime, world: World, url: str | None, now: dt.datetime, numbering: Numbering, n: int,
          batch: int, rng_seed: int, jobs: int, progress) -> int:
    """Insert the items and their histories, a batch a transaction; return how many records were written."""
    records = done = 0
    for items, chain in _batches(rt, world, url, n, batch, now, rng_seed, numbering, jobs):
        with rt.store.write() as conn:
            if rt.store.is_sqlite:  # the items' and the history's indexes take random keys (uuids): keep them in memory
                conn.exec_driver_sql(f"PRAGMA cache_size = -{SQLITE_CACHE_KB}")
            rows = Rows(conn)
            _insert_items(conn, rows, items)
            bulk_insert(conn, HistoryRecord.__table__, HISTORY_COLUMNS, chain)
            _save_numbers(conn, numbering.last_numbers(done + len(items)))
        records += len(chain)
        done += len(items)
        if rt.store.is_sqlite:
            # Truncate the write-ahead log, which every later read searches, once the checkpoint the store
            # scheduled for these rows has run (two at once: the second finds the log busy and leaves it).
            rt.store.settle_checkpoints()
            with rt.store.reader.connect() as conn:  # outside any transaction, as a checkpoint must be
                conn.connection.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        if progress is not None:
            progress(done, n)
    return records


# Past this many items, a PostgreSQL load goes faster without the items' secondary indexes (GIN trigram
# indexes above all, which cost every inserted row dozens of entries), made again at the end in one pass.
SET_ASIDE_FROM = 50_000
SQLITE_CACHE_KB = 1_000_000
# Raised whenever seed() makes different rows from the same arguments, so that databases kept by a benchmark
# (bench/pg_cluster.py) are seeded again (2: creation records name the item's number).
SEED_FORMAT = 2


@contextmanager
def _indexes_set_aside(store: Store, n: int) -> Iterator[None]:
    """On PostgreSQL, when the role owns the items table and the load is large: drop the items' non-unique
    indexes for the load and make them again, from their own definitions, when it ends (however it ends)."""
    if store.is_sqlite or n < SET_ASIDE_FROM:
        yield
        return
    with store.write() as conn:
        owner = conn.exec_driver_sql("SELECT pg_has_role(current_user, tableowner, 'USAGE') FROM pg_tables "
                                     "WHERE tablename = 'items'").scalar()
        kept = [] if not owner else conn.exec_driver_sql(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i JOIN pg_index x ON x.indexrelid = "
            "(quote_ident(i.schemaname) || '.' || quote_ident(i.indexname))::regclass "
            "WHERE i.tablename = 'items' AND NOT x.indisunique AND NOT x.indisprimary").all()
        for name, _definition in kept:
            conn.exec_driver_sql(f"DROP INDEX {name}")
    try:
        yield
    finally:
        with store.write() as conn:
            conn.exec_driver_sql("SET LOCAL maintenance_work_mem = '512MB'")
            for _name, definition in kept:
                conn.exec_driver_sql(definition)


def _insert_items(conn: sa.Connection, rows: Rows, items: list[tuple]) -> None:
    """Insert item rows; on SQLite the search index gets them in one INSERT ... SELECT rather than through
    its per-row trigger (several times faster in bulk), the trigger put back in the same transaction."""
    if not rows.sqlite:
        bulk_insert(conn, Item.__table__, ITEM_COLUMNS, items)
        return
    trigger = conn.exec_driver_sql("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?",
                                   (FTS_INSERT_TRIGGER,)).scalar_one()
    last = conn.exec_driver_sql("SELECT coalesce(max(rowid), 0) FROM items").scalar_one()
    conn.exec_driver_sql(f"DROP TRIGGER {FTS_INSERT_TRIGGER}")
    rows.insert(Item.__table__, ITEM_COLUMNS, items)
    searched = ", ".join(textsearch.SEARCHED)
    conn.exec_driver_sql(f"INSERT INTO {textsearch.FTS_TABLE} (rowid, {searched}) SELECT rowid, {searched} "
                         f"FROM items WHERE rowid > ?", (last,))
    conn.exec_driver_sql(trigger)


def copy(source_url: str, target_url: str, *, progress=None) -> Seeded:
    """Fill ``target_url`` with the units, people, items and histories of ``source_url`` (a database this
    module seeded): the same rows, without making them again (bench/seed_copy.py)."""
    started = time.perf_counter()
    rt, _opened = _open(target_url)
    world = build_world(rt)
    source = Store(source_url)
    with source.read() as conn:
        total = conn.execute(sa.text("SELECT count(*) FROM items")).scalar_one()
    with _indexes_set_aside(rt.store, total), kept.paused(rt.store, rt.settings.tz):
        done, records, numbers = copy_items(source, rt.store, {code: ids[0] for code, ids in world.units.items()},
                                            bulk_insert, progress=progress)
        with rt.store.write() as conn:
            _save_numbers(conn, numbers)
    source.dispose()
    refresh_statistics(rt.store)
    rt.store.dispose()
    return Seeded(items=done, records=records, seconds=time.perf_counter() - started, units=list(world.units),
                  assignees=[a for names in world.assignees.values() for a in names])


def bulk_insert(conn: sa.Connection, table: sa.Table, columns: tuple[str, ...] | list[str], data: list[tuple]) -> None:
    """Insert rows given as tuples in the driver's own form (engine.store.bulk.Rows): on PostgreSQL through COPY,
    whose rows psycopg writes in C (an array per column, as engine.store.bulk sends, is dumped in Python)."""
    rows = Rows(conn)
    if rows.sqlite:
        rows.insert(table, columns, data)
        return
    with conn.connection.driver_connection.cursor() as cursor:
        with cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in data:
                copy.write_row(row)


def _save_numbers(conn: sa.Connection, numbers: dict[int, int]) -> None:
    """The last number handed out per year, so items registered later get the next ones."""
    for year, last in numbers.items():
        updated = conn.execute(sa.text("UPDATE number_sequences SET last = :last WHERE year = :year"),
                               {"year": year, "last": last})
        if updated.rowcount == 0:
            conn.execute(sa.text("INSERT INTO number_sequences (year, last) VALUES (:year, :last)"),
                         {"year": year, "last": last})


def main() -> None:
    """Seed from the command line, printing progress and the time taken."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", type=int, help="how many items to add")
    parser.add_argument("--db", default="sqlite:///seed.db", help="database URL (default sqlite:///seed.db)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (the same seed makes the same items)")
    parser.add_argument("--jobs", type=int, help="processes making rows (default: one per core)")
    parser.add_argument("--copy-from", metavar="URL", help="copy the items of this seeded database instead (N unused)")
    args = parser.parse_args()

    def report(done: int, total: int) -> None:
        print(f"\r{done:,}/{total:,} items", end="", file=sys.stderr, flush=True)

    if args.copy_from:
        result = copy(args.copy_from, args.db, progress=report)
    else:
        result = seed(args.db, args.n, rng_seed=args.seed, jobs=args.jobs, progress=report)
    print(f"\n{result.items:,} items and {result.records:,} history records in {result.seconds:.0f} s")


if __name__ == "__main__":
    main()

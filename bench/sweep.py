"""How much a reminder sweep costs at a province's scale, on SQLite as `closeloop serve` runs it.

Prints, from one run on this machine:
  nothing due   a sweep over N items of which none is due (the one indexed range read), median of runs
  10,000 due    a sweep that claims 10,000 overdue items among N, issues their notices (inbox rows and
                outbox rows) and reschedules them, in items per second
  the same 10,000 due among N/10 items, and the ratio of the two: the cost follows the due items, not all
Targets (issue 6): nothing due < 10 ms; 10,000 due at >= 10,000 items/s; a ratio near 1.
Run: make bench-sweep   (or .venv/bin/python bench/sweep.py [--items N] [--due N] [--cache DIR]; the seeded databases are
     kept for the day in the temporary folder, so a second run the same day copies them instead of seeding)
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

# bench/transitions.py shares its name with the `transitions` library: keep this folder off the import path.
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(HERE.parent))

import sqlalchemy as sa  # noqa: E402

from bench.figures import Figure, report  # noqa: E402
from engine import accounts  # noqa: E402
from engine.audit.actors import cli_actor  # noqa: E402
from engine.config import Settings  # noqa: E402
from engine.itemrows import new_item_id  # noqa: E402
from engine.models import Item  # noqa: E402
from engine.reminders.sweep import sweep  # noqa: E402
from engine.runtime import Runtime  # noqa: E402
from engine.store import Store  # noqa: E402
from engine.store.bulk import Rows  # noqa: E402
from engine.store.migrate import migrate  # noqa: E402
from engine.store.revisions import head_revision  # noqa: E402

CACHE = Path(tempfile.gettempdir()) / "closeloop-bench-cache"
UNITS = [("CITY", "市", None), ("DEPT-A", "市教委", "CITY"), ("DEPT-B", "市民政局", "CITY")]
USERS = [("sup", ["supervisor"], "CITY"), ("sup_a", ["supervisor"], "DEPT-A"), ("asg_a", ["assignee"], "DEPT-A"),
         ("aud", ["auditor"], "CITY")]


def _open(folder: Path) -> Runtime:
    url = f"sqlite:///{folder / 'sweep.db'}"
    store = Store(url)
    migrate(store)
    store.dispose()
    rt = Runtime.open(Settings(database_url=url))
    with rt.store.write() as conn:
        for code, name, parent in UNITS:
            accounts.add_unit(conn, clock=rt.clock, actor=cli_actor(), code=code, name=name, parent=parent)
        for username, roles, unit in USERS:
            accounts.add_user(conn, clock=rt.clock, actor=cli_actor(), username=username, roles=roles, unit=unit)
    return rt


def _seed(rt: Runtime, count: int, now: dt.datetime) -> None:
    """``count`` items in 'rectifying' whose next notice is a month away (bulk inserts, not the API)."""
    wf_hash = rt.registry.current("standard").hash
    with rt.store.write() as conn:
        unit_id = conn.execute(sa.text("SELECT id FROM units WHERE code = 'DEPT-A'")).scalar_one()
    later = (now + dt.timedelta(days=30)).replace(tzinfo=None).isoformat(" ")
    entered = (now - dt.timedelta(days=60)).replace(tzinfo=None).isoformat(" ")
    deadline = (now + dt.timedelta(days=33)).date().isoformat()
    columns = ("id", "number", "workflow", "workflow_hash", "state", "version", "title", "description", "source",
               "severity", "unit_id", "assignee", "due_date", "deadline", "state_entered_at", "measures", "tags",
               "created_by", "reopened_count", "history_seq", "history_hash", "next_reminder_at", "created_at",
               "updated_at")
    for start in range(0, count, 50_000):
        with rt.store.write() as conn:  # engine.store.bulk: multi-row statements (one a row rebuilds the FTS5 index)
            Rows(conn).insert(Item.__table__, columns, [
                (new_item_id(), f"B-{n:08d}", "standard", wf_hash, "rectifying", 3, "学校食堂食品安全隐患整改", "",
                 "inspection", "medium", unit_id, "asg_a", deadline, deadline, entered, "", "[]", "reg", 0, 3, "", later,
                 entered, entered) for n in range(start, min(start + 50_000, count))])
    with rt.store.write() as conn:
        conn.exec_driver_sql("ANALYZE")


def _make_due(rt: Runtime, count: int, now: dt.datetime) -> None:
    """Turn ``count`` items overdue by 40 days, their next notice already come: items spread evenly over all of
    them (every 100th among a million), as the items due on one morning are, not ``count`` registered together."""
    past = (now - dt.timedelta(minutes=5)).replace(tzinfo=None).isoformat(" ")
    deadline = (now - dt.timedelta(days=40)).date().isoformat()
    with rt.store.write() as conn:
        total = conn.execute(sa.text("SELECT MAX(rowid) FROM items")).scalar_one()
        conn.execute(sa.text("UPDATE items SET next_reminder_at = :past, deadline = :d, due_date = :d WHERE rowid IN "
                             "(SELECT rowid FROM items WHERE rowid % :step = 0 AND next_reminder_at > :past "
                             "LIMIT :n)"), {"past": past, "d": deadline, "n": count, "step": max(1, total // count)})


def _timed_sweep(rt: Runtime, now: dt.datetime) -> tuple[float, int, float]:
    """(wall seconds, items claimed, CPU seconds of this process: SQLite works in it, so the sweep's own cost)."""
    started, cpu = time.perf_counter(), time.process_time()
    result = sweep(rt, now=now)
    return time.perf_counter() - started, result.claimed, time.process_time() - cpu


def _copy_to_disk(source: Path, target: Path) -> None:
    """Copy a database and wait until the copy is on disk: otherwise the kernel writes the copy's 1.6 GB back
    while the sweep is timed, and the sweep's own writes queue behind it."""
    shutil.copy(source, target)
    with open(target, "rb+") as copied:
        os.fsync(copied.fileno())


def _seeded(folder: Path, items: int, now: dt.datetime, cache: Path | None) -> tuple[Runtime, float]:
    """A database of ``items`` items in ``folder``: a copy of the one cached today for this schema, or seeded here
    (and cached). Its items' next notices are a month from the seeding, so a copy serves for the day."""
    cached = cache / f"sweep-{items}-{head_revision()}-v7-{now:%Y%m%d}.db" if cache else None
    if cached is not None and cached.exists():
        _copy_to_disk(cached, folder / "sweep.db")
        return Runtime.open(Settings(database_url=f"sqlite:///{folder / 'sweep.db'}")), 0.0
    rt = _open(folder)
    seeded = time.perf_counter()
    _seed(rt, items, now)
    seed_s = time.perf_counter() - seeded
    if cached is not None:
        rt.store.dispose()  # the last connection folds the log into the file: one file to copy
        cached.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(folder / "sweep.db", cached.with_suffix(".part"))
        cached.with_suffix(".part").rename(cached)
        rt = Runtime.open(Settings(database_url=f"sqlite:///{folder / 'sweep.db'}"))
    return rt, seed_s


def measure(items: int, due: int, cache: Path | None = None) -> dict:
    """Nothing due, then ``due`` due, over ``items`` items in a fresh database (a copy of a cached one)."""
    now = dt.datetime.now(dt.timezone.utc)
    with tempfile.TemporaryDirectory() as folder:
        rt, seed_s = _seeded(Path(folder), items, now, cache)
        idle = [_timed_sweep(rt, now)[0] for _ in range(7)]
        _make_due(rt, due, now)
        # _make_due's one UPDATE of 10,000 items logs ~140 MB at a million items; the checkpoint it scheduled
        # (which restarts the log under the write lock) belongs to that set-up, not to the sweep timed next.
        # The sweep's own checkpoints still run, as in production.
        rt.store.settle_checkpoints()
        busy_s, claimed, busy_cpu = _timed_sweep(rt, now)
        assert claimed == due, (claimed, due)
        with rt.store.read() as conn:
            notices = conn.execute(sa.text("SELECT COUNT(*) FROM notices")).scalar_one()
        rt.store.dispose()
    return {"items": items, "seed_s": seed_s, "idle_ms": statistics.median(idle) * 1000, "due": due,
            "due_s": busy_s, "due_per_s": due / busy_s, "due_per_cpu_s": due / busy_cpu, "notices": notices}


def main() -> None:
    """Run both sizes and print the figures against their targets."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--due", type=int, default=10_000)
    parser.add_argument("--cache", type=Path, default=CACHE, help=f"seeded databases kept here for the day (default "
                        f"{CACHE}); --cache '' seeds every run")
    args = parser.parse_args()
    cache = args.cache if str(args.cache) not in ("", ".") else None
    big = measure(args.items, args.due, cache)
    small = measure(max(args.items // 10, args.due * 2), args.due, cache)
    seeding = f"seeded in {big['seed_s']:.0f} s" if big["seed_s"] else "a copy of the database seeded earlier today"
    print(f"sweep over {big['items']:,} items ({seeding}), SQLite, production settings")
    print(f"  nothing due:        {big['idle_ms']:8.2f} ms   (target < 10 ms)")
    print(f"  {big['due']:,} due:        {big['due_per_s']:8,.0f} items/s  ({big['due_s']:.2f} s, {big['notices']:,} "
          f"notices incl. superseded; target >= 10,000 items/s); {big['due_per_cpu_s']:,.0f} items a CPU-second")
    print(f"  {small['due']:,} due among {small['items']:,}: {small['due_per_s']:8,.0f} items/s  "
          f"(nothing due: {small['idle_ms']:.2f} ms)")
    print(f"  cost ratio, {big['items']:,} vs {small['items']:,} items for the same due work: "
          f"{big['due_s'] / small['due_s']:.2f} (1.0 = the cost follows the due items only)")
    size = f"{big['items']:,} items, SQLite"
    report(Figure(f"sweep, nothing due, {size}", big["idle_ms"], "ms", target=10, better="lower"),
           Figure(f"sweep, {big['due']:,} due, {size}", big["due_per_s"], "items/s", target=10_000),
           Figure(f"sweep, {big['due']:,} due, {size}, a CPU-second", big["due_per_cpu_s"], "items", target=10_000),
           Figure(f"sweep cost, {big['items']:,} vs {small['items']:,} items, same due work", big["due_s"] / small["due_s"],
                  "x", target=1.5, better="lower", reference="the same due items among a tenth of the items"))


if __name__ == "__main__":
    main()

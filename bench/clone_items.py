"""Fill a closeloop database to N items by cloning the items it holds, in SQL (INSERT ... SELECT), for benchmarks.

Clones keep every column of the row they copy (state, unit, source, dates) under a new id and number, so
the mix of the demo stays the mix at a million. They have no history of their own: a database filled this
way is for measuring reads, and `closeloop audit verify` rightly finds it broken.
Run: closeloop migrate && closeloop demo, then .venv/bin/python bench/clone_items.py --db URL --items 1000000
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]

import sqlalchemy as sa  # noqa: E402

from engine.models import Item  # noqa: E402
from engine.store import Store  # noqa: E402

COPIED = [c.name for c in Item.__table__.columns if c.name not in ("id", "number")]


def _new_id(dialect: str) -> str:
    return "gen_random_uuid()::text" if dialect == "postgresql" else "lower(hex(randomblob(16)))"


def clone_to(store: Store, target: int) -> int:
    """Double the items (up to ``target``) round by round; return how many there are at the end."""
    with store.write() as conn:
        count = conn.execute(sa.text("SELECT COUNT(*) FROM items")).scalar_one()
    if count == 0:
        raise SystemExit("the database has no items to clone: run `closeloop demo` first")
    columns = ", ".join(COPIED)
    while count < target:
        batch = min(count, target - count)
        with store.write() as conn:
            dialect = conn.dialect.name
            conn.execute(sa.text(
                f"INSERT INTO items (id, number, {columns}) SELECT {_new_id(dialect)}, "
                f"'B-' || CAST(:base + ROW_NUMBER() OVER (ORDER BY id) AS VARCHAR), {columns} "
                f"FROM (SELECT * FROM items ORDER BY id LIMIT :n) AS source"), {"base": count, "n": batch})
        count += batch
        print(f"  {count:,} items", flush=True)
    with store.write() as conn:
        conn.exec_driver_sql("ANALYZE")
    return count


def main() -> None:
    """Clone until the database holds --items items."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, help="Database URL (sqlite:///file.db or postgresql://...)")
    parser.add_argument("--items", type=int, default=1_000_000)
    args = parser.parse_args()
    store = Store(args.db)
    started = time.perf_counter()
    total = clone_to(store, args.items)
    store.dispose()
    print(f"{total:,} items in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()

"""The 台账 ledger at 100,000 rows: how fast it imports and exports, and the export's peak memory.

Prints, from one run on this machine (SQLite, as `make run` uses it, in a database made here):
  file      generating a 100,000-row .xlsx ledger (three units, five states, every column filled)
  import    `closeloop import FILE` as a separate process: seconds (wall and CPU) and peak resident memory
            (target < 30 s)
  export    `closeloop export ledger FILE.xlsx` as a separate process, for all 100,000 items and for a third of
            them: seconds (wall and CPU) and peak resident memory (targets < 10 s, < 300 MB; the two peaks close
            together show the memory is constant, not growing with the rows)
  again     the exported ledger imported back with `closeloop import --dry-run`: every row recognised and compared
            with its item (nothing differs, nothing is written)
Run: make bench-ledger   (or .venv/bin/python bench/ledger.py [--rows N])
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(HERE.parent))

from bench.child import run_measured  # noqa: E402
from bench.figures import Figure, report  # noqa: E402
from engine.config import Settings  # noqa: E402
from engine.ledger.columns import HEADERS  # noqa: E402
from engine.ledger.writers import write_xlsx  # noqa: E402
from engine.runtime import Runtime  # noqa: E402
from engine.store import Store  # noqa: E402
from engine.store.migrate import migrate  # noqa: E402
from tests.helpers import build_world  # noqa: E402

CLOSELOOP = Path(sys.executable).parent / "closeloop"
UNITS = ("DEPT-A", "SUB-A1", "DEPT-B")
STATES = ("已登记", "已交办", "整改中", "待验收", "已销号")
SOURCES = ("巡视巡察", "审计", "督查督办", "群众反映/信访", "自查自纠")


def _rows(count: int):
    due = dt.date(2026, 12, 31)
    for n in range(count):
        state = STATES[n % len(STATES)]
        yield (n + 1, None, f"XC-2026-{n:06d}", SOURCES[n % len(SOURCES)],
               f"第{n}号问题：学位缺口未按计划补齐\n巡察发现计划新增学位800个，实际完成520个。", "新建两所公办园，扩班12个",
               UNITS[n % len(UNITS)], None, due, state, None, None, "已完成阶段性工作，正在推进",
               dt.date(2026, 11, 1) if state == "已销号" else None, "2026-XC-R1")


def main() -> None:
    """Build the database and the file, then measure the import and the exports."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="closeloop-bench-ledger-") as tmp:
        folder = Path(tmp)
        url = f"sqlite:///{folder / 'ledger.db'}"
        store = Store(url)
        migrate(store)
        store.dispose()
        rt = Runtime.open(Settings(database_url=url))
        build_world(rt)
        rt.store.dispose()
        ledger = folder / "台账.xlsx"
        started = time.perf_counter()
        assert len(HEADERS) == 15
        write_xlsx(_rows(args.rows), str(ledger))
        print(f"file      {args.rows:,} rows, {ledger.stat().st_size / 1e6:.1f} MB, written in "
              f"{time.perf_counter() - started:.1f} s")
        env = {**os.environ, "CLOSELOOP_DATABASE_URL": url, "CLOSELOOP_LEDGER_MAX_ROWS": str(max(args.rows, 1))}
        into = run_measured([str(CLOSELOOP), "import", str(ledger), "--as", "reg"], env)
        print(f"import    {args.rows:,} rows: {into.wall:.1f} s wall, {into.cpu:.1f} s CPU, peak {into.peak_mb:.0f} MB "
              "(target < 30 s)")
        out = folder / "out.xlsx"
        full = run_measured([str(CLOSELOOP), "export", "ledger", str(out)], env)
        print(f"export    {args.rows:,} items: {full.wall:.1f} s wall, {full.cpu:.1f} s CPU, peak {full.peak_mb:.0f} MB "
              f"(targets < 10 s, < 300 MB); {out.stat().st_size / 1e6:.1f} MB")
        third = run_measured([str(CLOSELOOP), "export", "ledger", str(folder / "third.xlsx"), "--unit", "DEPT-B"], env)
        print(f"export    a third of them (--unit DEPT-B): {third.wall:.1f} s wall, {third.cpu:.1f} s CPU, "
              f"peak {third.peak_mb:.0f} MB")
        again = run_measured([str(CLOSELOOP), "import", str(out), "--as", "reg", "--dry-run"], env)
        print(f"again     the export imported back (--dry-run): {again.wall:.1f} s wall, {again.cpu:.1f} s CPU, "
              f"peak {again.peak_mb:.0f} MB")
    rows = f"{args.rows:,} rows"
    report(Figure(f"ledger import, {rows}", into.wall, "s", target=30, better="lower"),
           Figure(f"ledger export, {rows}", full.wall, "s", target=10, better="lower"),
           Figure(f"ledger export peak memory, {rows}", full.peak_mb, "MB", target=300, better="lower"),
           Figure("ledger export peak, all / a third of the rows", full.peak_mb / third.peak_mb, "x", target=1.2,
                  better="lower", reference="the same export of one unit's third"),
           Figure(f"ledger export imported back, {rows}", again.wall, "s", better="lower"))


if __name__ == "__main__":
    main()

"""The 台账 ledger at 100,000 rows: how fast it imports and exports, and the export's peak memory.

Prints, from one run on this machine (SQLite, as `make run` uses it, in a database made here):
  file      generating a 100,000-row .xlsx ledger (three units, five states, every column filled)
  import    `closeloop import FILE` as a separate process: seconds (wall and CPU) and peak resident memory
            (target < 30 s)
  export    `closeloop export ledger FILE.xlsx` as a separate process, for all 100,000 items and for a third of
            them: seconds (wall and CPU) and peak resident memory (targets < 10 s, < 300 MB; the two peaks close
            together show the memory is constant, not growing with the rows)
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

from engine.config import Settings  # noqa: E402
from engine.ledger.columns import HEADERS  # noqa: E402
from engine.ledger.writers import write_xlsx  # noqa: E402
from engine.runtime import Runtime  # noqa: E402
from engine.store import Store, migrate  # noqa: E402
from tests.helpers import build_world  # noqa: E402

CLOSELOOP = Path(sys.executable).parent / "closeloop"
UNITS = ("DEPT-A", "SUB-A1", "DEPT-B")
STATES = ("已登记", "已交办", "整改中", "待验收", "已销号")
SOURCES = ("巡视巡察", "审计", "督查督办", "群众反映/信访", "自查自纠")


def _child(args: list[str], env: dict) -> tuple[float, float, float]:
    """Run a command to completion, its output discarded: (wall seconds, CPU seconds, peak resident MB)."""
    started = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # the child becomes the command, so the peak measured is its own
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.execve(args[0], args, env)
    _pid, status, usage = os.wait4(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(args)} failed")
    return time.perf_counter() - started, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


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
        wall, cpu, peak = _child([str(CLOSELOOP), "import", str(ledger), "--as", "reg"], env)
        print(f"import    {args.rows:,} rows: {wall:.1f} s wall, {cpu:.1f} s CPU, peak {peak:.0f} MB (target < 30 s)")
        out = folder / "out.xlsx"
        wall, cpu, peak = _child([str(CLOSELOOP), "export", "ledger", str(out)], env)
        print(f"export    {args.rows:,} items: {wall:.1f} s wall, {cpu:.1f} s CPU, peak {peak:.0f} MB "
              f"(targets < 10 s, < 300 MB); {out.stat().st_size / 1e6:.1f} MB")
        wall, cpu, third = _child([str(CLOSELOOP), "export", "ledger", str(folder / "third.xlsx"), "--unit", "DEPT-B"],
                                  env)
        print(f"export    a third of them (--unit DEPT-B): {wall:.1f} s wall, {cpu:.1f} s CPU, peak {third:.0f} MB")


if __name__ == "__main__":
    main()

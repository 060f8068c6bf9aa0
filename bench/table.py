"""Run every benchmark several times and print one table: each figure's median, its target, and what it is a ratio to.

Each benchmark is a script in bench/ that prints its own report and hands its figures to bench/figures.py; this
runner sets CLOSELOOP_BENCH_FIGURES for each run, runs the benchmarks round by round (every benchmark once, then
every benchmark again) so that a noisy minute on the machine falls on several benchmarks rather than on all the
runs of one, and takes the median of each figure over the runs. A missed target is printed with how far it is
missed; the README says why each one is missed and what would close it. Each run's own report is kept in a log
folder printed at the end.

Run: make bench   (or .venv/bin/python bench/table.py [--only transitions,sweep] [--runs N] [--quick] [--markdown]);
     .venv/bin/python bench/table.py --again LOGS prints an earlier run's table from its logs.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(HERE.parent))

from bench.figures import ENV, Figure, read  # noqa: E402

# Where benchmarks keep what they filled (databases of a million items) for later runs.
CACHE = Path(tempfile.gettempdir()) / "closeloop-bench-cache"


@dataclass(frozen=True)
class Bench:
    """One benchmark script: its arguments for the table, how many runs, and tiny arguments that only check it runs."""

    name: str
    script: str
    args: tuple[str, ...] = ()
    runs: int = 3
    quick: tuple[str, ...] = ()


# The sizes the issues name (1,000,000 items and records, 100,000 ledger rows, 20 MB files). The benchmarks that
# seed a million items take their medians inside one run (many timed runs on one seeded database) and run once.
BENCHES = (
    Bench("transitions", "transitions.py", runs=3, quick=("--items", "50", "--fires", "200", "--requests", "400")),
    # Its filled cluster is cached between runs (the first fills it: twenty minutes at 1,000,000 items).
    Bench("pg", "pg_http.py", args=("--cache", str(CACHE)), runs=3,
          quick=("--items", "1000", "--work-items", "200", "--requests", "400", "--pgbench-seconds", "2", "--scale", "1")),
    Bench("sweep", "sweep.py", runs=3, quick=("--items", "3000", "--due", "500")),
    Bench("lists", "lists.py", runs=1, quick=("--items", "2000", "--runs", "2", "--store", "sqlite")),
    Bench("audit", "audit_verify.py", runs=1, quick=("--records", "2000")),
    Bench("evidence", "evidence.py", runs=3, quick=("--files", "1", "--mb", "1")),
    Bench("ledger", "ledger.py", runs=1, quick=("--rows", "500")),
    # Its own rounds alternate which engine goes first and take medians: one run of the script.
    Bench("spiff", "vs_spiff.py", runs=1, quick=("--items", "5", "--rounds", "1")),
)


@dataclass(frozen=True)
class Row:
    """A figure's median over the runs that measured it, and the spread of those runs."""

    figure: Figure  # its value is the median
    low: float
    high: float
    runs: int


def summarize(figures: list[Figure]) -> list[Row]:
    """One row a figure name, in the order the names first appeared: the median value, lowest and highest."""
    by_name: dict[str, list[Figure]] = {}
    for figure in figures:
        by_name.setdefault(figure.name, []).append(figure)
    rows = []
    for measured in by_name.values():
        values = [f.value for f in measured]
        rows.append(Row(replace(measured[-1], value=statistics.median(values)), min(values), max(values), len(values)))
    return rows


def number(value: float, unit: str) -> str:
    """``value`` with as many digits as its size needs, and its unit."""
    digits = 0 if abs(value) >= 100 else 1 if abs(value) >= 10 else 2
    return f"{value:,.{digits}f} {unit}"


def verdict(figure: Figure) -> str:
    """'met', 'missed by N%' (a figure below its target) or 'over by N%' (a figure above its ceiling), or ''."""
    met = figure.met()
    if met is None:
        return ""
    if met:
        return "met"
    return f"{'missed' if figure.better == 'higher' else 'over'} by {figure.shortfall():.0%}"


def _spread(row: Row) -> str:
    """How many runs and their lowest and highest value ('1' for a single run)."""
    if row.runs == 1:
        return "1"
    return f"{row.runs}: {number(row.low, '').strip()}-{number(row.high, '').strip()}"


def _target(figure: Figure) -> str:
    """'≥ 800 /s' or '≤ 80.0 ms', or '' for a figure without a target."""
    if figure.target is None:
        return ""
    return ("≥ " if figure.better == "higher" else "≤ ") + number(figure.target, figure.unit)


def render(rows: list[Row]) -> str:
    """The table as text: one line a figure, grouped by benchmark."""
    lines, group = [], None
    header = f"{'figure':<66} {'median':>16} {'runs (low-high)':>26} {'target':>16}  {'result':<15} ratio to"
    lines += [header, "-" * len(header)]
    for row in rows:
        f = row.figure
        if f.group != group:
            group = f.group
            lines.append(f"[{group}]")
        spread, target = _spread(row), _target(f)
        lines.append(f"  {f.name:<64} {number(f.value, f.unit):>16} {spread:>26} {target:>16}  {verdict(f):<15} "
                     f"{f.reference}".rstrip())
    missed = [r for r in rows if r.figure.met() is False]
    met = [r for r in rows if r.figure.met()]
    lines.append(f"{len(met)} targets met, {len(missed)} missed" +
                 (": " + "; ".join(f"{r.figure.name} ({verdict(r.figure)})" for r in missed) if missed else ""))
    return "\n".join(lines)


def markdown(rows: list[Row]) -> str:
    """The table in Markdown, for the README."""
    lines = ["| benchmark | figure | median | runs (low-high) | target | result | ratio to |", "|---|---|---|---|---|---|---|"]
    for row in rows:
        f = row.figure
        spread, target = _spread(row), _target(f)
        lines.append(f"| {f.group} | {f.name} | {number(f.value, f.unit)} | {spread} | {target} | {verdict(f)} | "
                     f"{f.reference} |")
    return "\n".join(lines)


def from_logs(logs: Path) -> list[Figure]:
    """The figures a run left in its log folder, round by round, each tagged with its benchmark's name."""
    found = []
    for path in sorted(logs.glob("*-*.jsonl"), key=lambda p: (int(p.stem.rsplit("-", 1)[1]), p.stem)):
        name = path.stem.rsplit("-", 1)[0]
        found += [replace(f, group=name) for f in read(str(path))]
    return found


def run_once(bench: Bench, args: tuple[str, ...], logs: Path, run: int) -> list[Figure]:
    """Run ``bench`` once with ``args``; its report goes to a log file, its figures come back tagged with its name."""
    figures_file, log = logs / f"{bench.name}-{run}.jsonl", logs / f"{bench.name}-{run}.log"
    env = {**os.environ, ENV: str(figures_file)}
    started = time.monotonic()
    with open(log, "w", encoding="utf-8") as out:
        done = subprocess.run([sys.executable, str(HERE / bench.script), *args], env=env, stdout=out,
                              stderr=subprocess.STDOUT, check=False)
    took = time.monotonic() - started
    if done.returncode != 0:
        tail = log.read_text(encoding="utf-8")[-1500:]
        raise SystemExit(f"{bench.script} failed (exit {done.returncode}) after {took:.0f} s; its log {log}:\n{tail}")
    figures = read(str(figures_file)) if figures_file.exists() else []
    print(f"  {bench.name} run {run}: {took:.0f} s, {len(figures)} figures", flush=True)
    return [replace(f, group=bench.name) for f in figures]


def main() -> None:
    """Run the chosen benchmarks round by round and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated benchmark names: " + ", ".join(b.name for b in BENCHES))
    parser.add_argument("--runs", type=int, help="runs of every benchmark (default: each benchmark's own)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one run: checks that every benchmark runs")
    parser.add_argument("--logs", type=Path, help="folder for each run's report (default: a new temporary folder)")
    parser.add_argument("--again", type=Path, metavar="LOGS", help="print the table of an earlier run from its logs")
    parser.add_argument("--markdown", action="store_true", help="print the table in Markdown")
    options = parser.parse_args()
    if options.again:
        names = [b.name for b in BENCHES]
        rows = summarize(from_logs(options.again))
        rows.sort(key=lambda r: names.index(r.figure.group) if r.figure.group in names else len(names))
        print(markdown(rows) if options.markdown else render(rows))
        return
    chosen = BENCHES
    if options.only:
        names = options.only.split(",")
        unknown = sorted(set(names) - {b.name for b in BENCHES})
        if unknown:
            parser.error(f"no benchmark named {', '.join(unknown)}; there are: {', '.join(b.name for b in BENCHES)}")
        chosen = tuple(b for b in BENCHES if b.name in names)
    runs = {b.name: options.runs or (1 if options.quick else b.runs) for b in chosen}
    logs = options.logs or Path(tempfile.mkdtemp(prefix="closeloop-bench-logs-"))
    logs.mkdir(parents=True, exist_ok=True)
    figures: list[Figure] = []
    for run in range(1, max(runs.values()) + 1):
        print(f"round {run} (load average {', '.join(f'{x:.2f}' for x in os.getloadavg())})", flush=True)
        for bench in chosen:
            if run <= runs[bench.name]:
                figures += run_once(bench, bench.quick if options.quick else bench.args, logs, run)
    order = {b.name: n for n, b in enumerate(chosen)}
    rows = sorted(summarize(figures), key=lambda r: order[r.figure.group])
    print()
    print(markdown(rows) if options.markdown else render(rows))
    print(f"\neach run's report: {logs}")


if __name__ == "__main__":
    main()

"""`make bench`'s one table: medians by figure, targets met or missed by how much, and a real benchmark run through it."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bench import figures, table
from bench.figures import Figure

ROOT = Path(__file__).resolve().parents[2]


def test_the_median_of_each_figure_over_runs_and_its_spread():
    measured = [Figure("HTTP transitions", value, "/s", target=1000, group="transitions") for value in (900, 1200, 1100)]
    measured.insert(1, Figure("hello-world", 3000, "req/s", group="transitions"))
    rows = table.summarize(measured)
    assert [r.figure.name for r in rows] == ["HTTP transitions", "hello-world"]
    assert (rows[0].figure.value, rows[0].low, rows[0].high, rows[0].runs) == (1100, 900, 1200, 3)
    assert rows[0].figure.met() and rows[1].figure.met() is None


def test_a_missed_target_says_by_how_much_on_either_side():
    assert table.verdict(Figure("rate", 600, "/s", target=800)) == "missed by 25%"
    assert table.verdict(Figure("p99", 120, "ms", target=80, better="lower")) == "over by 50%"
    assert table.verdict(Figure("p99", 80, "ms", target=80, better="lower")) == "met"
    assert table.verdict(Figure("reference", 5, "x")) == ""
    text = table.render(table.summarize([Figure("rate", 600, "/s", target=800, group="g"),
                                         Figure("p99", 20, "ms", target=80, better="lower", group="g")]))
    assert "1 targets met, 1 missed: rate (missed by 25%)" in text


def test_figures_are_written_only_where_the_runner_asks(tmp_path, monkeypatch):
    monkeypatch.delenv(figures.ENV, raising=False)
    figures.report(Figure("x", 1, "s"))  # nowhere to write: nothing happens
    path = tmp_path / "figures.jsonl"
    monkeypatch.setenv(figures.ENV, str(path))
    figures.report(Figure("整改 rate", 1.5, "/s", target=2), Figure("y", 2, "ms", better="lower"))
    assert figures.read(str(path)) == [Figure("整改 rate", 1.5, "/s", target=2), Figure("y", 2, "ms", better="lower")]


def test_every_benchmark_in_the_table_exists():
    for bench in table.BENCHES:
        assert (ROOT / "bench" / bench.script).is_file(), bench.script


def test_the_runner_tables_a_real_benchmark_run(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "table.py"), "--quick", "--only", "sweep",
                           "--logs", str(tmp_path)], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "sweep, nothing due, 3,000 items, SQLite" in done.stdout
    assert "≤ 10.0 ms  met" in done.stdout  # a sweep over 3,000 items with nothing due takes well under 10 ms
    assert "sweep, 500 due, 3,000 items, SQLite" in done.stdout
    # The run's whole output is kept, warnings included: from 2026-11-29 the seeded deadlines (33 days on) fall in
    # 2027, whose official holiday schedule is not known yet, and the calendar says so above the report.
    logged = (tmp_path / "sweep-1.log").read_text().splitlines()
    assert any(line.startswith("sweep over 3,000 items") for line in logged), logged[:5]
    again = subprocess.run([sys.executable, str(ROOT / "bench" / "table.py"), "--again", str(tmp_path), "--markdown"],
                           capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert "| sweep | sweep, nothing due, 3,000 items, SQLite |" in again.stdout
    assert "| ≤ 10.0 ms | met |" in again.stdout


def test_an_unknown_benchmark_name_is_refused_with_the_names_there_are():
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "table.py"), "--only", "swep"], capture_output=True,
                          text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 2 and "no benchmark named swep; there are: transitions, pg, sweep" in done.stderr

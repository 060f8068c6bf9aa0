"""closeloop against SpiffWorkflow: the six-step lifecycle persisted to SQLite, one commit per step, in one run.

Both sides take items through register, assign, accept, submit, approve and close, each step its own
transaction and its own durable commit, each side in a child process of its own (so neither's imports count
against the other's memory), on a new SQLite file in WAL mode where every commit is on disk before it returns:
  closeloop       in-process with its default settings: synchronous=NORMAL plus group commit (engine.store.walsync:
                  an fdatasync of the log covers each commit before it is acknowledged); Runtime, create_item,
                  service.fire_once (bench/vs_spiff_closeloop.py)
  SpiffWorkflow   bench/lifecycle.bpmn (six user tasks), its BpmnWorkflowSerializer state loaded before and
                  written after each step with sqlite3 at synchronous=FULL (SQLite's own fsync of the log at each
                  commit; bench/vs_spiff_spiff.py)
The sides run back to back, alternating which goes first, for several rounds; the figures are medians.
Figures: items/s through the whole lifecycle, CPU per item, and peak memory (ru_maxrss) of each child.
Targets (issue 10): closeloop >= 10x SpiffWorkflow's items/s, and closeloop's peak memory <= SpiffWorkflow's.
Run: make bench-spiff   (or .venv/bin/python bench/vs_spiff.py [--items N] [--rounds N])
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# Run from bench/, this file's folder would shadow the `transitions` library the engine imports.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(ROOT))

from bench.figures import Figure, report  # noqa: E402

SIDES = ("closeloop", "SpiffWorkflow")
GROUP = "vs SpiffWorkflow"
SPEED_TARGET = 10.0  # closeloop's items/s over SpiffWorkflow's
MEMORY_TARGET = 1.0  # closeloop's peak memory over SpiffWorkflow's


def child(module: str, *args: str) -> dict:
    """Run ``python -m module args`` from the project root; the JSON object its last output line holds."""
    done = subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        raise SystemExit(f"{module} {' '.join(args)} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def make_template(folder: Path) -> Path:
    """A migrated closeloop database with the lifecycle's users, copied afresh for every closeloop run."""
    template = folder / "template" / "closeloop.db"
    template.parent.mkdir()
    tokens = child("bench.vs_spiff_closeloop", "setup", str(template))
    (folder / "tokens.json").write_text(json.dumps(tokens))
    return template


def run_side(side: str, folder: Path, template: Path, items: int, run: int) -> dict:
    """One run of ``side`` on a database of its own; its figures."""
    db = folder / f"run{run}-{side}.db"
    if side == "closeloop":
        shutil.copy(template, db)  # the setup process closed its connections, folding the log into the file
        return child("bench.vs_spiff_closeloop", "run", str(db), str(items), str(folder / "tokens.json"))
    return child("bench.vs_spiff_spiff", str(db), str(items))


def measure(items: int, rounds: int) -> dict[str, list[dict]]:
    """``rounds`` rounds of both sides back to back, alternating which goes first; every run's figures."""
    runs: dict[str, list[dict]] = {side: [] for side in SIDES}
    with tempfile.TemporaryDirectory(prefix="closeloop-vs-spiff-") as tmp:
        folder = Path(tmp)
        template = make_template(folder)
        for n in range(rounds):
            for side in (SIDES if n % 2 == 0 else SIDES[::-1]):
                runs[side].append(run_side(side, folder, template, items, n))
    return runs


def median(runs: list[dict], key: str) -> float:
    """The median of ``key`` over ``runs``."""
    return statistics.median(r[key] for r in runs)


def load() -> str:
    """The load averages over 1, 5 and 15 minutes, as uptime prints them."""
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


def summarize(runs: dict[str, list[dict]]) -> list[Figure]:
    """Print the medians and ratios; the figures for bench/table.py."""
    ours, theirs = runs["closeloop"], runs["SpiffWorkflow"]
    for side in SIDES:
        r = runs[side]
        rates = ", ".join(f"{x['items_per_s']:.0f}" for x in r)
        print(f"{side:<14} {median(r, 'items_per_s'):7.1f} items/s (runs: {rates})  "
              f"CPU {median(r, 'cpu_ms_per_item'):5.2f} ms/item  peak {median(r, 'peak_mb'):5.1f} MiB "
              f"({median(r, 'ready_mb'):.1f} MiB before the first item)")
    register, transition = median(ours, "register_cpu_us"), median(ours, "transition_cpu_us")
    print(f"closeloop CPU: registering an item {register:.0f} us, a transition {transition:.0f} us "
          f"({register / transition:.1f}x)")
    speed = median(ours, "items_per_s") / median(theirs, "items_per_s")
    cpu = median(theirs, "cpu_ms_per_item") / median(ours, "cpu_ms_per_item")
    memory = median(ours, "peak_mb") / median(theirs, "peak_mb")
    print(f"closeloop / SpiffWorkflow: {speed:.2f}x the items/s (target >= {SPEED_TARGET:g}x), "
          f"{cpu:.2f}x less CPU per item, {memory:.2f}x the peak memory (target <= {MEMORY_TARGET:g}x)")
    print("Both: SQLite in WAL mode, every commit synced to disk before it returns (closeloop: synchronous=NORMAL "
          "+ group commit's fdatasync of the log; SpiffWorkflow: synchronous=FULL)")
    print(f"load average (1, 5, 15 min): {load()}")
    reference = "SpiffWorkflow, same lifecycle on SQLite, same run"
    return [
        Figure(f"{GROUP}: SpiffWorkflow lifecycle items/s", median(theirs, "items_per_s"), "/s"),
        Figure(f"{GROUP}: closeloop lifecycle items/s", median(ours, "items_per_s"), "/s"),
        Figure(f"{GROUP}: closeloop items/s over SpiffWorkflow's", speed, "x", target=SPEED_TARGET,
               reference=reference),
        Figure(f"{GROUP}: SpiffWorkflow CPU per item", median(theirs, "cpu_ms_per_item"), "ms", better="lower"),
        Figure(f"{GROUP}: closeloop CPU per item", median(ours, "cpu_ms_per_item"), "ms", better="lower"),
        Figure(f"{GROUP}: SpiffWorkflow peak memory", median(theirs, "peak_mb"), "MB", better="lower"),
        Figure(f"{GROUP}: closeloop peak memory", median(ours, "peak_mb"), "MB", better="lower"),
        Figure(f"{GROUP}: closeloop peak memory over SpiffWorkflow's", memory, "x", target=MEMORY_TARGET,
               better="lower", reference=reference),
    ]


def main() -> None:
    """Measure both sides and print and report the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1000, help="items taken through the lifecycle per run")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each side (medians are reported)")
    args = parser.parse_args()
    print(f"{args.items} items x 6 steps per run, {args.rounds} runs a side; load average before: {load()}")
    report(*summarize(measure(args.items, args.rounds)))


if __name__ == "__main__":
    main()

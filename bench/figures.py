"""The figures a benchmark measured, in one shape, so that `make bench` can gather every benchmark's into one table.

A benchmark prints its own lines as it always has, and also calls ``report(Figure(...))`` for each figure that
has a target or that another figure is a ratio to. When ``CLOSELOOP_BENCH_FIGURES`` names a file (bench/table.py
sets it), each figure is appended to it as one JSON line; otherwise ``report`` does nothing, so a benchmark run
by hand prints only what it printed before.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass

ENV = "CLOSELOOP_BENCH_FIGURES"


@dataclass(frozen=True)
class Figure:
    """One measured figure: its value, its unit, the target it is held to and the figure it is a ratio of."""

    name: str  # what was measured, e.g. "HTTP transitions, SQLite, 32 clients"
    value: float
    unit: str  # "/s", "ms", "MB", "%", "µs", "x", "s"
    target: float | None = None  # None: a reference figure, printed for the ratios that use it
    better: str = "higher"  # "higher" or "lower": which side of the target meets it
    reference: str = ""  # what a ratio is taken against, in words ("hello-world GET /healthz, same run")
    group: str = ""  # the benchmark that measured it; bench/table.py fills it in

    def met(self) -> bool | None:
        """Whether the value meets the target (None when there is none)."""
        if self.target is None:
            return None
        return self.value >= self.target if self.better == "higher" else self.value <= self.target

    def shortfall(self) -> float:
        """How far the value is from its target, as a fraction of the target (0 when met)."""
        if self.target is None or self.met():
            return 0.0
        if self.better == "higher":
            return (self.target - self.value) / self.target
        return (self.value - self.target) / self.target


def store_name(dialect: str) -> str:
    """The store's name as figures print it: 'SQLite' or 'PostgreSQL'."""
    return {"sqlite": "SQLite", "postgresql": "PostgreSQL"}.get(dialect, dialect)


def report(*figures: Figure) -> None:
    """Append ``figures`` to the file CLOSELOOP_BENCH_FIGURES names, one JSON object a line (nothing when unset)."""
    path = os.environ.get(ENV)
    if not path:
        return
    with open(path, "a", encoding="utf-8") as out:
        for figure in figures:
            out.write(json.dumps(asdict(figure), ensure_ascii=False) + "\n")


def read(path: str) -> list[Figure]:
    """The figures a benchmark appended to ``path``, in order."""
    with open(path, encoding="utf-8") as lines:
        return [Figure(**json.loads(line)) for line in lines if line.strip()]

"""What each side of bench/vs_spiff.py measures in its own child process: rate, CPU and peak memory.

Only the standard library is imported here, so that neither side's figures carry the other's imports.
"""
from __future__ import annotations

import json
import resource
import sys
import time


def peak_mb() -> float:
    """This process's peak resident memory so far (ru_maxrss is in KiB on Linux), in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Meter:
    """Wall and CPU time of the measured loop, and the peak memory after imports and at the end."""

    def __init__(self) -> None:
        self.ready_mb = 0.0
        self._wall = self._cpu = 0.0

    def start(self) -> None:
        """Mark the end of start-up (imports, schema or spec loaded) and the start of the measured loop."""
        self.ready_mb = peak_mb()
        self._wall, self._cpu = time.perf_counter(), time.process_time()

    def stop(self, items: int, **extra) -> dict:
        """The figures of ``items`` lifecycles since start(), as a dict."""
        wall, cpu = time.perf_counter() - self._wall, time.process_time() - self._cpu
        return {"items": items, "seconds": wall, "items_per_s": items / wall, "cpu_ms_per_item": 1000 * cpu / items,
                "ready_mb": self.ready_mb, "peak_mb": peak_mb(), **extra}


def emit(figures: dict) -> None:
    """Hand the figures to the parent: one JSON line, the last on standard output."""
    sys.stdout.write(json.dumps(figures) + "\n")
    sys.stdout.flush()

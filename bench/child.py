"""Run a command as its own process and measure it: wall time, CPU time and peak resident memory.

The command is started by a small launcher that forks and execs it, not by the benchmark itself: Linux keeps the
larger of the old and the new image's peaks across exec, so a command started straight from a benchmark that holds
a large database or history would report the benchmark's peak instead of its own. The launcher is small.
"""
from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass

# Forks; the child sends its output to /dev/null and becomes the command; the parent prints the child's usage.
_LAUNCHER = ("import os, sys\npid = os.fork()\nif pid == 0:\n"
             "    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)\n    os.execv(sys.argv[1], sys.argv[1:])\n"
             "_pid, status, usage = os.wait4(pid, 0)\nprint(usage.ru_maxrss, usage.ru_utime + usage.ru_stime)\n"
             "sys.exit(os.waitstatus_to_exitcode(status))")


@dataclass(frozen=True)
class Measured:
    """What one run of a command cost."""

    wall: float  # seconds
    cpu: float  # seconds, user and system
    peak_mb: float  # peak resident memory


def run_measured(args: list[str], env: dict[str, str]) -> Measured:
    """Run ``args`` (an executable's path first) to completion with ``env``; its output is discarded."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _LAUNCHER, *args], env=env, capture_output=True, text=True,
                          check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({done.returncode}): {done.stderr[-2000:]}")
    kb, cpu = done.stdout.split()[-2:]
    return Measured(wall=wall, cpu=float(cpu), peak_mb=int(kb) / 1024)

"""Start `closeloop serve --workers N` for a benchmark and watch its processes (resident memory, CPU time).

Shared by bench/soak.py and bench/pg_http.py: each starts the server on a loopback port of its own, finds the
worker processes uvicorn spawned (not only the parent), reads their memory and CPU from /proc, and stops
what it started by its process id.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

CLOSELOOP = Path(sys.executable).with_name("closeloop")
TICKS = os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    """Resident memory of a process in MB (0 once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def children(pid: int) -> list[int]:
    """The direct children of a process (uvicorn's workers, a postmaster's backends)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, ValueError, IndexError):
                continue
    return found


def cpu_seconds(*pids: int, reaped: bool = False) -> float:
    """User plus system CPU time the processes have used so far (a process that is gone counts 0); with
    ``reaped``, also that of their children that have ended and been waited for."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # utime, stime, cutime, cstime: fields 14 to 17 of stat, counted from the state (field 3) here
        total += sum(int(value) for value in fields[11:15 if reaped else 13]) / TICKS
    return total


def healthy(base: str) -> bool:
    """Whether the server at ``base`` answers /healthz with 200."""
    try:
        return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def api_workers(parent: int) -> list[int]:
    """The worker processes of `closeloop serve --workers N` (its children but the multiprocessing resource tracker)."""
    found = []
    for pid in children(parent):
        try:
            if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(pid)
        except OSError:
            continue
    return found


def start_serve(port: int, env: dict[str, str], log, *, workers: int = 2, wait: float = 120) -> subprocess.Popen:
    """Start `closeloop serve --workers N --no-scheduler` on 127.0.0.1:``port``; return once every worker is up and
    /healthz answers (raise RuntimeError, the server killed, if it does not within ``wait`` seconds)."""
    proc = subprocess.Popen([str(CLOSELOOP), "serve", "--port", str(port), "--workers", str(workers), "--no-scheduler"],
                            env=env, stdout=log, stderr=log)
    deadline = time.monotonic() + wait
    while len(api_workers(proc.pid)) < workers or not healthy(f"http://127.0.0.1:{port}"):
        if time.monotonic() > deadline or proc.poll() is not None:
            stop(proc)
            raise RuntimeError(f"closeloop serve did not start on port {port} (see its log)")
        time.sleep(0.3)
    _settle(api_workers(proc.pid), deadline)
    return proc


def _settle(pids: list[int], deadline: float) -> None:
    """Wait until every worker's memory has stopped growing (/healthz answered by one says nothing of the
    others, which may still be importing), so that "after start" means after each worker started."""
    last: list[float] = []
    while time.monotonic() < deadline:
        now = [rss_mb(pid) for pid in pids]
        if last and all(abs(a - b) < 1 for a, b in zip(now, last)):
            return
        last = now
        time.sleep(1)


def stop(proc: subprocess.Popen, timeout: float = 30) -> None:
    """Stop a process we started: SIGTERM, then SIGKILL if it has not ended within ``timeout`` seconds."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

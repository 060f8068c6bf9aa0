"""Where an HTTP transition's time goes: CPU per thread, log syncs, checkpoints and event-loop lag.

Runs the same load as bench/transitions.py (report_progress from 32 keep-alive clients on a SQLite file,
durable commits, bounded WAL, checkpoints on) against a server started from this file, which times from
the outside, without changing what it runs:
  sync        each group-commit sync of the -wal (the system call plus winning the GIL back afterwards)
              and how many commits it covered
  checkpoint  each background checkpoint (PASSIVE, and RESTART past the WAL limit)
  loop lag    how late a 5 ms timer on the event loop fires (the loop busy with requests, or GIL waits)
  CPU         per thread of the server (Linux /proc), and of this process, the load generator
Run: .venv/bin/python bench/http_profile.py [--requests N]; `strace -f -T -e trace=fdatasync` on the
server separates the system call itself from the GIL wait.
"""
from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
_spec = importlib.util.spec_from_file_location("bench_transitions", HERE / "transitions.py")
bench = sys.modules["bench_transitions"] = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


def thread_cpu() -> dict[str, float]:
    """CPU seconds (user + system) used so far by each thread of this process, keyed 'name/tid'."""
    tick = os.sysconf("SC_CLK_TCK")
    python_names = {t.native_id: t.name for t in threading.enumerate()}
    out = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            stat = Path(f"/proc/self/task/{tid}/stat").read_text()
        except OSError:
            continue  # the thread ended meanwhile
        name = python_names.get(int(tid), stat[stat.index("(") + 1:stat.rindex(")")])
        fields = stat[stat.rindex(")") + 2:].split()
        out[f"{name}/{tid}"] = (int(fields[11]) + int(fields[12])) / tick
    return out


class Probe:
    """Timings gathered inside the server; reset on SIGUSR1, written as JSON on SIGTERM."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.syncs: list[float] = []
        self.covered: list[int] = []
        self.checkpoints: list[float] = []
        self.restarts: list[float] = []
        self.lag: list[float] = []
        self.reset()

    def reset(self) -> None:
        """Forget what was gathered (the warm-up) and start counting CPU from now."""
        for gathered in (self.syncs, self.covered, self.checkpoints, self.restarts, self.lag):
            gathered.clear()  # in place: the timers installed hold these lists
        self.cpu0, self.wall0 = thread_cpu(), time.monotonic()

    def install(self) -> None:
        """Wrap the group-commit sync and the checkpoints with timers."""
        from engine.store import sqlite as store_sqlite
        from engine.store import walsync

        def timed(record, fn, before=None):
            def wrapper(this, *args):
                if before is not None:
                    before(this)
                started = time.perf_counter()
                try:
                    return fn(this, *args)
                finally:
                    record.append(time.perf_counter() - started)
            return wrapper

        walsync.WalSync._sync = timed(self.syncs, walsync.WalSync._sync,
                                      lambda this: self.covered.append(this._committed - this._durable))
        store_sqlite.WalCheckpoints.run = timed(self.checkpoints, store_sqlite.WalCheckpoints.run)
        store_sqlite.WalCheckpoints._restart = timed(self.restarts, store_sqlite.WalCheckpoints._restart)

    async def watch_loop(self) -> None:
        """Record how late a 5 ms sleep wakes, for as long as the server runs."""
        while True:
            started = time.perf_counter()
            await asyncio.sleep(0.005)
            self.lag.append(time.perf_counter() - started - 0.005)

    def write(self) -> None:
        """Write what was gathered since the last reset."""
        cpu = thread_cpu()
        self.out.write_text(json.dumps({
            "syncs": self.syncs, "covered": self.covered, "checkpoints": self.checkpoints,
            "restarts": self.restarts, "lag": self.lag, "wall": time.monotonic() - self.wall0,
            "cpu": {k: v - self.cpu0.get(k, 0.0) for k, v in cpu.items()}}))


def serve_probed(port: int, out: Path) -> None:
    """`closeloop serve` as the CLI starts it (scheduler included), with the probe installed."""
    import gc

    import uvicorn

    from api.app import create_app
    from api.cli import _runtime
    from api.limits import server_options
    from engine.jobs import scheduler

    probe = Probe(out)
    probe.install()
    rt = _runtime()
    app = create_app(rt)
    app.state.scheduler = scheduler(rt)
    app.router.on_startup.append(app.state.scheduler.start)
    app.router.on_startup.append(lambda: asyncio.get_running_loop().create_task(probe.watch_loop()))
    signal.signal(signal.SIGUSR1, lambda *_: probe.reset())
    signal.signal(signal.SIGTERM, lambda *_: (probe.write(), os._exit(0)))
    gc.collect()
    gc.freeze()
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False,
                **server_options(rt.settings.max_header_bytes))


def _ms(values: list[float]) -> str:
    if not values:
        return "none"
    ordered = sorted(values)
    pick = lambda p: 1000 * ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]  # noqa: E731
    return (f"n={len(ordered)} mean {1000 * statistics.mean(ordered):.2f} ms, p50 {pick(50):.2f}, "
            f"p99 {pick(99):.2f}, max {1000 * ordered[-1]:.2f}, total {sum(ordered):.2f} s")


def report(stats: dict, load, load_cpu: float, requests: int) -> None:
    """Print the figures, CPU as milliseconds per request."""
    print(f"HTTP transitions: {load.rate:,.0f}/s  p50 {load.percentile(50):.1f} ms  p99 {load.percentile(99):.1f} ms  "
          f"statuses {dict(sorted(load.statuses.items()))}")
    print(f"sync of the -wal:  {_ms(stats['syncs'])}")
    if stats["covered"]:
        print(f"  commits per sync: mean {statistics.mean(stats['covered']):.1f}, max {max(stats['covered'])}")
    print(f"checkpoints:       {_ms(stats['checkpoints'])}")
    print(f"  RESTART:         {_ms(stats['restarts'])}")
    print(f"event-loop lag:    {_ms(stats['lag'])}")
    busy = {k: v for k, v in stats["cpu"].items() if v >= 0.01}
    print(f"server CPU over {stats['wall']:.1f} s: " + ", ".join(
        f"{k.split('/')[0]} {1000 * v / requests:.3f} ms/request" for k, v in sorted(busy.items(), key=lambda kv: -kv[1])))
    print(f"load generator CPU: {1000 * load_cpu / requests:.3f} ms/request")


def main() -> None:
    """Prepare a database, serve it probed, load it, print where the time went."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=10000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--serve", nargs=2, metavar=("PORT", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve_probed(int(args.serve[0]), Path(args.serve[1]))
        return
    with tempfile.TemporaryDirectory(prefix="closeloop-profile-") as tmp:
        db, out = Path(tmp) / "bench.db", Path(tmp) / "probe.json"
        rt, _doer, token, ids = bench.prepare(db, args.items)
        rt.store.dispose()
        port = bench._free_port()
        env = {**os.environ, "CLOSELOOP_DATABASE_URL": f"sqlite:///{db}"}
        proc = subprocess.Popen([sys.executable, __file__, "--serve", str(port), str(out)], env=env)
        try:
            bench.wait_for_port(proc, port)
            body = json.dumps({"trigger": "report_progress", "comment": "本周完成 3 所幼儿园扩班"}).encode()
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            requests = [bench.http_request("POST", f"/api/v1/items/{i}/transitions", headers, body) for i in ids]
            bench.run_load("127.0.0.1", port, lambda n: requests[n % len(requests)], total=500,
                           concurrency=args.concurrency)
            proc.send_signal(signal.SIGUSR1)
            time.sleep(0.2)
            started = os.times()
            load = bench.run_load("127.0.0.1", port, lambda n: requests[n % len(requests)], total=args.requests,
                                  concurrency=args.concurrency)
            ended = os.times()
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        report(json.loads(out.read_text()), load, ended.user + ended.system - started.user - started.system,
               args.requests)


if __name__ == "__main__":
    main()

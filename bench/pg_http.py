"""Transitions over HTTP on a durable PostgreSQL against pgbench on the same server, and the servers' memory
with 1,000,000 items in the database.

One run, loopback only, everything it starts stopped by its process id:
  1. a PostgreSQL server of its own, durable as in production (fsync and synchronous_commit on), holding
     closeloop's database filled with --items items (bench/seed.py; kept in --cache DIR between runs) and
     pgbench's database at --scale;
  2. `closeloop serve --workers 2` on closeloop's database: 2,000 items of a small unit tree put in
     'rectifying', then report_progress self-loops on them from 32 keep-alive clients (bench/loadgen.py);
  3. pgbench's TPC-B-like script with 8 clients and 2 threads, the reference;
in the order pgbench, closeloop, closeloop, pgbench (neither always on the warmer machine): each figure is the
two halves together. Printed besides: the CPU a transition costs in the server processes and in PostgreSQL,
PostgreSQL transactions per transition, and with --statements the statements per transition
(pg_stat_statements), and the resident memory (VmRSS) of each `closeloop serve` worker after start and after
the HTTP load.
Targets (issue 10): >= 800 transitions/s, >= 20% of pgbench's tps of the same run, p99 < 80 ms; each worker
under 200 MB at 1,000,000 items, and flat: at most 20 MB more after the HTTP load than after start.

Run: make bench-pg   (or .venv/bin/python bench/pg_http.py [--items N] [--cache DIR] [--requests N])
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
if str(HERE.parent) not in sys.path:
    sys.path.insert(0, str(HERE.parent))

from bench import pg_cluster  # noqa: E402
from bench.figures import Figure, report  # noqa: E402
from bench.loadgen import LoadResult, http_request, run_load  # noqa: E402
from bench.pg_work import StatementCount, prepare_work, transactions  # noqa: E402
from bench.serving import api_workers, cpu_seconds, rss_mb, start_serve, stop  # noqa: E402
from tests.helpers import free_port  # noqa: E402
from tests.pg_server import find_bindir  # noqa: E402

RATE_TARGET, RATIO_TARGET, P99_TARGET = 800.0, 20.0, 80.0
RSS_TARGET_MB, GROWTH_TARGET_MB = 200.0, 20.0
COMMENT = "本周完成 3 所幼儿园扩班，新增学位 240 个"


@dataclass
class HttpHalf:
    """One closeloop half of the run: the load's result and what it cost the servers."""

    load: LoadResult
    serve_cpu: float
    postgres_cpu: float
    client_cpu: float
    transactions: int


@dataclass
class Measured:
    """Everything one run measured."""

    pgbench: list[pg_cluster.PgbenchRun] = field(default_factory=list)
    http: list[HttpHalf] = field(default_factory=list)
    rss_start: dict[int, float] = field(default_factory=dict)
    rss_warm: dict[int, float] = field(default_factory=dict)
    rss_after: dict[int, float] = field(default_factory=dict)
    statements: list[tuple[float, float, str]] = field(default_factory=list)
    server_log: str = ""  # its end, kept when a request failed with a 5xx


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def http_half(filled: pg_cluster.Filled, port: int, requests: list[bytes], total: int, clients: int,
              workers: list[int]) -> HttpHalf:
    """Fire ``total`` transitions over ``clients`` keep-alive connections; measure the CPU and transactions."""
    serve_before, pg_before = cpu_seconds(*workers), pg_cluster.postgres_cpu(filled.server)
    xacts_before, client_before = transactions(filled.url), time.process_time()
    load = run_load("127.0.0.1", port, lambda n: requests[n % len(requests)], total=total, concurrency=clients)
    return HttpHalf(load, cpu_seconds(*workers) - serve_before, pg_cluster.postgres_cpu(filled.server) - pg_before,
                    time.process_time() - client_before, transactions(filled.url) - xacts_before - 1)


def measure(filled: pg_cluster.Filled, args: argparse.Namespace, folder: Path) -> Measured:
    """Start the API processes, then pgbench, closeloop, closeloop, pgbench; the workers' memory around it."""
    token, ids = prepare_work(filled.url, args.work_items)
    body = ('{"trigger": "report_progress", "comment": "%s"}' % COMMENT).encode()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    requests = [http_request("POST", f"/api/v1/items/{i}/transitions", headers, body) for i in ids]
    port = free_port()
    env = {**os.environ, "CLOSELOOP_DATABASE_URL": filled.url, "CLOSELOOP_ACCESS_LOG": "0",
           "CLOSELOOP_AUDIT_KEY_DIR": str(folder / "keys"), "CLOSELOOP_EVIDENCE_DIR": str(folder / "evidence")}
    counter = StatementCount(filled) if args.statements else None
    measured = Measured()
    with open(folder / "serve.log", "ab") as log:
        proc = start_serve(port, env, log, workers=args.workers)
        try:
            workers = api_workers(proc.pid)
            measured.rss_start = {pid: rss_mb(pid) for pid in workers}
            run_load("127.0.0.1", port, lambda n: requests[n % len(requests)], total=500, concurrency=args.clients)
            measured.rss_warm = {pid: rss_mb(pid) for pid in workers}
            half = args.requests // 2
            for step in ("pgbench", "closeloop", "closeloop", "pgbench"):
                if step == "pgbench":
                    measured.pgbench.append(pg_cluster.pgbench(filled.server, args.pgbench_clients, 2,
                                                               args.pgbench_seconds))
                    continue
                if counter is not None:
                    counter.reset()
                measured.http.append(http_half(filled, port, requests, half, args.clients, workers))
                if counter is not None:
                    measured.statements = counter.top(half)
            measured.rss_after = {pid: rss_mb(pid) for pid in workers}
        finally:
            stop(proc)
    if any(status >= 500 for half in measured.http for status in half.load.statuses):
        measured.server_log = (folder / "serve.log").read_text(errors="replace")[-4000:]  # the folder goes
    return measured


def combined(halves: list[HttpHalf]) -> LoadResult:
    """The two halves' load as one: every latency, every status, the time of both."""
    whole = LoadResult()
    for half in halves:
        whole.latencies += half.load.latencies
        whole.elapsed += half.load.elapsed
        for status, count in half.load.statuses.items():
            whole.statuses[status] = whole.statuses.get(status, 0) + count
    return whole


def publish(measured: Measured, filled: pg_cluster.Filled, args: argparse.Namespace) -> None:
    """Print the figures with their targets, and report those with a target or a ratio to bench/figures.py."""
    tps = sum(r.transactions for r in measured.pgbench) / sum(r.seconds for r in measured.pgbench)
    http = combined(measured.http)
    done = sum(h.load.statuses.get(200, 0) for h in measured.http)
    ratio = 100 * http.rate / tps
    at = f"{filled.items:,} items"
    print(f"\nuptime: {_uptime()}")
    print(f"pgbench TPC-B-like, {args.pgbench_clients} clients, -j 2, 2 x {args.pgbench_seconds} s:  {tps:9,.0f} tps  "
          f"(halves {', '.join(f'{r.tps:,.0f}' for r in measured.pgbench)}); PostgreSQL CPU "
          f"{1000 * sum(r.server_cpu for r in measured.pgbench) / sum(r.transactions for r in measured.pgbench):.2f} ms/txn")
    print(f"HTTP transitions, {args.workers} processes, {args.clients} clients, {at}:  {http.rate:9,.0f} /s  "
          f"p50 {http.percentile(50):.1f} ms  p99 {http.percentile(99):.1f} ms  = {ratio:.0f}% of pgbench  "
          f"(targets >= {RATE_TARGET:,.0f}/s, >= {RATIO_TARGET:.0f}%, p99 < {P99_TARGET:.0f} ms)")
    print(f"  halves {', '.join(f'{h.load.rate:,.0f}/s' for h in measured.http)}; "
          f"statuses {dict(sorted(http.statuses.items()))}")
    per = 1000 / max(done, 1)
    print(f"  CPU per transition: closeloop serve {per * sum(h.serve_cpu for h in measured.http):.2f} ms, "
          f"PostgreSQL {per * sum(h.postgres_cpu for h in measured.http):.2f} ms, load generator "
          f"{per * sum(h.client_cpu for h in measured.http):.2f} ms; PostgreSQL write transactions per transition "
          f"{sum(h.transactions for h in measured.http) / max(done, 1):.2f}")
    for calls, ms, query in measured.statements:
        print(f"    {calls:6.2f} per transition, {ms:5.2f} ms executing  {query}")
    growth = {pid: measured.rss_after[pid] - measured.rss_start[pid] for pid in measured.rss_start}
    for n, pid in enumerate(measured.rss_start, 1):
        print(f"  serve worker {n}: RSS {measured.rss_start[pid]:.0f} MB after start, {measured.rss_warm[pid]:.0f} MB "
              f"after 500 transitions, {measured.rss_after[pid]:.0f} MB after the load ({growth[pid]:+.0f} MB; "
              f"targets < {RSS_TARGET_MB:.0f} MB, growth <= {GROWTH_TARGET_MB:.0f} MB)")
    if done != sum(http.statuses.values()):
        print(f"  WARNING: only {done} of {sum(http.statuses.values())} transitions answered 200")
    if measured.server_log:
        print("  the end of the servers' log:\n" + measured.server_log)
    reference = f"pgbench TPC-B-like, {args.pgbench_clients} clients, same server, same run"
    report(Figure(f"pgbench TPC-B-like, {args.pgbench_clients} clients, PostgreSQL durable", tps, "/s"),
           Figure(f"HTTP transitions, PostgreSQL, {args.workers} processes, {args.clients} clients, {at}", http.rate,
                  "/s", RATE_TARGET),
           Figure(f"HTTP transitions / pgbench, PostgreSQL, {at}", ratio, "%", RATIO_TARGET, reference=reference),
           Figure(f"HTTP transitions p99, PostgreSQL, {at}", http.percentile(99), "ms", P99_TARGET, "lower"),
           Figure(f"serve worker RSS after start, {at} (largest)", max(measured.rss_start.values()), "MB",
                  RSS_TARGET_MB, "lower"),
           Figure(f"serve worker RSS after HTTP load, {at} (largest)", max(measured.rss_after.values()), "MB",
                  RSS_TARGET_MB, "lower"),
           Figure(f"serve worker RSS growth over HTTP load, {at} (largest)", max(growth.values()), "MB",
                  GROWTH_TARGET_MB, "lower"))


def main() -> int:
    """Fill (or copy) the durable server, run the halves, print and report the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000, help="items seeded into closeloop's database")
    parser.add_argument("--cache", type=Path, help="keep the filled cluster in this folder and reuse it")
    parser.add_argument("--scale", type=int, default=10, help="pgbench -i scale (default 10)")
    parser.add_argument("--pgbench-seconds", type=int, default=15, help="each of pgbench's two halves")
    parser.add_argument("--pgbench-clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=12_000, help="transitions over both closeloop halves")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2, help="closeloop serve --workers")
    parser.add_argument("--work-items", type=int, default=2000, help="items in 'rectifying' the clients move")
    parser.add_argument("--statements", action="store_true",
                        help="count statements per transition with pg_stat_statements (costs a little speed)")
    args = parser.parse_args()
    bindir = find_bindir()
    if bindir is None:
        print("PostgreSQL server binaries (initdb, pgbench) are needed", file=sys.stderr)
        return 2
    print(f"pg_http: PostgreSQL {bindir.parent.name} (durable), {args.items:,} items; uptime: {_uptime()}", flush=True)
    started = time.perf_counter()
    filled = pg_cluster.start_filled(bindir, args.items, args.scale, args.cache)
    try:
        how = "copied from the cache; seeding took" if filled.from_cache else "seeded in"
        print(f"  database ready in {time.perf_counter() - started:.0f} s ({how} {filled.seed_seconds:.0f} s)",
              flush=True)
        with tempfile.TemporaryDirectory(prefix="closeloop-bench-pg-") as folder:
            measured = measure(filled, args, Path(folder))
    finally:
        filled.server.stop()
    publish(measured, filled, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())

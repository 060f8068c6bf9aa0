"""How fast items move: fire() in-process on SQLite, and transitions per second through HTTP.

Prints, from one run on this machine:
  raw sqlite3   one UPDATE + one INSERT per transaction with plain sqlite3: on two bare tables, and on
                closeloop's own tables (same indexes and triggers), the floor any design on this schema pays;
                on closeloop's tables both without a sync and durable (synchronous=FULL: each commit's log
                synced before it returns, as fire() waits for its group commit's sync)
  fire()        the engine's whole transition in-process on a SQLite file, durable, and its ratio to durable
                raw sqlite3; the CPU each costs, and the ratio of those
  hello-world   GET /healthz through uvicorn (the framework's ceiling)
  HTTP          POST /transitions (report_progress, a self-loop) from 32 concurrent clients, with p50/p99
  WAL           the largest size of the -wal file during the HTTP run, and after it
Targets: fire() >= 40% of durable raw sqlite3 on closeloop's tables; HTTP >= 1,000 transitions/s, >= 40% of hello-world,
with p99 < 25 ms; the WAL stays bounded by CLOSELOOP_SQLITE_WAL_LIMIT_MB plus what arrives between two checkpoints.
Run: make bench   (or .venv/bin/python bench/transitions.py [--items N] [--requests N])
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

# This file shares its name with the `transitions` library: keep its own folder off the import path.
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(HERE.parent))
_spec = importlib.util.spec_from_file_location("loadgen", HERE / "loadgen.py")
loadgen = sys.modules["loadgen"] = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(loadgen)
http_request, run_load = loadgen.http_request, loadgen.run_load

from bench.figures import Figure, report  # noqa: E402
from engine import accounts, items, service  # noqa: E402
from engine.audit.actors import cli_actor  # noqa: E402
from engine.config import Settings  # noqa: E402
from engine.inputs import NewItem, TransitionRequest  # noqa: E402
from engine.runtime import Runtime  # noqa: E402
from engine.store import Store  # noqa: E402
from engine.store.migrate import migrate  # noqa: E402


def _raw_connection(path: Path, *, durable: bool = False) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    # NORMAL is the engine's setting too, but the engine then waits for a sync of the log (group commit);
    # FULL is plain sqlite3's way to the same promise: the log synced inside each commit.
    conn.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
    return conn


def raw_sqlite_minimal(folder: Path, count: int) -> float:
    """Txn/s of a read by key, a version-checked UPDATE and an INSERT on two bare tables with plain sqlite3."""
    conn = _raw_connection(folder / "raw.db")
    conn.execute("CREATE TABLE items (id TEXT PRIMARY KEY, state TEXT, version INTEGER)")
    conn.execute("CREATE TABLE history (id INTEGER PRIMARY KEY, item_id TEXT, seq INTEGER, body TEXT)")
    conn.executemany("INSERT INTO items VALUES (?, 'rectifying', 1)", [(f"i{n}",) for n in range(1000)])
    started = time.perf_counter()
    for n in range(count):
        key = f"i{n % 1000}"
        conn.execute("BEGIN IMMEDIATE")
        version = conn.execute("SELECT version FROM items WHERE id = ?", (key,)).fetchone()[0]
        conn.execute("UPDATE items SET version = ? WHERE id = ? AND version = ?", (version + 1, key, version))
        conn.execute("INSERT INTO history (item_id, seq, body) VALUES (?, ?, ?)", (key, version + 1, "x" * 300))
        conn.execute("COMMIT")
    rate = count / (time.perf_counter() - started)
    conn.close()
    return rate


def raw_sqlite_schema(db: Path, ids: list[str], count: int, *, durable: bool = False) -> tuple[float, float]:
    """The same transaction with plain sqlite3 on closeloop's own tables (a copy), indexes and triggers included:
    read the item by key, UPDATE its version and chain head, INSERT one history row. Txn/s and CPU µs each."""
    conn = _raw_connection(db, durable=durable)
    started, cpu = time.perf_counter(), time.process_time()
    for n in range(count):
        key = ids[n % len(ids)]
        conn.execute("BEGIN IMMEDIATE")
        version, seq = conn.execute("SELECT version, history_seq FROM items WHERE id = ?", (key,)).fetchone()
        conn.execute("UPDATE items SET version = ?, history_seq = ?, history_hash = ?, updated_at = ? "
                      "WHERE id = ? AND version = ?", (version + 1, seq + 1, f"{n:064d}", "2026-03-02 01:00:00.000000",
                                                       key, version))
        conn.execute("INSERT INTO history (item_id, seq, \"trigger\", from_state, to_state, actor, at, comment, "
                     "evidence, fields, prev_hash, hash) VALUES (?, ?, 'report_progress', 'rectifying', 'rectifying', "
                     "'doer', '2026-03-02T01:00:00.000000Z', ?, '[]', '{}', ?, ?)",
                     (key, seq + 1, "本周完成 3 所幼儿园扩班，新增学位 240 个", f"{n:064d}", f"{n + 1:064d}"))
        conn.execute("COMMIT")
    rate, cpu_each = count / (time.perf_counter() - started), 1e6 * (time.process_time() - cpu) / count
    conn.close()
    return rate, cpu_each


OPERATOR = cli_actor()


def prepare(db: Path, n_items: int) -> tuple[Runtime, accounts.Actor, str, list[str]]:
    """A migrated database with one unit tree, an assignee and ``n_items`` items in 'rectifying'."""
    settings = Settings(database_url=f"sqlite:///{db}")  # the rest from CLOSELOOP_*, as the server reads them
    store = Store.for_settings(settings)
    migrate(store)
    rt = Runtime.open(settings, store=store)
    with rt.store.write() as conn:
        accounts.add_unit(conn, clock=rt.clock, actor=OPERATOR, code="CITY", name="市")
        accounts.add_unit(conn, clock=rt.clock, actor=OPERATOR, code="EDU", name="市教委", parent="CITY")
        accounts.add_user(conn, clock=rt.clock, actor=OPERATOR, username="sup", roles=["supervisor", "registrar"], unit="CITY")
        _, token = accounts.add_user(conn, clock=rt.clock, actor=OPERATOR, username="doer", roles=["assignee"], unit="EDU")
        sup = accounts.authenticate(conn, accounts.issue_token(conn, clock=rt.clock, actor=OPERATOR, user_id=1))
        doer = accounts.authenticate(conn, token)
        ids = []
        for n in range(n_items):
            row, _ = items.create_item(conn, rt, sup, NewItem.model_validate(
                {"title": f"婴幼儿托位供给不足 {n}", "source": "inspection", "unit": "EDU", "assignee": "doer",
                 "due_date": "2027-06-30"}))
            service.fire(conn, rt, item_ref=row["id"], actor=sup, request=TransitionRequest(trigger="assign"))
            service.fire(conn, rt, item_ref=row["id"], actor=doer, request=TransitionRequest(trigger="accept"))
            ids.append(row["id"])
    return rt, doer, token, ids


def fire_rate(rt: Runtime, actor: accounts.Actor, ids: list[str], count: int) -> tuple[float, float]:
    """Transitions/s of service.fire_once (its own durable transaction each) on the SQLite file, and CPU µs each.

    The CPU is the whole process's: the group commit's sync thread and the checkpoints' included.
    """
    request = TransitionRequest(trigger="report_progress", comment="本周完成 3 所幼儿园扩班，新增学位 240 个")
    started, cpu = time.perf_counter(), time.process_time()
    for n in range(count):
        service.fire_once(rt, item_ref=ids[n % len(ids)], actor=actor, request=request)
    return count / (time.perf_counter() - started), 1e6 * (time.process_time() - cpu) / count


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(db: Path, port: int) -> subprocess.Popen:
    """Start `closeloop serve` on the benchmark database; return once /healthz answers."""
    env = {**os.environ, "CLOSELOOP_DATABASE_URL": f"sqlite:///{db}"}
    closeloop = Path(sys.executable).with_name("closeloop")
    proc = subprocess.Popen([str(closeloop), "serve", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_for_port(proc, port)
    return proc


def wait_for_port(proc: subprocess.Popen, port: int) -> None:
    """Return once the server ``proc`` accepts connections on ``port``; kill it if it never does."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    proc.kill()
    stderr = proc.stderr.read().decode()[-2000:] if proc.stderr else ""
    raise RuntimeError("the server did not start: " + stderr)


class FileWatch:
    """Samples a file's size on a thread (the SQLite -wal while the server is loaded); keeps the largest."""

    def __init__(self, path: Path) -> None:
        self.path, self.largest, self._stop = path, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def size(self) -> int:
        """The file's size now (0 if it does not exist)."""
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.largest = max(self.largest, self.size())

    def stop(self) -> int:
        """Stop sampling; the largest size seen."""
        self._stop.set()
        self._thread.join()
        return max(self.largest, self.size())


def main() -> None:
    """Run every measurement and print the figures with their targets."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--fires", type=int, default=5000)
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="closeloop-bench-") as tmp:
        folder = Path(tmp)
        raw_min = raw_sqlite_minimal(folder, args.fires)
        rt, doer, token, ids = prepare(folder / "bench.db", args.items)
        rt.store.dispose()
        shutil.copy(folder / "bench.db", folder / "raw-schema.db")
        raw_nosync, raw_cpu = raw_sqlite_schema(folder / "raw-schema.db", ids, args.fires)
        raw, _ = raw_sqlite_schema(folder / "raw-schema.db", ids, args.fires, durable=True)
        fired, fire_cpu = fire_rate(rt, doer, ids, args.fires)
        rt.store.dispose()
        port = _free_port()
        proc = serve(folder / "bench.db", port)
        try:
            hello = run_load("127.0.0.1", port, lambda n: http_request("GET", "/healthz", {}),
                             total=args.requests, concurrency=args.concurrency)
            body = json.dumps({"trigger": "report_progress", "comment": "本周完成 3 所幼儿园扩班"}).encode()
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            requests = [http_request("POST", f"/api/v1/items/{i}/transitions", headers, body) for i in ids]
            run_load("127.0.0.1", port, lambda n: requests[n % len(requests)], total=500, concurrency=args.concurrency)
            wal = FileWatch(folder / "bench.db-wal")
            http = run_load("127.0.0.1", port, lambda n: requests[n % len(requests)], total=args.requests,
                            concurrency=args.concurrency)
            wal_largest, wal_after = wal.stop(), wal.size()
            db_size = (folder / "bench.db").stat().st_size
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
    ok = http.statuses.get(200, 0)
    print(f"raw sqlite3, bare two-table schema:         {raw_min:9,.0f} txn/s  (read + update + insert per txn)")
    print(f"raw sqlite3, closeloop's tables, no sync:   {raw_nosync:9,.0f} txn/s  (same work, real indexes and triggers)"
          f"  {raw_cpu:.0f} µs CPU each")
    print(f"raw sqlite3, closeloop's tables, durable:   {raw:9,.0f} txn/s  (synchronous=FULL)")
    print(f"fire() in-process, SQLite file, durable:    {fired:9,.0f} transitions/s  = {fired / raw:.0%} of durable raw "
          f"on closeloop's tables (target >= 40%), {fired / raw_nosync:.0%} of raw without a sync; "
          f"{fire_cpu:.0f} µs CPU each, {raw_cpu / fire_cpu:.0%} of raw's CPU")
    print(f"hello-world GET /healthz, {args.concurrency} clients:       {hello.rate:9,.0f} req/s  "
          f"p50 {hello.percentile(50):.1f} ms  p99 {hello.percentile(99):.1f} ms")
    print(f"HTTP transitions, {args.concurrency} clients:               {http.rate:9,.0f} transitions/s  "
          f"p50 {http.percentile(50):.1f} ms  p99 {http.percentile(99):.1f} ms  p99.9 {http.percentile(99.9):.1f} ms  "
          f"max {1000 * max(http.latencies):.1f} ms  (target >= 1,000/s, p99 < 25 ms)")
    print(f"  statuses: {dict(sorted(http.statuses.items()))}; HTTP/hello-world ratio {http.rate / hello.rate:.0%}")
    mb = 1024 * 1024
    print(f"  SQLite file {db_size / mb:.1f} MB; -wal at most {wal_largest / mb:.1f} MB during the run, "
          f"{wal_after / mb:.1f} MB after (CLOSELOOP_SQLITE_WAL_LIMIT_MB={Settings().sqlite_wal_limit_mb:g})")
    limit_mb = Settings().sqlite_wal_limit_mb
    raw_ref, hello_ref = "durable raw sqlite3 on closeloop's tables, same run", "hello-world GET /healthz, same run"
    report(Figure("raw sqlite3 on closeloop's tables, no sync", raw_nosync, "txn/s"),
           Figure("raw sqlite3 on closeloop's tables, durable", raw, "txn/s"),
           Figure("fire() in-process, SQLite, durable", fired, "transitions/s"),
           Figure("fire() / durable raw sqlite3", 100 * fired / raw, "%", target=40, reference=raw_ref),
           # What the engine costs beyond SQLite's own work, the sync aside: a ratio of CPU per transaction.
           Figure("raw sqlite3 CPU / fire() CPU", 100 * raw_cpu / fire_cpu, "%"),
           Figure("fire() CPU per transition", fire_cpu, "µs", better="lower"),
           Figure(f"hello-world GET /healthz, {args.concurrency} clients", hello.rate, "req/s"),
           # The framework's own tail with this many clients on this machine: what a transition's p99 stands on.
           Figure("hello-world GET /healthz p99", hello.percentile(99), "ms", better="lower"),
           Figure(f"HTTP transitions, SQLite, {args.concurrency} clients", http.rate, "/s", target=1000),
           Figure("HTTP transitions / hello-world, SQLite", 100 * http.rate / hello.rate, "%", target=40,
                  reference=hello_ref),
           # With N clients always waiting, the mean latency is N / rate (Little's law): p99 can be no lower.
           Figure("HTTP transitions p50, SQLite", http.percentile(50), "ms", better="lower"),
           Figure("HTTP transitions p99, SQLite", http.percentile(99), "ms", target=25, better="lower"),
           # Bounded: the limit, plus what arrives while a checkpoint runs (a few seconds of writes at most).
           Figure("SQLite -wal at most, during HTTP", wal_largest / mb, "MB", target=2 * limit_mb, better="lower",
                  reference=f"CLOSELOOP_SQLITE_WAL_LIMIT_MB={limit_mb:g}"),
           Figure("HTTP transitions answered 200", 100 * ok / args.requests, "%", target=100))
    if ok != args.requests:
        print(f"  WARNING: only {ok} of {args.requests} transitions answered 200")


if __name__ == "__main__":
    main()

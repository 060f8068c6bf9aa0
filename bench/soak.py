"""A bounded soak: mixed load for ten minutes against 2 API processes and 1 worker on a durable PostgreSQL.

Everything runs on 127.0.0.1 and stops by itself: a PostgreSQL server of its own (fsync and synchronous commit
on, as in production), `closeloop serve --workers 2 --no-scheduler`, `closeloop worker` sweeping and delivering
to a webhook receiver, and 32 clients that register items and drive them to closure (assign, accept, progress,
submit, approve, close), read lists, items, histories and inboxes, and post comments. It prints, every minute and
at the end: requests by status (zero 5xx is the target), transitions, reminders issued, deliveries, and the
resident memory of each server process (flat is the target: the last minute against the second). At the end the
history must replay to exactly the current states (`closeloop audit verify`), and the outbox must be drained.
Exit status 0 when every target holds.

Run: make soak    (or .venv/bin/python bench/soak.py [--seconds 600] [--clients 32])
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import datetime as dt
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(HERE.parent))

import httpx  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from bench.serving import api_workers as serve_workers  # noqa: E402
from bench.serving import children, healthy, rss_mb  # noqa: E402
from engine.clock import SystemClock  # noqa: E402
from engine.config import Settings  # noqa: E402
from engine.runtime import Runtime  # noqa: E402
from engine.store import Store  # noqa: E402
from tests.helpers import DRIVER, build_world, free_port, path_to, payload  # noqa: E402
from tests.pg_server import PostgresServer, find_bindir  # noqa: E402
from tests.receivers import receiver  # noqa: E402

CLOSELOOP = Path(sys.executable).with_name("closeloop")
UNITS = ("DEPT-A", "DEPT-B")
ASSIGNEE = {"DEPT-A": "asg_a", "DEPT-B": "asg_b"}
GROWTH_LIMIT = 0.15  # the last minute's memory may exceed the second minute's by this fraction at most


class Tally:
    """What the clients did and got."""

    def __init__(self) -> None:
        self.statuses: collections.Counter = collections.Counter()
        self.kinds: collections.Counter = collections.Counter()
        self.closed = 0
        self.failures: list[str] = []

    def note(self, kind: str, response: httpx.Response) -> None:
        self.kinds[kind] += 1
        self.statuses[response.status_code] += 1
        if response.status_code >= 500 and len(self.failures) < 20:
            self.failures.append(f"{kind} {response.request.method} {response.request.url.path}: "
                                 f"{response.status_code} {response.text[:200]}")


async def client_loop(n: int, base: str, world, wf, tally: Tally, deadline: float, known: list[str]) -> None:
    """Drive items of one unit to closure, mixing in reads and comments, until the deadline."""
    chance = random.Random(n)
    unit = UNITS[n % 2]
    today = dt.date.today()
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        while time.monotonic() < deadline:
            made = await http.post("/api/v1/items", headers=world.h("reg"), json={
                "title": f"第{n}组 巡察发现问题 {chance.randrange(10**6)}", "source": "inspection", "unit": unit,
                "assignee": ASSIGNEE[unit], "description": "整改期限内未完成 🚧"})
            tally.note("register", made)
            if made.status_code != 201:
                continue
            item = made.json()
            known.append(item["id"])
            for tdef in path_to(wf, "closed"):
                while chance.random() < 0.5 and time.monotonic() < deadline:  # reads between the steps
                    await read(http, world, chance, known, tally)
                body = payload(tdef, today + dt.timedelta(days=chance.choice((-20, 1, 2, 30))), item)
                actor = ASSIGNEE[unit] if tdef.roles[0] == "assignee" else DRIVER[tdef.roles[0]]
                fired = await http.post(f"/api/v1/items/{item['id']}/transitions", headers=world.h(actor),
                                        json=body)
                tally.note("transition", fired)
                if fired.status_code != 200:
                    break
                item = fired.json()
            else:
                tally.closed += 1


async def read(http: httpx.AsyncClient, world, chance: random.Random, known: list[str], tally: Tally) -> None:
    """One read a supervisor, an auditor or an assignee would make."""
    pick = chance.random()
    if pick < 0.35:
        tally.note("list", await http.get("/api/v1/items", params={"limit": 20}, headers=world.h("sup")))
    elif pick < 0.7 and known:
        tally.note("item", await http.get(f"/api/v1/items/{chance.choice(known)}", headers=world.h("aud")))
    elif pick < 0.85 and known:
        tally.note("history", await http.get(f"/api/v1/items/{chance.choice(known)}/history",
                                             headers=world.h("aud")))
    else:
        tally.note("inbox", await http.get("/api/v1/me/reminders", headers=world.h(chance.choice(("asg_a", "sup")))))


async def load(base: str, world, wf, clients: int, seconds: float, watched: dict[str, int], tally: Tally,
               memory: dict[str, list[float]]) -> None:
    """Run the clients, sampling memory every 10 s and printing a line every minute."""
    deadline = time.monotonic() + seconds
    known: list[str] = []
    tasks = [asyncio.create_task(client_loop(n, base, world, wf, tally, deadline, known)) for n in range(clients)]
    started = time.monotonic()
    while not all(task.done() for task in tasks):
        await asyncio.sleep(10)
        for name, pid in watched.items():
            memory[name].append(rss_mb(pid))
        elapsed = time.monotonic() - started
        if int(elapsed) // 60 != int(elapsed - 10) // 60:
            print(f"  {elapsed / 60:4.1f} min: {sum(tally.statuses.values()):,} requests {dict(tally.statuses)}, "
                  f"{tally.closed} items closed; RSS MB " +
                  ", ".join(f"{name} {series[-1]:.0f}" for name, series in memory.items()), flush=True)
    for task in tasks:
        task.result()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--clients", type=int, default=32)
    args = parser.parse_args()
    bindir = find_bindir()
    if bindir is None:
        print("PostgreSQL server binaries (initdb) are needed", file=sys.stderr)
        return 2
    folder = Path(tempfile.mkdtemp(prefix="closeloop-soak-"))
    pg = PostgresServer(bindir, durable=True)
    processes: list[subprocess.Popen] = []
    try:
        pg.start()
        url = pg.migrated_database("soak")
        rt = Runtime.open(Settings(database_url=url))
        world = build_world(rt)
        wf = rt.registry.current("standard").definition
        rt.store.dispose()
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {**os.environ, "CLOSELOOP_DATABASE_URL": url, "CLOSELOOP_ALLOW_PRIVATE_WEBHOOKS": "1",
               "CLOSELOOP_SWEEP_INTERVAL_SECONDS": "5", "CLOSELOOP_DELIVERY_INTERVAL_SECONDS": "2",
               "CLOSELOOP_ACCESS_LOG": "0", "CLOSELOOP_DB_POOL_SIZE": "10", "CLOSELOOP_DB_MAX_OVERFLOW": "10",
               "CLOSELOOP_AUDIT_KEY_DIR": str(folder / "keys"), "CLOSELOOP_EVIDENCE_DIR": str(folder / "evidence")}
        log = open(folder / "processes.log", "ab")
        processes.append(subprocess.Popen([str(CLOSELOOP), "serve", "--port", str(port), "--workers", "2",
                                           "--no-scheduler"], env=env, stdout=log, stderr=log))
        processes.append(subprocess.Popen([str(CLOSELOOP), "worker"], env=env, stdout=log, stderr=log))
        deadline = time.monotonic() + 120
        while len(children(processes[0].pid)) < 3 or not healthy(base):  # 2 workers + the resource tracker
            if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
                print((folder / "processes.log").read_text()[-3000:], file=sys.stderr)
                return 2
            time.sleep(0.5)
        with receiver(SystemClock()) as hook:
            made = httpx.post(f"{base}/api/v1/webhooks", headers=world.h("adm"), json={
                "url": hook.url + "/soak", "kind": "generic",
                "events": ["item.transitioned", "reminder.due_soon", "reminder.overdue", "escalation.issued"]})
            assert made.status_code == 201, made.text
            api_workers = serve_workers(processes[0].pid)
            watched = {**{f"api-{n + 1}": pid for n, pid in enumerate(api_workers)}, "worker": processes[1].pid}
            memory: dict[str, list[float]] = {name: [] for name in watched}
            tally = Tally()
            print(f"soak: {args.clients} clients for {args.seconds:.0f} s against {base} (2 API processes, "
                  f"1 worker) on PostgreSQL {pg.port} (durable), folder {folder}", flush=True)
            started = time.monotonic()
            asyncio.run(load(base, world, wf, args.clients, args.seconds, watched, tally, memory))
            took = time.monotonic() - started
            drained = _drain(url, 120)
            received = len(hook.got)
        for proc in processes:
            proc.send_signal(signal.SIGTERM)
        for proc in processes:
            proc.wait(timeout=30)
        status = report(url, tally, memory, took, drained, received)
        if status == 0:
            shutil.rmtree(folder, ignore_errors=True)  # kept when something failed: processes.log says what
        else:
            print(f"processes' log: {folder / 'processes.log'}")
        return status
    finally:
        for proc in processes:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        pg.stop()


def _drain(url: str, seconds: float) -> bool:
    """Wait until the worker has dispatched the outbox and settled every delivery."""
    store = Store(url)
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with store.read() as conn:
                left = conn.execute(sa.text("SELECT (SELECT count(*) FROM outbox WHERE dispatched_at IS NULL) + "
                                            "(SELECT count(*) FROM deliveries WHERE status = 'pending')")).scalar()
            if left == 0:
                return True
            time.sleep(1)
        return False
    finally:
        store.dispose()


def report(url: str, tally: Tally, memory: dict[str, list[float]], took: float, drained: bool,
           received: int) -> int:
    """Print the figures and the verdict; 0 when zero 5xx, memory flat, history replays and outbox drained."""
    store = Store(url)
    with store.read() as conn:
        mismatched = conn.execute(sa.text(
            "SELECT count(*) FROM items i JOIN history h ON h.item_id = i.id AND h.seq = i.history_seq "
            "WHERE h.to_state <> i.state OR i.version <> i.history_seq")).scalar()
        items, records = (conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar() for t in ("items", "history"))
        notices = conn.execute(sa.text("SELECT count(*) FROM notices")).scalar()
    store.dispose()
    verified = subprocess.run([str(CLOSELOOP), "audit", "verify"], env={**os.environ, "CLOSELOOP_DATABASE_URL": url},
                              capture_output=True, text=True)
    server_errors = sum(n for status, n in tally.statuses.items() if status >= 500)
    requests = sum(tally.statuses.values())
    print(f"\nsoak over {took:.0f} s: {requests:,} requests ({requests / took:,.0f}/s) {dict(tally.kinds)}")
    print(f"  statuses {dict(sorted(tally.statuses.items()))}: {server_errors} server errors (target 0)")
    print(f"  {items:,} items ({tally.closed:,} closed by the clients), {records:,} history records, {notices:,} "
          f"reminders and escalations, {received:,} webhook deliveries received; outbox drained: {drained}")
    flat = True
    for name, series in memory.items():
        if len(series) >= 12:
            second, last = max(series[6:12]), max(series[-6:])
            grew = (last - second) / second if second else 0.0
            flat &= grew <= GROWTH_LIMIT
            print(f"  {name}: RSS {series[0]:.0f} MB at 10 s, {second:.0f} MB in minute 2, {last:.0f} MB in the "
                  f"last minute ({grew:+.0%}, limit +{GROWTH_LIMIT:.0%})")
        else:
            print(f"  {name}: RSS {', '.join(f'{v:.0f}' for v in series)} MB (too short a run to judge growth)")
    print(f"  history replays to the current states: {mismatched} items disagree; `closeloop audit verify`: "
          f"{'ok' if verified.returncode == 0 else 'FAILED'}")
    for failure in tally.failures:
        print("  5xx:", failure)
    ok = server_errors == 0 and flat and mismatched == 0 and verified.returncode == 0 and drained
    print("result:", "ok" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""`closeloop serve` killed with SIGKILL at random moments while clients fire transitions, then restarted.

On each store: 8 clients fire 1,000 transitions in all (CLOSELOOP_CRASH_TRANSITIONS) against a server with its
sweep and its webhook delivery running; it is SIGKILLed four times (one per 250 transitions) after a random
number of acknowledged transitions, at a random moment of the work in flight, and restarted each time. Afterwards: every transition that got a 2xx is in the history (and at most the
requests cut off mid-flight besides); every item's row agrees with its chain and every chain verifies; the
outbox holds exactly one event per history record; every event reached the webhook receiver, a resent one under
its first webhook-id with the same body; no reminder exists twice.
"""
from __future__ import annotations

import collections
import datetime as dt
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import orjson
import pytest
import sqlalchemy as sa

from engine.clock import ManualClock, SystemClock
from engine.config import Settings
from engine.runtime import Runtime
from engine.store import Store
from tests.conftest import WORLD_COPIED, new_database
from tests.delivery_support import drain
from tests.helpers import audit_verify_command, free_port
from tests.receivers import receiver

CLOSELOOP = Path(sys.executable).with_name("closeloop")
TOTAL = int(os.environ.get("CLOSELOOP_CRASH_TRANSITIONS", "1000"))
CLIENTS = 8
KILLS = max(2, TOTAL // 250)
START_TIMEOUT_S = 90


class Server:
    """`closeloop serve` on a fixed port, started and SIGKILLed by its process id."""

    def __init__(self, env: dict, port: int, log: Path) -> None:
        self.env, self.port, self.log = env, port, log
        self.base = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen | None = None
        self.up = threading.Event()

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen([str(CLOSELOOP), "serve", "--port", str(self.port)], env=self.env,
                                         stdout=subprocess.DEVNULL, stderr=out)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()[-3000:]
            try:
                if httpx.get(f"{self.base}/healthz", timeout=2).status_code == 200:
                    self.up.set()
                    return
            except httpx.TransportError:
                time.sleep(0.05)  # polling a starting process
        pytest.fail("the server did not start:\n" + self.log.read_text()[-3000:])

    def kill(self) -> None:
        self.up.clear()
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Clients:
    """Threads firing report_progress on an item each until ``TOTAL`` are acknowledged in all."""

    def __init__(self, server: Server, token: str, items: list[str]) -> None:
        self.server, self.token, self.items = server, token, items
        self.acknowledged = collections.Counter()
        self.cut_off = collections.Counter()  # requests whose answer never came: committed or not
        self.statuses = collections.Counter()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, args=(item,)) for item in items]

    def total(self) -> int:
        return sum(self.acknowledged.values())

    def _run(self, item: str) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        http = httpx.Client(base_url=self.server.base, timeout=30)
        while self.total() < TOTAL:
            if not self.server.up.wait(timeout=START_TIMEOUT_S):
                return
            try:
                response = http.post(f"/api/v1/items/{item}/transitions", headers=headers,
                                     json={"trigger": "report_progress", "comment": "本周进展 ✅"})
            except httpx.TransportError:
                with self.lock:
                    self.cut_off[item] += 1
                http.close()
                http = httpx.Client(base_url=self.server.base, timeout=30)
                time.sleep(0.02)  # the server is gone: wait for the restart without spinning
                continue
            with self.lock:
                self.statuses[response.status_code] += 1
                if response.status_code == 200:
                    self.acknowledged[item] += 1
        http.close()


def _prepare(base: str, world) -> list[str]:
    """Eight items in rectifying, due in two days (so the sweep has reminders to issue), and a webhook."""
    due = (dt.date.today() + dt.timedelta(days=2)).isoformat()
    items = []
    with httpx.Client(base_url=base, timeout=30) as http:
        for n in range(CLIENTS):
            made = http.post("/api/v1/items", headers=world.h("reg"), json={
                "title": f"电梯年检逾期 {n}", "source": "inspection", "unit": "DEPT-A", "assignee": "asg_a"})
            assert made.status_code == 201, made.text
            for body, who in (({"trigger": "assign", "fields": {"due_date": due, "measures": "立即停用并检修"}}, "sup"),
                              ({"trigger": "accept"}, "asg_a")):
                fired = http.post(f"/api/v1/items/{made.json()['id']}/transitions", headers=world.h(who), json=body)
                assert fired.status_code == 200, fired.text
            items.append(made.json()["id"])
    return items


def _deliver_the_rest(db_url: str) -> None:
    """Deliver what the killed processes left leased, as a worker would once their leases ran out: the clock
    moved past every lease instead of waiting minutes for it."""
    clock = ManualClock(dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=2))
    rt = Runtime.open(Settings(database_url=db_url, allow_private_webhooks=True), clock=clock)
    try:
        drain(rt, clock)
        with rt.store.read() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM outbox WHERE dispatched_at IS NULL")).scalar() == 0
            left = conn.execute(sa.text("SELECT count(*) FROM deliveries WHERE status <> 'delivered'")).scalar()
        assert left == 0, f"{left} deliveries not delivered"
    finally:
        rt.store.dispose()


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_sigkill_under_load_loses_nothing_acknowledged(request, tmp_path, kind):
    seed = int(os.environ.get("CLOSELOOP_CRASH_SEED", random.randrange(1 << 30)))
    chance = random.Random(seed)
    db_url = new_database(request, kind, tmp_path, with_world=True)
    world = request.node.stash[WORLD_COPIED]
    env = {**os.environ, "CLOSELOOP_DATABASE_URL": db_url, "CLOSELOOP_ALLOW_PRIVATE_WEBHOOKS": "1",
           "CLOSELOOP_DELIVERY_INTERVAL_SECONDS": "1", "CLOSELOOP_SWEEP_INTERVAL_SECONDS": "1",
           "CLOSELOOP_ACCESS_LOG": "0"}
    server = Server(env, free_port(), tmp_path / "serve.log")
    request.addfinalizer(server.stop)
    store = Store(db_url)
    request.addfinalizer(store.dispose)
    with receiver(SystemClock()) as hook:
        server.start()
        items = _prepare(server.base, world)
        with httpx.Client(base_url=server.base, timeout=30) as http:
            made = http.post("/api/v1/webhooks", headers=world.h("adm"), json={
                "url": hook.url + "/hook", "kind": "generic", "events": ["item.transitioned"]})
            assert made.status_code == 201, made.text
        clients = Clients(server, world.tokens["asg_a"], items)
        for thread in clients.threads:
            thread.start()
        kills, started = 0, time.monotonic()
        # A kill after a random share of the transitions (so there are some however fast the machine), at a
        # random moment of the work then in flight: mid-request, mid-commit, mid-sweep, mid-delivery.
        for threshold in sorted(chance.sample(range(100, TOTAL - 50), KILLS)):
            while clients.total() < threshold:
                time.sleep(0.002)
            time.sleep(chance.uniform(0, 0.05))
            server.kill()
            kills += 1
            server.start()
        for thread in clients.threads:
            thread.join(120)
        server.stop()
        load_seconds = time.monotonic() - started
        _deliver_the_rest(db_url)
        received = list(hook.got)
    assert kills == KILLS
    assert set(clients.statuses) <= {200, 503}, clients.statuses  # 503 while a restart holds the lock, never 500

    with store.read() as conn:
        progress = dict(conn.execute(sa.text(
            "SELECT item_id, count(*) FROM history WHERE trigger = 'report_progress' GROUP BY item_id")).all())
        records = {(r.item_id, r.seq) for r in conn.execute(sa.text("SELECT item_id, seq FROM history WHERE seq > 1"))}
        events = [orjson.loads(p) for (p,) in conn.execute(sa.text(
            "SELECT payload FROM outbox WHERE event = 'item.transitioned'"))]
        twice = conn.execute(sa.text("SELECT count(*) FROM (SELECT key FROM notices GROUP BY key "
                                     "HAVING count(*) > 1) AS doubled")).scalar()
        notices = conn.execute(sa.text("SELECT count(*) FROM notices")).scalar()
    for item in items:  # every acknowledged transition is there; besides them, at most those cut off
        assert clients.acknowledged[item] <= progress.get(item, 0) <= clients.acknowledged[item] + clients.cut_off[item]
    assert audit_verify_command(db_url).returncode == 0  # rows agree with their chains; every chain verifies
    assert len(events) == len(records) and {(e["item"], e["seq"]) for e in events} == records
    assert twice == 0 and notices >= len(items)  # each item's due-soon reminder, issued once
    by_id = collections.defaultdict(set)
    for got in received:
        by_id[got.headers["webhook-id"]].add(got.body)
    delivered = {(data["item"], data["seq"]) for data in
                 (orjson.loads(next(iter(bodies)))["data"] for bodies in by_id.values())}
    progress_records = {(r["item"], r["seq"]) for r in events if r["trigger"] == "report_progress"}
    assert progress_records <= delivered, "every event since the webhook was added reached the receiver"
    assert len(delivered) == len(by_id), "one webhook-id per event"
    assert all(len(bodies) == 1 for bodies in by_id.values()), "a resent event kept its id and its body"
    resent = len(received) - len(by_id)
    print(f"\ncrash ({kind}, seed {seed}): {kills} SIGKILLs during {clients.total()} acknowledged transitions "
          f"from {CLIENTS} clients; {sum(clients.cut_off.values())} requests cut off; statuses "
          f"{dict(clients.statuses)}; {len(delivered)} events delivered ({resent} resent under their first id); "
          f"{notices} reminders, none twice; acknowledged and lost: 0; {load_seconds:.0f} s")

"""`closeloop serve --workers 2` on PostgreSQL: two processes share the port and the database, every request
is answered, and /metrics of whichever worker answers counts the work of both."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import WORLD_COPIED, new_database
from tests.helpers import free_port

CLOSELOOP = Path(sys.executable).with_name("closeloop")
ASSIGN = {"trigger": "assign", "fields": {"due_date": "2026-04-30", "measures": "新建床位200张"}}
START_TIMEOUT_S = 90  # two processes importing the app on a busy 2-core machine


def _started(log: Path, workers: int, proc: subprocess.Popen, base: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        if log.read_text().count("Application startup complete") >= workers:
            assert httpx.get(f"{base}/healthz", timeout=5).status_code == 200
            return
        time.sleep(0.2)  # polling a starting process
    pytest.fail("the workers did not start:\n" + log.read_text())


def _transitions(base: str) -> float:
    text = httpx.get(f"{base}/metrics", timeout=10).text
    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
               if s.name == "closeloop_transitions_total" and s.labels == {"trigger": "assign"})


def test_two_workers_share_the_load_and_report_it_together(request, tmp_path):
    db_url = new_database(request, "postgres", tmp_path, with_world=True)
    world = request.node.stash[WORLD_COPIED]
    port, log = free_port(), tmp_path / "serve.log"
    env = {**os.environ, "CLOSELOOP_DATABASE_URL": db_url, "CLOSELOOP_DB_POOL_SIZE": "4",
           "CLOSELOOP_DB_MAX_OVERFLOW": "2"}
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(CLOSELOOP), "serve", "--port", str(port), "--workers", "2", "--no-scheduler"],
                                env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        _started(log, 2, proc, base)

        def register(n: int) -> dict:
            with httpx.Client(base_url=base, timeout=30) as fresh:  # a connection of its own: any worker
                made = fresh.post("/api/v1/items", headers=world.h("reg"), json={
                    "title": f"第{n}项 🚒 消防通道堵塞", "source": "inspection", "unit": "DEPT-A", "assignee": "asg_a"})
                assert made.status_code == 201, made.text
                fired = fresh.post(f"/api/v1/items/{made.json()['id']}/transitions", headers=world.h("sup"),
                                   json=ASSIGN)
                assert fired.status_code == 200, fired.text
                return fired.json()

        done, pids = 0, set()
        with ThreadPoolExecutor(8) as pool:
            for _round in range(5):  # until both workers have answered some (the kernel picks per connection)
                assert all(item["state"] == "assigned" for item in pool.map(register, range(done, done + 24)))
                done += 24
                pids = {json.loads(line)["pid"] for line in log.read_text().splitlines() if line.startswith("{")}
                if len(pids) == 2:
                    break
        assert len(pids) == 2, "only one worker ever answered"
        # Whichever worker answers the scrape, it counts both workers' transitions.
        assert [_transitions(base) for _ in range(6)] == [float(done)] * 6
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, log.read_text()[-3000:]

"""`closeloop sweep --once` and `closeloop worker` as real processes on the test database."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa

from tests.helpers import fire, new_item

CLOSELOOP = Path(sys.executable).parent / "closeloop"


def _overdue_item(client, world) -> dict:
    # The test clock stands in March 2026; the processes below run on the real clock, months later.
    item = new_item(client, world, due_date="2026-03-10")
    for body, user in (({"trigger": "assign", "fields": {"due_date": "2026-03-10"}}, "sup"),
                       ({"trigger": "accept"}, "asg_a")):
        response = fire(client, world, item, body, user)
        assert response.status_code == 200, response.text
    return item


def _notices(rt) -> list[tuple]:
    with rt.store.read() as conn:
        return conn.execute(sa.text("SELECT kind, level, status FROM notices ORDER BY id")).all()


def test_sweep_once_issues_what_is_due_and_says_so(client, world, rt, db_url):
    _overdue_item(client, world)
    env = {**os.environ, "CLOSELOOP_DATABASE_URL": db_url}
    done = subprocess.run([str(CLOSELOOP), "sweep", "--once"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "1 items due, 2 notices issued, 2 superseded" in done.stdout, done.stdout
    assert sorted(_notices(rt)) == [("escalation.issued", "blue", "superseded"),
                                    ("escalation.issued", "orange", "superseded"),
                                    ("escalation.issued", "red", "issued"), ("reminder.overdue", None, "issued")]
    again = subprocess.run([str(CLOSELOOP), "sweep", "--once"], env=env, capture_output=True, text=True, timeout=120)
    assert "0 items due, 0 notices issued" in again.stdout and len(_notices(rt)) == 4
    bare = subprocess.run([str(CLOSELOOP), "sweep"], env=env, capture_output=True, text=True, timeout=120)
    assert bare.returncode == 2 and "closeloop worker" in bare.stderr


def test_worker_sweeps_on_its_interval_and_stops_on_sigterm(client, world, rt, db_url):
    _overdue_item(client, world)
    env = {**os.environ, "CLOSELOOP_DATABASE_URL": db_url, "CLOSELOOP_SWEEP_INTERVAL_SECONDS": "1"}
    worker = subprocess.Popen([str(CLOSELOOP), "worker"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    try:
        deadline = time.monotonic() + 60
        while len(_notices(rt)) < 4 and time.monotonic() < deadline and worker.poll() is None:
            time.sleep(0.2)
        assert len(_notices(rt)) == 4
    finally:
        worker.send_signal(signal.SIGTERM)
        _out, err = worker.communicate(timeout=30)
    assert worker.returncode == 0, err

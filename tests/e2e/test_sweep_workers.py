"""Several sweeping processes on one PostgreSQL database: every due notice exactly once, none lost to a kill.

10,000 overdue items are written straight into the database (the sweep only reads item rows); then real
`closeloop sweep --once` processes run side by side, 2 and then 4 of them over two sets of items, and
one is killed with SIGKILL in the middle of its work before another finishes the job.
"""
from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from engine.reminders.rules import Clock, plan

CLOSELOOP = Path(sys.executable).parent / "closeloop"
ITEMS = 10_000
# Every item is 40 days overdue in 'rectifying': its latest overdue reminder and the red escalation are
# issued, blue and orange are recorded as superseded.
PER_ITEM = {"issued": 2, "superseded": 2}


def _seed(rt, count: int, tag: str) -> None:
    """``count`` overdue items of DEPT-A in one statement (the sweep's input is only the item rows)."""
    wf = rt.registry.current("standard")
    now = dt.datetime.now(dt.timezone.utc)
    deadline = (now - dt.timedelta(days=40)).date()
    with rt.store.write() as conn:
        unit_id = conn.execute(sa.text("SELECT id FROM units WHERE code = 'DEPT-A'")).scalar_one()
        conn.execute(sa.text(
            "INSERT INTO items (id, number, workflow, workflow_hash, state, version, title, description, source, "
            "severity, unit_id, assignee, due_date, deadline, state_entered_at, measures, tags, created_by, "
            "reopened_count, history_seq, history_hash, next_reminder_at, created_at, updated_at) "
            "SELECT gen_random_uuid()::text, :tag || '-' || lpad(n::text, 6, '0'), 'standard', :hash, 'rectifying', "
            "3, '学校食堂食品安全隐患整改', '', 'inspection', 'medium', :unit, 'asg_a', :deadline, :deadline, "
            ":entered, '', '[]', 'reg', 0, 3, '', :due, :entered, :entered FROM generate_series(1, :count) AS n"),
            {"tag": tag, "hash": wf.hash, "unit": unit_id, "deadline": deadline,
             "entered": now - dt.timedelta(days=60), "due": now - dt.timedelta(days=1), "count": count})
    sample = Clock("x", "rectifying", now - dt.timedelta(days=60), deadline)
    due = plan(wf.definition, sample, now, tz=rt.settings.tz, hour=rt.settings.notify_hour).due
    assert len(due) == sum(PER_ITEM.values()), due  # the expectation below is the rules' own


def _sweepers(db_url: str, count: int) -> list[subprocess.Popen]:
    env = {**os.environ, "CLOSELOOP_DATABASE_URL": db_url, "CLOSELOOP_SWEEP_BATCH": "200"}
    return [subprocess.Popen([str(CLOSELOOP), "sweep", "--once"], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for _ in range(count)]


def _finish(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err


def _tally(rt, tag: str) -> dict:
    with rt.store.read() as conn:
        counts = conn.execute(sa.text(
            "SELECT n.status, COUNT(*), COUNT(DISTINCT n.key) FROM notices n JOIN items i ON i.id = n.item_id "
            "WHERE i.number LIKE :tag GROUP BY n.status"), {"tag": f"{tag}-%"}).all()
        outbox = conn.execute(sa.text(
            "SELECT COUNT(*), COUNT(DISTINCT o.payload) FROM outbox o JOIN items i ON i.id = o.item_id "
            "WHERE i.number LIKE :tag AND o.event <> 'item.transitioned'"), {"tag": f"{tag}-%"}).one()
        inbox = conn.execute(sa.text(
            "SELECT COUNT(*), COUNT(DISTINCT (r.notice_id, r.username)) FROM notice_recipients r "
            "JOIN notices n ON n.id = r.notice_id JOIN items i ON i.id = n.item_id WHERE i.number LIKE :tag"),
            {"tag": f"{tag}-%"}).one()
        still_due = conn.execute(sa.text(
            "SELECT COUNT(*) FROM items WHERE number LIKE :tag AND next_reminder_at <= (now() AT TIME ZONE 'UTC')"),
            {"tag": f"{tag}-%"}).scalar_one()
    by_status = {status: (total, distinct) for status, total, distinct in counts}
    return {"by_status": by_status, "outbox": tuple(outbox), "inbox": tuple(inbox), "still_due": still_due}


def _expected(count: int) -> dict:
    issued = count * PER_ITEM["issued"]
    # overdue -> assignee + leader (asg_a, sup_a); red -> the top unit's supervisor and the auditors (sup, aud)
    return {"by_status": {"issued": (issued, issued), "superseded": (count * 2, count * 2)},
            "outbox": (issued, issued), "inbox": (count * 4, count * 4), "still_due": 0}


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
@pytest.mark.parametrize("workers", [2, 4])
def test_parallel_sweepers_issue_every_notice_once(rt, world, db_url, workers):
    _seed(rt, ITEMS, f"W{workers}")
    _finish(_sweepers(db_url, workers))
    assert _tally(rt, f"W{workers}") == _expected(ITEMS)


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_a_sweeper_killed_mid_sweep_loses_nothing(rt, world, db_url):
    _seed(rt, ITEMS, "K")
    [victim] = _sweepers(db_url, 1)
    # Kill it once it has committed some batches but not all (or, on a fast machine, whenever it is).
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and victim.poll() is None:
        with rt.store.read() as conn:
            done = conn.execute(sa.text("SELECT COUNT(*) FROM notices")).scalar_one()
        if done > 0:
            break
        time.sleep(0.05)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    partial = _tally(rt, "K")
    assert partial["still_due"] > 0 or victim.returncode == 0, partial
    _finish(_sweepers(db_url, 2))
    assert _tally(rt, "K") == _expected(ITEMS)

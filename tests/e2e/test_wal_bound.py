"""SQLite's write-ahead log stays bounded under sustained writes with concurrent readers.

A PASSIVE checkpoint copies pages back but cannot restart the log while readers keep using it, so without
something more the ``-wal`` file grows by ~25 KB per transition for as long as the load lasts. Here
writers fire transitions through a real server for a few seconds while readers list, read and page
through history; the WAL file is sampled throughout and must stay within a small multiple of
``CLOSELOOP_SQLITE_WAL_LIMIT_MB``, far below what the same writes leave without the bound.
"""
from __future__ import annotations

import os
import threading
import time

import httpx
import pytest

from engine.config import Settings
from engine.store import sqlite_path
from tests.helpers import drive, new_item

WAL_LIMIT_MB = 1.0
# The bound asserted: the limit, what commits add between two checks, and what arrives during a checkpoint.
WAL_BOUND_BYTES = int(3 * WAL_LIMIT_MB * 1024 * 1024)
WRITERS, READERS = 4, 4
TRANSITIONS = 2000  # ~50 MB of WAL if nothing resets it
# On a loaded machine the run stops after this long; it still needs enough writes to cross the bound often.
MAX_SECONDS = 20.0
MIN_TRANSITIONS = 600


@pytest.fixture
def settings(db_url) -> Settings:
    """A small WAL limit, so a few seconds of load cross it many times."""
    return Settings(database_url=db_url, sqlite_wal_limit_mb=WAL_LIMIT_MB)


def _wal_bytes(path) -> int:
    try:
        return os.stat(f"{path}-wal").st_size
    except FileNotFoundError:
        return 0


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_wal_stays_bounded_under_continuous_writes_and_reads(live_server, rt, world):
    """A couple of thousand transitions with readers running all along: the -wal file never passes the bound."""
    path = sqlite_path(rt.store.url)
    with httpx.Client(base_url=live_server, timeout=10) as http:
        ids = [drive(http, world, rt, new_item(http, world), "rectifying")["id"] for _ in range(WRITERS)]
    stop = threading.Event()
    counts = {"written": 0, "read": 0}
    failures: list[str] = []
    largest = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + MAX_SECONDS

    def write(item_id: str) -> None:
        body = {"trigger": "report_progress", "comment": "本周完成 3 所幼儿园扩班，新增学位 240 个"}
        with httpx.Client(base_url=live_server, timeout=10, headers=world.h("asg_a")) as http:
            while not stop.is_set():
                response = http.post(f"/api/v1/items/{item_id}/transitions", json=body)
                with lock:
                    if response.status_code != 200:
                        failures.append(f"write {response.status_code}: {response.text[:200]}")
                    counts["written"] += 1
                    if counts["written"] >= TRANSITIONS:
                        stop.set()

    def read(n: int) -> None:
        paths = ["/api/v1/items", f"/api/v1/items/{ids[n % WRITERS]}", f"/api/v1/items/{ids[n % WRITERS]}/history"]
        with httpx.Client(base_url=live_server, timeout=10, headers=world.h("aud")) as http:
            while not stop.is_set():
                response = http.get(paths[counts["read"] % len(paths)])
                with lock:
                    if response.status_code != 200:
                        failures.append(f"read {response.status_code}: {response.text[:200]}")
                    counts["read"] += 1

    threads = [threading.Thread(target=write, args=(i,), daemon=True) for i in ids]
    threads += [threading.Thread(target=read, args=(n,), daemon=True) for n in range(READERS)]
    for thread in threads:
        thread.start()
    while not stop.is_set():
        largest[0] = max(largest[0], _wal_bytes(path))
        if time.monotonic() > deadline or failures:
            stop.set()
        time.sleep(0.01)
    for thread in threads:
        thread.join(15)
    largest[0] = max(largest[0], _wal_bytes(path))
    print(f"WAL at most {largest[0] / 2**20:.2f} MB over {counts['written']} transitions and {counts['read']} reads")
    assert not failures, failures[:5]
    assert counts["written"] >= MIN_TRANSITIONS, f"only {counts['written']} transitions in {MAX_SECONDS} s"
    assert counts["read"] > 0
    assert largest[0] <= WAL_BOUND_BYTES, (
        f"the WAL reached {largest[0] / 2**20:.1f} MB over {counts['written']} transitions "
        f"(limit {WAL_LIMIT_MB} MB, bound {WAL_BOUND_BYTES / 2**20:.1f} MB)")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_few_bulk_transactions_are_checkpointed_as_the_rows_they_wrote(rt, world, client):
    """A bulk import or a seed writes thousands of rows in each of a few commits: the log is restarted after them
    as after as many transitions, not left to grow until hundreds more commits come (a million-item seed grew it
    to 6 GB)."""
    from engine.store.bulk import Rows
    from tests.engine.test_bulk_rows import COLUMNS, _notices, _row

    path = sqlite_path(rt.store.url)
    item = new_item(client, world)["id"]
    for _ in range(3):  # each ~2 MB of log: twice the limit, in 3 commits where 16 are counted between checks
        with rt.store.write() as conn:
            rows = Rows(conn)
            rows.insert(_notices, COLUMNS, [_row(rows, n, f"bulk/{n}", item) for n in rows.new_ids(_notices, 4000)])
        rt.store.settle_checkpoints()
    high = _wal_bytes(path)
    with rt.store.write() as conn:  # the next write starts the log from the top again, cut to the limit
        conn.exec_driver_sql("UPDATE notices SET status = status WHERE id = 1")
    after = _wal_bytes(path)
    print(f"WAL {high / 2**20:.1f} MB after 3 bulk commits, {after / 2**20:.2f} MB after the next write")
    assert after <= WAL_LIMIT_MB * 1024 * 1024, f"the log was left at {after / 2**20:.1f} MB"

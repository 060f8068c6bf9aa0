"""Group commit on SQLite: nothing is acknowledged before an fsync of the log covers it, and one fsync
covers every commit made before it began. The disk is real; only the time an fsync takes is stretched."""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

import engine.store.walsync
from engine.store.walsync import WalSync
from tests.e2e.conftest import serve
from tests.helpers import new_item

SQLITE = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@pytest.fixture
def slow_fsync(monkeypatch):
    """Every sync of the log (an fdatasync) takes 0.2 s more; records when each one started and finished."""
    real = engine.store.walsync.os.fdatasync
    calls: list[tuple[float, float]] = []

    def fsync(fd: int) -> None:
        started = time.monotonic()
        time.sleep(0.2)
        real(fd)
        calls.append((started, time.monotonic()))

    monkeypatch.setattr(engine.store.walsync.os, "fdatasync", fsync)
    return calls


def test_a_waiter_returns_only_after_a_sync_that_began_after_its_commit(tmp_path, slow_fsync):
    wal = tmp_path / "x.db-wal"
    wal.write_bytes(b"frames")
    sync = WalSync(wal)
    try:
        first = sync.committed()
        sync.wait(first)
        committed_at = time.monotonic()
        second = sync.committed()
        assert not sync.durable(second)
        sync.wait(second)
        assert sync.durable(second)
        assert any(started >= committed_at for started, _ in slow_fsync)  # not the sync already under way
    finally:
        sync.close()


def test_one_sync_covers_every_commit_made_before_it(tmp_path, slow_fsync):
    wal = tmp_path / "x.db-wal"
    wal.write_bytes(b"frames")
    sync = WalSync(wal)
    try:
        seqs = [sync.committed() for _ in range(50)]
        with ThreadPoolExecutor(10) as pool:
            list(pool.map(sync.wait, seqs))
        assert all(sync.durable(s) for s in seqs)
        assert len(slow_fsync) <= 2  # 50 commits, one or two syncs
    finally:
        sync.close()


@SQLITE
def test_an_api_write_is_acknowledged_only_once_its_commit_is_on_disk(client, world, rt, slow_fsync):
    started = time.monotonic()
    item = new_item(client, world)
    elapsed = time.monotonic() - started
    walsync = rt.store._walsync
    assert item["version"] == 1
    assert elapsed >= 0.2 and walsync.durable(walsync._committed), (elapsed, slow_fsync)


@SQLITE
def test_concurrent_writes_share_their_syncs_and_wait_for_them(rt, world, slow_fsync):
    with serve(rt) as base:
        headers = {"Authorization": f"Bearer {world.tokens['reg']}"}
        body = {"title": "校园周边交通安全隐患", "source": "complaint", "unit": "DEPT-A"}
        done: list[float] = []
        lock = threading.Lock()

        def register(_n: int) -> int:
            status = httpx.post(f"{base}/api/v1/items", json=body, headers=headers, timeout=30).status_code
            with lock:
                done.append(time.monotonic())
            return status

        before = len(slow_fsync)
        with ThreadPoolExecutor(16) as pool:
            statuses = list(pool.map(register, range(32)))
    assert statuses == [201] * 32
    syncs = slow_fsync[before:]
    # 32 acknowledged commits needed far fewer syncs than commits, and none was answered before a sync ended.
    assert 1 <= len(syncs) < 32
    first_sync_end = min(end for _, end in syncs)
    assert min(done) >= first_sync_end


def test_a_log_replaced_on_disk_is_synced_through_a_new_descriptor(tmp_path, monkeypatch):
    """SQLite deletes the -wal when its last connection closes and makes a new one later: a sync of the old
    descriptor would cover nothing written since, so each sync goes to the file now at the path."""
    real = engine.store.walsync.os.fdatasync
    synced: list[int] = []

    def fdatasync(fd: int) -> None:
        synced.append(engine.store.walsync.os.fstat(fd).st_ino)
        real(fd)

    monkeypatch.setattr(engine.store.walsync.os, "fdatasync", fdatasync)
    wal = tmp_path / "x.db-wal"
    wal.write_bytes(b"frames")
    sync = WalSync(wal)
    try:
        sync.wait(sync.committed())
        first = wal.stat().st_ino
        wal.unlink()
        (tmp_path / "other").write_bytes(b"keeps the old inode number from being reused at once")
        wal.write_bytes(b"new frames")
        assert wal.stat().st_ino != first
        sync.wait(sync.committed())
        assert synced[0] == first and synced[-1] == wal.stat().st_ino
    finally:
        sync.close()

"""A write lock held elsewhere: the server keeps serving, and a write that cannot get it answers 503.

On SQLite another process holds ``BEGIN IMMEDIATE`` on the same file (a CLI command, a backup, a careless
script); on PostgreSQL another connection holds the item's row lock. Meanwhile health, reads and other
work must be answered at once, and a write that waits past ``CLOSELOOP_WRITE_LOCK_TIMEOUT`` answers 503
with ``Retry-After`` and changes nothing.
"""
from __future__ import annotations

import subprocess
import sys
import threading
import time
from contextlib import contextmanager

import httpx
import pytest
import sqlalchemy as sa

from engine.config import Settings
from engine.store import sqlite_path
from tests.helpers import assert_busy, drive, new_item, table_counts

LOCK_TIMEOUT_S = 1.5
# Far below the lock timeout: what "served at once" means on a loaded two-core machine.
PROMPT_S = 0.75
CLIENT_TIMEOUT_S = 6.0
HOLDER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.read()
conn.execute("ROLLBACK")
"""


@pytest.fixture
def settings(db_url) -> Settings:
    """A short real lock wait, so each test takes a few seconds."""
    return Settings(database_url=db_url, write_lock_timeout=LOCK_TIMEOUT_S)


@contextmanager
def sqlite_writer_elsewhere(url: str):
    """Another process holding SQLite's write lock (BEGIN IMMEDIATE) on the file until the block ends."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(sqlite_path(url))], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        yield
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def row_locked_elsewhere(url: str, item_id: str):
    """Another PostgreSQL connection holding the item's row lock until the block ends."""
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1), poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn, conn.begin():
            conn.execute(sa.text("SELECT id FROM items WHERE id = :id FOR UPDATE"), {"id": item_id})
            yield
    finally:
        engine.dispose()


def lock_elsewhere(rt, item: dict):
    """The store's kind of a write lock held by someone else."""
    if rt.store.is_sqlite:
        return sqlite_writer_elsewhere(rt.store.url)
    return row_locked_elsewhere(rt.store.url, item["id"])


class Background:
    """One request run on its own thread, so the test can do other things while it waits."""

    def __init__(self, fn) -> None:
        self.response: httpx.Response | None = None
        self.error: BaseException | None = None
        self.elapsed = 0.0
        self._thread = threading.Thread(target=self._run, args=(fn,), daemon=True)
        self._thread.start()

    def _run(self, fn) -> None:
        started = time.monotonic()
        try:
            self.response = fn()
        except BaseException as exc:  # noqa: BLE001 - reported by result()
            self.error = exc
        self.elapsed = time.monotonic() - started

    def result(self) -> httpx.Response:
        """The response (waiting for it), or the client's error raised here."""
        self._thread.join(CLIENT_TIMEOUT_S + 2)
        if self.error is not None:
            raise self.error
        assert self.response is not None, "the request did not finish"
        return self.response


def assert_prompt(response_fn, status: int = 200) -> httpx.Response:
    """The request is answered with ``status`` well before the lock timeout."""
    started = time.monotonic()
    response = response_fn()
    elapsed = time.monotonic() - started
    assert response.status_code == status, response.text[:300]
    assert elapsed < PROMPT_S, f"took {elapsed:.2f} s while a write was waiting for the lock"
    return response


def test_write_waiting_for_the_lock_leaves_the_server_serving_then_answers_503(live_server, rt, world):
    """Health, reads and token checks are answered while a transition waits; it ends in 503, changing nothing."""
    with httpx.Client(base_url=live_server, timeout=CLIENT_TIMEOUT_S) as http:
        item = drive(http, world, rt, new_item(http, world), "rectifying")
        before = table_counts(rt)
        body = {"trigger": "report_progress", "comment": "本周完成 3 所幼儿园扩班"}
        with lock_elsewhere(rt, item):
            waiting = Background(lambda: httpx.post(f"{live_server}/api/v1/items/{item['id']}/transitions",
                                                    json=body, headers=world.h("asg_a"), timeout=CLIENT_TIMEOUT_S))
            time.sleep(0.2)  # let the transition reach the lock
            assert_prompt(lambda: http.get("/healthz"))
            assert_prompt(lambda: http.get(f"/api/v1/items/{item['id']}", headers=world.h("sup")))
            assert_prompt(lambda: http.get("/api/v1/items", headers=world.h("aud")))
            assert_prompt(lambda: http.get("/api/v1/me", headers=world.h("asg_a")))
            response = waiting.result()
            assert_busy(response)
            assert waiting.elapsed < LOCK_TIMEOUT_S + 2, waiting.elapsed
        assert table_counts(rt) == before
        after = http.get(f"/api/v1/items/{item['id']}", headers=world.h("sup")).json()
        assert after["version"] == item["version"]
        retried = http.post(f"/api/v1/items/{item['id']}/transitions", json=body, headers=world.h("asg_a"))
        assert retried.status_code == 200, retried.text
        assert retried.json()["version"] == item["version"] + 1


def test_a_lock_released_within_the_timeout_lets_the_write_through(live_server, rt, world):
    """A write that waits less than the timeout succeeds: the wait is real, not an immediate refusal."""
    with httpx.Client(base_url=live_server, timeout=CLIENT_TIMEOUT_S) as http:
        item = drive(http, world, rt, new_item(http, world), "rectifying")
        body = {"trigger": "report_progress", "comment": "本周完成 3 所幼儿园扩班"}
        with lock_elsewhere(rt, item):
            waiting = Background(lambda: httpx.post(f"{live_server}/api/v1/items/{item['id']}/transitions",
                                                    json=body, headers=world.h("asg_a"), timeout=CLIENT_TIMEOUT_S))
            time.sleep(LOCK_TIMEOUT_S / 3)
            assert_prompt(lambda: http.get("/healthz"))
        response = waiting.result()
        assert response.status_code == 200, response.text
        assert response.json()["version"] == item["version"] + 1


# Registering an item or adding a unit takes no lock another PostgreSQL transaction would hold.
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_item_registration_waiting_for_the_lock_answers_503(live_server, rt, world):
    """POST /items (with an Idempotency-Key) behind a held lock: 503, no item, and the key stays unused."""
    with httpx.Client(base_url=live_server, timeout=CLIENT_TIMEOUT_S) as http:
        before = table_counts(rt)
        body = {"title": "公办幼儿园学位缺口未按计划补齐", "source": "inspection", "unit": "DEPT-A"}
        headers = world.h("reg", **{"Idempotency-Key": "register-1"})
        with sqlite_writer_elsewhere(rt.store.url):
            assert_busy(http.post("/api/v1/items", json=body, headers=headers))
        assert table_counts(rt) == before
        created = http.post("/api/v1/items", json=body, headers=headers)
        assert created.status_code == 201, created.text


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_admin_write_waiting_for_the_lock_answers_503(live_server, rt, world):
    """The admin routes (plain ``def`` routes on worker threads) answer 503 too, and change nothing."""
    with httpx.Client(base_url=live_server, timeout=CLIENT_TIMEOUT_S, headers=world.h("adm")) as http:
        before = table_counts(rt)
        with sqlite_writer_elsewhere(rt.store.url):
            assert_busy(http.post("/api/v1/units", json={"code": "DEPT-C", "name": "市卫健委", "parent": "CITY"}))
            assert_busy(http.post("/api/v1/users", json={"username": "late", "roles": ["assignee"], "unit": "CITY"}))
            assert_busy(http.post("/api/v1/users/sup/tokens"))
            assert_prompt(lambda: http.get("/api/v1/units"))
        assert table_counts(rt) == before
        assert http.post("/api/v1/units", json={"code": "DEPT-C", "name": "市卫健委", "parent": "CITY"}).status_code == 201


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_cli_write_waiting_for_the_lock_fails_with_a_message(rt, world):
    """An admin command behind a held lock stops after the timeout with a one-line error, not a traceback."""
    from typer.testing import CliRunner

    from api.cli import app

    env = {"CLOSELOOP_DATABASE_URL": rt.store.url, "CLOSELOOP_WRITE_LOCK_TIMEOUT": str(LOCK_TIMEOUT_S)}
    before = table_counts(rt)
    with sqlite_writer_elsewhere(rt.store.url):
        started = time.monotonic()
        result = CliRunner().invoke(app, ["unit", "add", "DEPT-C", "--name", "市卫健委", "--parent", "CITY"], env=env)
        elapsed = time.monotonic() - started
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert "busy" in result.output and "Traceback" not in result.output, result.output
    assert elapsed < LOCK_TIMEOUT_S + 2, elapsed
    assert table_counts(rt) == before

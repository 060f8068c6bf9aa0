"""The database failing under the API: a clear 503 with Retry-After, nothing half-written, and recovery.

SQLite: a full disk and a read-only file, injected with SQLite's own switches on the writer's connection
(``max_page_count`` makes the next page allocation fail with SQLITE_FULL, the code a full disk gives;
``query_only`` makes every write fail with SQLITE_READONLY, the code of a read-only file; this suite runs as
root, whom file permissions and a tmpfs's size cannot stop). A lock held past the busy timeout is
tests/e2e/test_write_lock.py. PostgreSQL: a server of this test's own, stopped and started again while
clients keep firing transitions.
"""
from __future__ import annotations

import threading
import time

import httpx
import pytest
import sqlalchemy as sa

from engine.config import Settings
from engine.runtime import Runtime
from engine.store import Store
from tests.e2e.conftest import serve
from tests.helpers import COUNTED_TABLES, assert_busy, audit_verify_command, build_world, table_counts
from tests.pg_server import PostgresServer, find_bindir

ASSIGN = {"trigger": "assign", "fields": {"due_date": "2026-04-30", "measures": "新建床位200张"}}
DEFAULT_MAX_PAGES = 4294967294


class Fault:
    """SQLite switches set inside every write transaction of a store while injected, and reset when it ends
    (left set, ``query_only`` would refuse the next BEGIN IMMEDIATE before anything could lift it)."""

    NORMAL = {"query_only": 0, "max_page_count": DEFAULT_MAX_PAGES}

    def __init__(self, store: Store) -> None:
        self.pragmas: dict[str, int] = {}
        sa.event.listen(store.writer, "begin", lambda conn: self._set(conn, self.pragmas))
        for end in ("commit", "rollback"):
            sa.event.listen(store.writer, end, lambda conn: self._set(conn, self.NORMAL if self.pragmas else {}))

    @staticmethod
    def _set(conn, pragmas: dict[str, int]) -> None:
        driver = conn.connection.driver_connection
        for name, setting in pragmas.items():
            driver.execute(f"PRAGMA {name}={setting}")

    def set(self, **pragmas: int) -> None:
        """Inject: these pragmas in every write transaction from the next one on."""
        self.pragmas = pragmas

    def lift(self) -> None:
        """Back to normal from the next transaction on."""
        self.pragmas = {}


def _register(client, world, description: str = "") -> httpx.Response:
    body = {"title": "消防通道被占用", "source": "inspection", "unit": "DEPT-A", "assignee": "asg_a"}
    return client.post("/api/v1/items", headers=world.h("reg"), json={**body, **(
        {"description": description} if description else {})})


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("fault", ["full disk", "read-only file"])
def test_a_full_disk_or_read_only_file_answers_503_and_writes_nothing(client, world, rt, fault):
    first = _register(client, world)
    assert first.status_code == 201
    item = first.json()
    with rt.store.read() as conn:
        pages, free = (conn.execute(sa.text(f"PRAGMA {p}")).scalar() for p in ("page_count", "freelist_count"))
    injected = Fault(rt.store)
    injected.set(**({"max_page_count": pages + free} if fault == "full disk" else {"query_only": 1}))
    before = table_counts(rt, COUNTED_TABLES)
    big = "整改措施" * 1200  # needs new pages wherever it lands
    refused = [_register(client, world, big),
               client.post(f"/api/v1/items/{item['id']}/transitions", headers=world.h("sup"),
                           json={**ASSIGN, "comment": big})]
    for response in refused:
        problem = assert_busy(response)
        assert problem["type"].endswith("/database-unavailable")
        assert ("full" if fault == "full disk" else "read-only") in problem["detail"]
        assert response.headers["retry-after"] == str(rt.store.retry_after)
    assert table_counts(rt, COUNTED_TABLES) == before  # nothing half-written
    assert client.get(f"/api/v1/items/{item['id']}", headers=world.h("aud")).json()["version"] == 1  # reads go on
    injected.lift()
    assert client.post(f"/api/v1/items/{item['id']}/transitions", headers=world.h("sup"),
                       json={**ASSIGN, "comment": big}).status_code == 200
    assert audit_verify_command(rt.settings.database_url).returncode == 0


class Load:
    """Clients firing transitions on their own items in a loop, remembering every acknowledged one."""

    def __init__(self, base: str, world, items: list[dict]) -> None:
        self.base, self.world, self.items = base, world, items
        self.acknowledged: dict[str, int] = {item["id"]: 0 for item in items}
        self.statuses: dict[int, int] = {}
        self.slowest = 0.0
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(item,)) for item in items]

    def _run(self, item: dict) -> None:
        with httpx.Client(base_url=self.base, timeout=30) as http:
            while not self.stop.is_set():
                started = time.monotonic()
                try:
                    response = http.post(f"/api/v1/items/{item['id']}/transitions", headers=self.world.h("asg_a"),
                                         json={"trigger": "report_progress", "comment": "本周进展"})
                except httpx.TransportError:
                    self.statuses[0] = self.statuses.get(0, 0) + 1
                    continue
                self.slowest = max(self.slowest, time.monotonic() - started)
                self.statuses[response.status_code] = self.statuses.get(response.status_code, 0) + 1
                if response.status_code == 200:
                    self.acknowledged[item["id"]] += 1
                elif response.status_code == 503:
                    assert response.headers["retry-after"]
                    time.sleep(0.05)  # a client backing off; real clients wait Retry-After seconds

    def __enter__(self) -> "Load":
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(60)


def _wait(predicate, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting until {what}")
        time.sleep(0.05)  # polling a live system, not waiting for domain time


def test_postgresql_stopped_and_started_under_load_answers_503_then_recovers_losing_nothing(request, clock):
    bindir = find_bindir()
    assert bindir is not None, "PostgreSQL server binaries are needed"
    server = PostgresServer(bindir)
    request.addfinalizer(server.stop)
    server.start()
    url = server.migrated_database("faults")
    rt = Runtime.open(Settings(database_url=url, write_lock_timeout=2), clock=clock)
    request.addfinalizer(rt.store.dispose)
    world = build_world(rt)
    with serve(rt) as base, httpx.Client(base_url=base, timeout=30) as http:
        items = []
        for _ in range(4):
            made = http.post("/api/v1/items", headers=world.h("reg"), json={
                "title": "排水管网破损", "source": "complaint", "unit": "DEPT-A", "assignee": "asg_a"}).json()
            for trigger, who in ((ASSIGN, "sup"), ({"trigger": "accept"}, "asg_a")):
                assert http.post(f"/api/v1/items/{made['id']}/transitions", headers=world.h(who),
                                 json=trigger).status_code == 200
            items.append(made)
        with Load(base, world, items) as load:
            _wait(lambda: sum(load.acknowledged.values()) >= 40, 60, "transitions flow")
            server.halt()
            _wait(lambda: load.statuses.get(503, 0) >= 10, 30, "the API answers 503 while the database is down")
            assert http.get("/readyz").status_code == 503
            server.resume()
            down_503 = load.statuses.get(503, 0)
            resumed_at = sum(load.acknowledged.values())
            _wait(lambda: sum(load.acknowledged.values()) >= resumed_at + 40, 60, "transitions flow again")
            assert http.get("/readyz").status_code == 200
        statuses = dict(load.statuses)
        assert set(statuses) <= {200, 503}, statuses  # never a 500, never a dropped connection
        assert load.slowest < 10, f"a request took {load.slowest:.1f} s"  # no hang
        print(f"\nfaults: PostgreSQL stopped and started once under {len(items)} clients: {statuses}, "
              f"{down_503} answers 503 while down, {sum(load.acknowledged.values())} transitions acknowledged, 0 lost")
    # Every acknowledged transition is in the history, and every chain verifies.
    with rt.store.read() as conn:
        for item in items:
            progress = conn.execute(sa.text("SELECT count(*) FROM history WHERE item_id = :i AND trigger = "
                                            "'report_progress'"), {"i": item["id"]}).scalar()
            # Nothing acknowledged is lost; a commit whose answer was cut off by the shutdown may be there too.
            assert load.acknowledged[item["id"]] <= progress <= load.acknowledged[item["id"]] + statuses[503]
    assert audit_verify_command(url).returncode == 0

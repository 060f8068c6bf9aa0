"""Concurrent transitions through a real uvicorn server, on both stores.

Twenty client threads, each with its own httpx.Client, are released together by a barrier and fire the
same transition on one item from the same version. Exactly one may win each round: SQLite serializes
writers (one lock, BEGIN IMMEDIATE), PostgreSQL locks the item row (SELECT ... FOR UPDATE).
"""
from __future__ import annotations

import threading
from collections import Counter
from itertools import pairwise

import httpx
import pytest
import sqlalchemy as sa

from engine import accounts
from engine.config import Settings
from engine.models import HistoryRecord
from tests.helpers import DRIVER, SHA, path_to, payload

THREADS = 20
ROUNDS = 50
SUBMIT_ROUNDS = 10
BARRIER_TIMEOUT_S = 30.0
REQUEST_TIMEOUT_S = 30.0
# The items' named assignee: only they act on its rectification steps, here from two tokens (two devices)
# that the racers alternate between.
RACER = "asg_a"
# Clients drop a connection idle this long, well before uvicorn closes it (timeout_keep_alive, 5 s): a round
# that a loaded machine stalls for longer must not send its request on a socket the server is closing (reset).
CLIENT_LIMITS = httpx.Limits(keepalive_expiry=2.0)


class Race:
    """THREADS workers that fire one request together per round; the test thread sets the request."""

    def __init__(self, base: str, tokens: list[str]) -> None:
        self.start = threading.Barrier(len(tokens) + 1, timeout=BARRIER_TIMEOUT_S)
        self.done = threading.Barrier(len(tokens) + 1, timeout=BARRIER_TIMEOUT_S)
        self.lock = threading.Lock()
        self.request: tuple[str, dict, dict] | None = None
        self.answers: list[tuple[int, dict]] = []
        self.threads = [threading.Thread(target=self._work, args=(base, token), daemon=True)
                        for token in tokens]
        for thread in self.threads:
            thread.start()

    def _work(self, base: str, token: str) -> None:
        with httpx.Client(base_url=base, timeout=REQUEST_TIMEOUT_S, limits=CLIENT_LIMITS,
                          headers={"Authorization": f"Bearer {token}"}) as http:
            try:
                while True:
                    self.start.wait()
                    if self.request is None:
                        return
                    path, body, headers = self.request
                    try:
                        response = http.post(path, json=body, headers=headers)
                        answer = (response.status_code, response.json())
                    except Exception as exc:  # noqa: BLE001 - reported as an answer, checked by the test
                        answer = (-1, {"error": repr(exc)})
                    with self.lock:
                        self.answers.append(answer)
                    self.done.wait()
            except threading.BrokenBarrierError:
                return

    def round(self, path: str, body: dict, headers: dict | None = None) -> list[tuple[int, dict]]:
        """Release every worker on one request; return their (status, body) answers."""
        self.answers = []
        self.request = (path, body, headers or {})
        self.start.wait()
        self.done.wait()
        return list(self.answers)

    def close(self) -> None:
        """Stop the workers (also after a failure: a broken barrier releases them)."""
        self.request = None
        try:
            self.start.wait()
        except threading.BrokenBarrierError:
            pass
        self.start.abort()
        self.done.abort()
        for thread in self.threads:
            thread.join(BARRIER_TIMEOUT_S)


@pytest.fixture
def settings(db_url) -> Settings:
    """A lock wait longer than any round takes: these tests are about who wins and who is refused by If-Match,
    and on a machine busy with the rest of the suite twenty queued writers once waited past the default 5 s
    (a 503 with Retry-After, which test_write_lock.py tests on its own)."""
    return Settings(database_url=db_url, write_lock_timeout=60)


@pytest.fixture
def race(live_server, world, rt):
    """A Race against the live server, the racers alternating between two tokens of the named assignee."""
    with rt.store.write() as conn:
        pair = (world.tokens[RACER], accounts.new_token_for(conn, clock=rt.clock, actor="cli:tests", username=RACER))
    tokens = [pair[i % len(pair)] for i in range(THREADS)]
    contest = Race(live_server, tokens)
    yield contest
    contest.close()


@pytest.fixture
def http(live_server):
    """One client for the test thread's own requests."""
    with httpx.Client(base_url=live_server, timeout=REQUEST_TIMEOUT_S, limits=CLIENT_LIMITS) as client:
        yield client


def auth(world, username: str, **extra) -> dict:
    return {"Authorization": f"Bearer {world.tokens[username]}", **extra}


def rectifying_item(http: httpx.Client, world, rt) -> dict:
    """A new DEPT-A item, assigned and accepted through the server."""
    body = {"title": "婴幼儿托位供给不足", "source": "supervision", "unit": "DEPT-A", "assignee": RACER,
            "due_date": "2026-06-30"}
    created = http.post("/api/v1/items", json=body, headers=auth(world, "reg"))
    assert created.status_code == 201, created.text
    item = created.json()
    for tdef in path_to(rt.registry.current("standard").definition, "rectifying"):
        response = http.post(f"/api/v1/items/{item['id']}/transitions", json=payload(tdef, rt.today(), item),
                             headers=auth(world, DRIVER[tdef.roles[0]]))
        assert response.status_code == 200, response.text
        item = response.json()
    return item


def history_rows(rt, item_id: str) -> int:
    """History rows of an item, counted in the database."""
    table = HistoryRecord.__table__
    with rt.store.read() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)
                            .where(table.c.item_id == item_id)).scalar_one()


def check_history(http: httpx.Client, world, rt, item_id: str, expected: int) -> list[dict]:
    """The item's history has ``expected`` records in the API and in the database, chained without a gap."""
    records = http.get(f"/api/v1/items/{item_id}/history", headers=auth(world, "aud")).json()["data"]
    assert len(records) == history_rows(rt, item_id) == expected
    assert [r["seq"] for r in records] == list(range(1, expected + 1))
    assert all(b["prev_hash"] == a["hash"] for a, b in pairwise(records))
    verify = http.get("/api/v1/audit/verify", headers=auth(world, "aud")).json()
    assert verify["ok"] is True, verify
    return records


def test_one_winner_per_round_with_if_match(race, http, world, rt):
    item = rectifying_item(http, world, rt)
    url = f"/api/v1/items/{item['id']}"
    start_version, start_records = item["version"], item["version"]  # one history record per version
    winners: Counter[str] = Counter()
    for n in range(ROUNDS):
        current = http.get(url, headers=auth(world, "aud"))
        version = current.json()["version"]
        assert version == start_version + n and current.headers["etag"] == f'"{version}"'
        body = {"trigger": "report_progress", "comment": f"第{n + 1}次进展报告"}
        answers = race.round(f"{url}/transitions", body, {"If-Match": f'"{version}"'})
        statuses = Counter(status for status, _ in answers)
        # The state does not change (a self-loop), so every loser is refused by its stale If-Match.
        assert statuses == {200: 1, 412: THREADS - 1}, (n, statuses, answers[:3])
        won = next(body for status, body in answers if status == 200)
        assert won["version"] == version + 1 and won["transition"]["seq"] == start_records + n + 1
        winners[won["transition"]["actor"]] += 1
        for status, problem in answers:
            if status == 412:  # every loser saw the winner's version: the chain never forks
                assert problem["current_version"] == version + 1, problem
    final = http.get(url, headers=auth(world, "aud")).json()
    assert final["version"] == start_version + ROUNDS and final["state"] == "rectifying"
    records = check_history(http, world, rt, item["id"], start_records + ROUNDS)
    assert Counter(r["actor"] for r in records if r["trigger"] == "report_progress") == winners


def test_one_submit_wins_without_if_match(race, http, world, rt):
    for n in range(SUBMIT_ROUNDS):
        item = rectifying_item(http, world, rt)
        body = {"trigger": "submit", "comment": "整改完成", "evidence": [{"name": "整改报告.pdf", "sha256": SHA}]}
        answers = race.round(f"/api/v1/items/{item['id']}/transitions", body)
        statuses = Counter(status for status, _ in answers)
        assert len(answers) == THREADS and statuses == {200: 1, 409: THREADS - 1}, (n, statuses, answers[:3])
        won = next(body for status, body in answers if status == 200)
        assert won["state"] == "pending_verification" and won["version"] == item["version"] + 1
        for status, problem in answers:
            if status == 409:
                assert problem["type"].endswith("/invalid-transition"), problem
                assert problem["state"] == "pending_verification", problem
        final = http.get(f"/api/v1/items/{item['id']}", headers=auth(world, "aud")).json()
        assert final["version"] == item["version"] + 1 and final["submitted_by"] == won["transition"]["actor"]
        check_history(http, world, rt, item["id"], item["version"] + 1)

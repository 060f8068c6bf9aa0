"""Shared steps of the delivery tests: add a webhook through the API, run delivery until the clock has to move."""
from __future__ import annotations

import datetime as dt

import orjson
import sqlalchemy as sa

from engine.delivery.worker import deliver, next_due_at
from engine.models import Outbox
from engine.runtime import Runtime


def add_webhook(client, world, url: str, *, kind: str = "generic", events: tuple[str, ...] = ("item.created",),
                **extra) -> dict:
    """POST /api/v1/webhooks as the admin; return the created endpoint (asserting 201)."""
    response = client.post("/api/v1/webhooks", json={"url": url, "kind": kind, "events": list(events), **extra},
                           headers=world.h("adm"))
    assert response.status_code == 201, response.text
    return response.json()


def deliveries(client, world, hook: dict) -> list[dict]:
    """Every delivery of an endpoint, oldest first, through the API."""
    out, cursor = [], None
    while True:
        params = {"limit": 500, **({"cursor": cursor} if cursor else {})}
        response = client.get(f"/api/v1/webhooks/{hook['id']}/deliveries", params=params, headers=world.h("adm"))
        assert response.status_code == 200, response.text
        out += response.json()["data"]
        cursor = response.json()["next_cursor"]
        if cursor is None:
            return sorted(out, key=lambda d: d["id"])


def drain(rt: Runtime, clock, *, horizon: dt.timedelta = dt.timedelta(days=5), max_passes: int = 2000) -> int:
    """Run delivery, move the clock to the next due attempt, repeat until nothing is pending; return the passes."""
    stop = clock.now() + horizon
    for passes in range(1, max_passes + 1):
        deliver(rt)
        due = next_due_at(rt)
        if due is None:
            return passes
        assert due <= stop, f"still pending at {due}, past the horizon"
        if due > clock.now():
            clock.set(due)
    raise AssertionError("delivery did not settle")


def insert_events(rt: Runtime, rows: list[tuple[str, dict, str | None]]) -> None:
    """Outbox rows (event, payload, sweep batch) in the shape the engine writes them."""
    now = rt.clock.now()
    with rt.store.write() as conn:
        conn.execute(sa.insert(Outbox.__table__), [
            {"event": event, "item_id": None, "payload": orjson.dumps({"event": event, **payload}).decode(),
             "batch": batch, "created_at": now} for event, payload, batch in rows])


def reminder(number: int, *, event: str = "reminder.overdue", unit: str = "DEPT-A", unit_path: str = "/1/2/",
             level: str | None = None, overdue_days: int = 4) -> dict:
    """A reminder payload as the sweep writes it (without a notice id)."""
    return {"item": f"item-{number}", "number": f"ZG-2026-{number:06d}", "title": "公办幼儿园学位缺口未按计划补齐",
            "unit": unit, "unit_path": unit_path, "state": "rectifying", "deadline": "2026-03-10",
            "overdue_days": overdue_days, "level": level, "rule": "rectifying.reminder.1",
            "due_at": "2026-03-16T01:00:00+00:00", "recipients": ["asg_a", "sup_a"]}

"""The shortest useful life of an item, on both stores: register, assign, accept, submit, approve, close."""
from __future__ import annotations

from tests.helpers import drive, new_item


def test_item_reaches_closed_and_history_chains(client, world, rt):
    item = new_item(client, world, due_date="2026-04-30")
    assert item["state"] == "identified" and item["version"] == 1
    closed = drive(client, world, rt, item, "closed")
    assert closed["state"] == "closed" and closed["light"] == "none"
    history = client.get(f"/api/v1/items/{item['number']}/history", headers=world.h("aud")).json()["data"]
    assert [h["trigger"] for h in history] == ["create", "assign", "accept", "submit", "approve", "close"]
    assert history[0]["from_state"] is None and history[0]["prev_hash"] == "0" * 64
    assert all(b["prev_hash"] == a["hash"] for a, b in zip(history, history[1:]))
    verify = client.get("/api/v1/audit/verify", headers=world.h("aud")).json()
    assert verify["ok"] is True and verify["records"] == 6

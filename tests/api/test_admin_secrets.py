"""Tokens are shown once: a retried token-issuing request never gets a second copy from the database."""
from __future__ import annotations

import sqlalchemy as sa


def test_retried_user_creation_does_not_replay_or_store_the_token(client, world, rt):
    body = {"username": "new.clerk", "roles": ["registrar"], "unit": "DEPT-A"}
    first = client.post("/api/v1/users", json=body, headers=world.h("adm", **{"Idempotency-Key": "u-1"}))
    assert first.status_code == 201
    token = first.json()["token"]
    assert token.startswith("cl_") and len(token) >= 43
    again = client.post("/api/v1/users", json=body, headers=world.h("adm", **{"Idempotency-Key": "u-1"}))
    assert again.status_code == 201
    assert again.json()["token"] is None and "shown only" in again.json()["token_note"]
    assert again.json()["username"] == "new.clerk"
    with rt.store.read() as conn:
        stored = conn.execute(sa.text("SELECT body FROM idempotency_keys")).scalars().all()
        hashes = conn.execute(sa.text("SELECT token_hash FROM tokens")).scalars().all()
    assert stored and all(token.encode() not in bytes(b) for b in stored)
    assert token not in hashes
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).json()["username"] == "new.clerk"


def test_retried_token_issue_does_not_replay_the_token(client, world):
    headers = world.h("adm", **{"Idempotency-Key": "t-1"})
    first = client.post("/api/v1/users/asg_a/tokens", headers=headers)
    again = client.post("/api/v1/users/asg_a/tokens", headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json()["token"] and again.json()["token"] is None


def test_weak_if_match_is_refused(client, world):
    from tests.helpers import new_item

    item = new_item(client, world)
    response = client.post(f"/api/v1/items/{item['id']}/transitions", json={"trigger": "assign", "fields": {
        "due_date": "2026-04-30"}}, headers=world.h("sup", **{"If-Match": 'W/"1"'}))
    assert response.status_code == 400 and "strong" in response.json()["detail"]

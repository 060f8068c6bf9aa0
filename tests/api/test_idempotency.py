"""Idempotency-Key on POST /items and POST transitions, and ETag / If-Match on transitions, on both stores.

A retry with the same key and body replays the first answer byte for byte and changes nothing; the same
key with another request is 422; keys belong to their caller; a refused request does not use up its key.
Row counts are read straight from the database, so "changes nothing" covers every table a write touches.
"""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from api import respond
from engine import accounts
from tests.helpers import SHA, drive, fire, new_item

WRITE_TABLES = ("items", "history", "outbox", "idempotency_keys")
NEW_ITEM = {"title": "保交楼项目逾期未交付", "source": "complaint", "unit": "DEPT-A", "severity": "high",
            "tags": ["住建", "民生"]}
PROGRESS = {"trigger": "report_progress", "comment": "已完成第一批房源交付 ✅"}


def counts(rt) -> dict[str, int]:
    """Rows in the tables a write touches."""
    with rt.store.read() as conn:
        return {t: conn.execute(sa.text(f"SELECT COUNT(*) FROM {t}")).scalar_one() for t in WRITE_TABLES}


def grew(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """How many rows each table gained."""
    return {t: after[t] - before[t] for t in WRITE_TABLES}


def problem_type(response) -> str:
    """The last part of a problem's type, after checking it is problem+json."""
    assert response.headers["content-type"] == "application/problem+json", response.text
    assert response.json()["status"] == response.status_code
    return response.json()["type"].rsplit("/", 1)[-1]


def same_answer(first, second) -> None:
    """Two responses are identical: status, body bytes, ETag and Location."""
    assert second.status_code == first.status_code
    assert second.content == first.content
    for header in ("etag", "location", "content-type"):
        assert second.headers.get(header) == first.headers.get(header), header


def post_transition(client, world, item: dict, body: dict, as_user: str = "asg_a", **headers):
    return fire(client, world, item, body, as_user, **headers)


def test_retried_create_replays_the_first_response(client, world, rt, clock):
    before = counts(rt)
    key = {"Idempotency-Key": "create-1"}
    first = client.post("/api/v1/items", json=NEW_ITEM, headers=world.h("reg", **key))
    assert first.status_code == 201 and first.headers["etag"] == '"1"', first.text
    clock.advance(hours=2)  # a recomputed answer would carry other times; a replay cannot
    retry = client.post("/api/v1/items", json=NEW_ITEM, headers=world.h("reg", **key))
    same_answer(first, retry)
    assert first.headers["location"] == f"/api/v1/items/{first.json()['id']}"
    assert grew(before, counts(rt)) == {"items": 1, "history": 1, "outbox": 1, "idempotency_keys": 1}
    listed = client.get("/api/v1/items", headers=world.h("aud")).json()["data"]
    assert [i["id"] for i in listed] == [first.json()["id"]]
    # The replay used no item number: the next item takes the one after the first.
    following = client.post("/api/v1/items", json=NEW_ITEM,
                            headers=world.h("reg", **{"Idempotency-Key": "create-2"}))
    serial = [int(r.json()["number"].rsplit("-", 1)[1]) for r in (first, following)]
    assert serial[1] == serial[0] + 1


def test_retried_transition_replays_the_first_response(client, world, rt):
    item = drive(client, world, rt, new_item(client, world, due_date="2026-04-30"), "rectifying")
    before = counts(rt)
    headers = {"Idempotency-Key": "progress-1", "If-Match": f'"{item["version"]}"'}
    first = post_transition(client, world, item, PROGRESS, **headers)
    assert first.status_code == 200 and first.headers["etag"] == f'"{item["version"] + 1}"', first.text
    retry = post_transition(client, world, item, PROGRESS, **headers)
    same_answer(first, retry)
    assert grew(before, counts(rt)) == {"items": 0, "history": 1, "outbox": 1, "idempotency_keys": 1}
    # Even after the item moved on, the retry of that conditional request replays 200 rather than 412.
    assert post_transition(client, world, item, PROGRESS).status_code == 200
    same_answer(first, post_transition(client, world, item, PROGRESS, **headers))
    history = client.get(f"/api/v1/items/{item['id']}/history", headers=world.h("aud")).json()["data"]
    assert [h["trigger"] for h in history] == ["create", "assign", "accept"] + ["report_progress"] * 2
    current = client.get(f"/api/v1/items/{item['id']}", headers=world.h("aud")).json()
    assert current["version"] == item["version"] + 2


def test_same_key_with_another_request_is_422(client, world, rt):
    key = {"Idempotency-Key": "reused"}
    created = client.post("/api/v1/items", json={**NEW_ITEM, "due_date": "2026-04-30"},
                          headers=world.h("sup", **key))
    assert created.status_code == 201
    item = created.json()
    before = counts(rt)
    assign = {"trigger": "assign", "fields": {"due_date": "2026-04-30"}}
    refused = [
        client.post("/api/v1/items", json={**NEW_ITEM, "title": "另一个问题"}, headers=world.h("sup", **key)),
        # Another path is another request, even from the caller who used the key.
        post_transition(client, world, item, assign, "sup", **key),
    ]
    assert post_transition(client, world, item, assign, "sup").status_code == 200
    assert post_transition(client, world, item, {"trigger": "accept"}, **key).status_code == 200
    # A transition request differs by its body and by its If-Match.
    refused.append(post_transition(client, world, item, {"trigger": "accept", "comment": "签收"}, **key))
    refused.append(post_transition(client, world, item, {"trigger": "accept"}, **key, **{"If-Match": '"2"'}))
    for response in refused:
        assert response.status_code == 422, response.text
        assert problem_type(response) == "idempotency-key-reused"
    assert grew(before, counts(rt)) == {"items": 0, "history": 2, "outbox": 2, "idempotency_keys": 1}
    assert client.get(f"/api/v1/items/{item['id']}", headers=world.h("aud")).json()["state"] == "rectifying"


def test_keys_belong_to_their_caller(client, world, rt):
    key = {"Idempotency-Key": "shared-key"}
    by_reg = client.post("/api/v1/items", json=NEW_ITEM, headers=world.h("reg", **key))
    by_sup = client.post("/api/v1/items", json=NEW_ITEM, headers=world.h("sup", **key))
    by_sup_other_body = client.post("/api/v1/items", json={**NEW_ITEM, "title": "另一个问题"},
                                    headers=world.h("sup_a", **key))
    assert [r.status_code for r in (by_reg, by_sup, by_sup_other_body)] == [201, 201, 201]
    assert len({r.json()["id"] for r in (by_reg, by_sup, by_sup_other_body)}) == 3
    assert [r.json()["created_by"] for r in (by_reg, by_sup, by_sup_other_body)] == ["reg", "sup", "sup_a"]
    assert counts(rt)["items"] == 3 and counts(rt)["idempotency_keys"] == 3
    # Each caller still replays only their own answer.
    same_answer(by_sup, client.post("/api/v1/items", json=NEW_ITEM, headers=world.h("sup", **key)))


SUBMIT = {"trigger": "submit", "evidence": [{"name": "整改报告.pdf", "sha256": SHA}]}
APPROVE = {"trigger": "approve"}
# refusal: (transitions fired first, the refused call, transitions fired in between, the same call again).
# A call is (user, body, If-Match as an offset from the current version or None); the key goes on both calls.
REFUSALS = {
    "409 state": ([], ("ver", APPROVE, None), [("asg_a", SUBMIT)], ("ver", APPROVE, None)),
    "412 stale": ([], ("asg_a", SUBMIT, -1), [], ("asg_a", SUBMIT, 0)),
    "422 guard": ([], ("asg_a", {"trigger": "submit"}, None), [], ("asg_a", SUBMIT, None)),
    # doer_a is the named assignee and submits; once the item has gone to SUB-A1 (转办) and been submitted
    # there by someone else, doer_a may verify it.
    "403 duties": ([("doer_a", SUBMIT)], ("doer_a", APPROVE, None),
                   [("ver", {"trigger": "reject", "comment": "材料不全"}),
                    ("sup", {"trigger": "transfer", "comment": "由区教育局整改", "fields": {"unit": "SUB-A1"}}),
                    ("asg_a1", {"trigger": "accept"}), ("asg_a1", SUBMIT)],
                   ("doer_a", APPROVE, None)),
}
# The named assignee of each case's item (the default is the unit's asg_a).
NAMED = {"403 duties": "doer_a"}


@pytest.mark.parametrize("refusal", list(REFUSALS))
def test_refused_request_does_not_use_up_its_key(client, world, rt, refusal):
    named = {"assignee": NAMED[refusal]} if refusal in NAMED else {}
    item = drive(client, world, rt, new_item(client, world, due_date="2026-04-30", **named), "rectifying")
    first, refused_call, between, again = REFUSALS[refusal]
    key = {"Idempotency-Key": "retry-me"}

    def call(user: str, body: dict, offset: int | None, **headers) -> tuple:
        """The call as (user, body, headers), with If-Match resolved against the current version."""
        if offset is not None:
            version = client.get(f"/api/v1/items/{item['id']}", headers=world.h("aud")).json()["version"]
            headers["If-Match"] = f'"{version + offset}"'
        return user, body, headers

    def post(user: str, body: dict, headers: dict):
        return post_transition(client, world, item, body, user, **headers)

    for user, body in first:
        assert post(*call(user, body, None)).status_code == 200
    before = counts(rt)
    refused = post(*call(*refused_call, **key))
    assert refused.status_code == int(refusal.split()[0]), refused.text
    assert grew(before, counts(rt)) == dict.fromkeys(WRITE_TABLES, 0)
    for user, body in between:
        assert post(*call(user, body, None)).status_code == 200
    again_call = call(*again, **key)
    done = post(*again_call)
    assert done.status_code == 200, done.text
    assert grew(before, counts(rt))["idempotency_keys"] == 1
    same_answer(done, post(*again_call))


@pytest.mark.parametrize("key", ["k" * 201, "has space", "ключ", ""])
def test_bad_idempotency_key_is_400(client, world, rt, key):
    item = drive(client, world, rt, new_item(client, world, due_date="2026-04-30"), "rectifying")
    before = counts(rt)
    encoded = key.encode("utf-8")  # httpx sends str headers as ASCII only; send the raw bytes
    created = client.post("/api/v1/items", json=NEW_ITEM,
                          headers={**world.h("reg"), "Idempotency-Key": encoded})
    fired = post_transition(client, world, item, PROGRESS, **{"Idempotency-Key": encoded})
    for response in (created, fired):
        assert response.status_code == 400 and problem_type(response) == "bad-request", response.text
    assert grew(before, counts(rt)) == dict.fromkeys(WRITE_TABLES, 0)


def test_longest_allowed_key_works(client, world, rt):
    key = {"Idempotency-Key": "k" * 200}
    first = client.post("/api/v1/items", json=NEW_ITEM, headers=world.h("reg", **key))
    assert first.status_code == 201
    same_answer(first, client.post("/api/v1/items", json=NEW_ITEM, headers=world.h("reg", **key)))
    assert counts(rt)["items"] == 1


def test_key_still_running_answers_409(client, world, rt):
    with rt.store.read() as conn:
        user_id = accounts.user_by_username(conn, "reg").id
    before = counts(rt)
    key = {"Idempotency-Key": "busy"}
    with respond.IN_FLIGHT.hold(user_id, "busy"):
        busy = client.post("/api/v1/items", json=NEW_ITEM, headers=world.h("reg", **key))
        other_caller = client.post("/api/v1/items", json=NEW_ITEM, headers=world.h("sup", **key))
    assert busy.status_code == 409 and problem_type(busy) == "idempotency-key-in-flight"
    assert other_caller.status_code == 201
    assert grew(before, counts(rt))["items"] == 1
    done = client.post("/api/v1/items", json=NEW_ITEM, headers=world.h("reg", **key))
    assert done.status_code == 201 and counts(rt)["items"] == 2


def test_etag_and_if_match(client, world, rt):
    item = new_item(client, world, due_date="2026-04-30")
    url = f"/api/v1/items/{item['id']}"
    assert client.get(url, headers=world.h("sup")).headers["etag"] == '"1"'
    assign = {"trigger": "assign", "fields": {"due_date": "2026-04-30"}}
    assigned = post_transition(client, world, item, assign, "sup", **{"If-Match": '"1"'})
    assert assigned.status_code == 200 and assigned.headers["etag"] == '"2"'
    assert client.get(url, headers=world.h("sup")).headers["etag"] == '"2"'
    before = counts(rt)
    stale = post_transition(client, world, item, {"trigger": "cancel", "comment": "重复登记"}, "sup",
                            **{"If-Match": '"1"'})
    assert stale.status_code == 412 and stale.json()["current_version"] == 2, stale.text
    assert problem_type(stale) == "version-conflict"
    assert grew(before, counts(rt)) == dict.fromkeys(WRITE_TABLES, 0)
    assert client.get(url, headers=world.h("sup")).json()["state"] == "assigned"
    accepted = post_transition(client, world, item, {"trigger": "accept"}, "asg_a", **{"If-Match": "*"})
    assert accepted.status_code == 200 and accepted.headers["etag"] == '"3"', accepted.text
    progress = post_transition(client, world, item, PROGRESS, **{"If-Match": '"3"'})
    assert progress.status_code == 200 and progress.json()["version"] == 4


@pytest.mark.parametrize("value", ["abc", '"x"', "1.5", '"-1"', '"' + "9" * 19 + '"', '""'])
def test_malformed_if_match_is_400(client, world, rt, value):
    item = drive(client, world, rt, new_item(client, world, due_date="2026-04-30"), "rectifying")
    before = counts(rt)
    response = post_transition(client, world, item, PROGRESS, **{"If-Match": value})
    assert response.status_code == 400 and problem_type(response) == "bad-request", response.text
    assert "If-Match" in response.json()["detail"]
    assert grew(before, counts(rt)) == dict.fromkeys(WRITE_TABLES, 0)

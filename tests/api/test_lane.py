"""POST /api/v1/items/{id}/transitions is served by api.lane, outside FastAPI's routing: its answers must be
the route's. FastAPI also reads ``+json`` media types, which the lane leaves to it, so the same requests
sent both ways must get the same answers."""
from __future__ import annotations

import json
import uuid

import pytest

from api.lane import TransitionLane
from tests.helpers import drive, new_item

LANE, ROUTE = "application/json", "application/vnd.closeloop+json"
# Differ between two items, or between two moments.
VOLATILE = {"id", "number", "created_at", "updated_at", "at", "hash", "prev_hash", "item_id", "request_id"}


def _lane(client) -> TransitionLane:
    client.get("/healthz")  # the middleware stack is built at the first request
    layer = client.app.middleware_stack
    while not isinstance(layer, TransitionLane):
        layer = layer.app
    return layer


def _stable(value):
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


def _answer(response) -> tuple:
    body = response.json()
    if "detail" in body and isinstance(body["detail"], str):
        body["detail"] = body["detail"].replace(response.request.url.path.split("/")[4], "<item>")
    headers = {k: response.headers.get(k) for k in ("content-type", "etag", "retry-after", "www-authenticate")}
    return response.status_code, headers, _stable(body)


def _both(client, world, items: dict[str, dict], body: dict | bytes, user: str, **headers) -> tuple[tuple, tuple]:
    """The same request on the lane's item and on the route's (two items in the same state); both answers."""
    answers = []
    for media_type in (LANE, ROUTE):
        item_id = items[media_type]["id"] if items else str(uuid.uuid4())
        content = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
        answers.append(_answer(client.post(f"/api/v1/items/{item_id}/transitions", content=content,
                                           headers={**world.h(user), "Content-Type": media_type, **headers})))
    return answers[0], answers[1]


@pytest.fixture
def pair(client, world, rt) -> dict[str, dict]:
    """Two items driven alike to 'rectifying': one for each way in."""
    return {media_type: drive(client, world, rt, new_item(client, world), "rectifying") for media_type in (LANE, ROUTE)}


def test_a_transition_and_each_refusal_answer_alike_through_the_lane_and_the_route(client, world, pair):
    lane = _lane(client)
    before = lane.served
    progress = {"trigger": "report_progress", "comment": "本周完成 3 所幼儿园扩班 ✅"}
    cases = {  # name: (body, user, headers, the status both answer)
        "done": (progress, "asg_a", {}, 200),
        "not allowed from the state": ({"trigger": "approve"}, "asg_a", {}, 409),
        "unknown trigger": ({"trigger": "no_such_trigger"}, "asg_a", {}, 422),
        "stale If-Match": (progress, "asg_a", {"If-Match": '"1"'}, 412),
        "malformed If-Match": (progress, "asg_a", {"If-Match": 'W/"3"'}, 400),
        "another unit's assignee": (progress, "asg_b", {}, 404),
        "a role that may not": (progress, "reg", {}, 403),
        "a requirement refused": ({"trigger": "submit_fix"}, "asg_a", {}, 422),
    }
    for name, (body, user, headers, status) in cases.items():
        through_lane, through_route = _both(client, world, pair, body, user, **headers)
        assert through_lane == through_route, name
        assert through_lane[0] == status, (name, through_lane)
    assert lane.served - before == len(cases)  # each of them took the lane, then the route
    done = _both(client, world, pair, progress, "asg_a")[0]
    assert done[0] == 200 and done[2]["transition"]["trigger"] == "report_progress"


def test_a_bad_token_and_an_unknown_item_answer_alike(client, world):
    bad = {"Authorization": "Bearer not-a-token"}
    answers = [client.post(f"/api/v1/items/{uuid.uuid4()}/transitions", json={"trigger": "accept"},
                           headers={**bad, "Content-Type": media_type}) for media_type in (LANE, ROUTE)]
    assert [a.status_code for a in answers] == [401, 401]
    assert answers[0].json() == answers[1].json()
    assert answers[0].headers["www-authenticate"] == "Bearer"
    lane_404, route_404 = _both(client, world, {}, {"trigger": "accept"}, "sup")
    assert lane_404 == route_404 and lane_404[0] == 404


def test_bodies_the_lane_does_not_take_get_fastapis_answers(client, world, pair):
    """Malformed JSON, unknown fields, wrong types and an empty body go on to FastAPI: its 422s, unchanged."""
    lane = _lane(client)
    before = lane.served
    for body in (b'{"trigger": "report_progress",', b'{"trigger": "report_progress", "extra": 1}',
                 b'{"trigger": 7}', b"", b"[]", b'"\\ud800"', b"[" * 100_000):
        through_lane, through_route = _both(client, world, pair, body, "asg_a")
        assert through_lane == through_route, body[:40]
        assert through_lane[0] in (400, 422), (body[:40], through_lane)
    assert lane.served == before


def test_what_the_layers_around_it_refuse_is_refused_before_the_lane(client, world, pair):
    item = pair[LANE]["id"]
    huge = json.dumps({"trigger": "report_progress", "comment": "字" * 2_000_000}).encode()
    too_big = client.post(f"/api/v1/items/{item}/transitions", content=huge,
                          headers={**world.h("asg_a"), "Content-Type": LANE})
    assert too_big.status_code == 413
    twice = client.post(f"/api/v1/items/{item}/transitions", json={"trigger": "report_progress"},
                        headers=[*world.h("asg_a").items(), ("If-Match", '"5"'), ("If-Match", '"6"')])
    assert twice.status_code == 400 and twice.json()["type"].endswith("repeated-header")


def test_a_laned_transition_is_logged_and_counted_under_its_route(client, world, pair, caplog):
    with caplog.at_level("INFO", logger="closeloop.access"):
        answer = client.post(f"/api/v1/items/{pair[LANE]['id']}/transitions",
                             json={"trigger": "report_progress", "comment": "已完成"}, headers={**world.h("asg_a"), "X-Request-ID": "lane-1"})
        refused = client.post(f"/api/v1/items/{pair[LANE]['id']}/transitions", json={"trigger": "approve"},
                              headers=world.h("asg_a"))
        unknown = client.post(f"/api/v1/items/{pair[LANE]['id']}/transitions", json={"trigger": "approve"},
                              headers={"Authorization": "Bearer cl_not-a-token"})
    assert answer.status_code == 200 and answer.headers["x-request-id"] == "lane-1"
    assert (refused.status_code, unknown.status_code) == (409, 401)
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "closeloop.access"]
    assert [(line["status"], line["user"]) for line in lines] == [(200, "asg_a"), (409, "asg_a"), (401, None)]
    assert {line["route"] for line in lines} == {"/api/v1/items/{item_id}/transitions"}
    assert lines[0]["request_id"] == "lane-1"
    metrics = client.get("/metrics", headers=world.h("adm")).text
    assert 'route="/api/v1/items/{item_id}/transitions",status="200"' in metrics


def test_a_streamed_body_past_the_limit_is_refused_alike(client, world, pair):
    """No Content-Length (chunked): the limit refuses it while the lane reads it, as while FastAPI reads it."""
    chunk = json.dumps({"trigger": "report_progress", "comment": "字" * 400_000}).encode()
    answers = []
    for media_type in (LANE, ROUTE):
        answers.append(_answer(client.post(f"/api/v1/items/{pair[media_type]['id']}/transitions",
                                           content=iter([chunk, chunk, chunk]),
                                           headers={**world.h("asg_a"), "Content-Type": media_type})))
    assert answers[0] == answers[1] and answers[0][0] == 413


def test_a_client_leaving_mid_body_fires_nothing(client, world, pair, rt):
    """A body cut off by a disconnect is never treated as whole, even when what came so far parses."""
    import asyncio

    lane, item = _lane(client), pair[LANE]
    before = lane.served
    whole_so_far = json.dumps({"trigger": "report_progress", "comment": "已完成"}).encode()
    sent = [{"type": "http.request", "body": whole_so_far, "more_body": True}, {"type": "http.disconnect"}]

    async def receive():
        return sent.pop(0) if sent else {"type": "http.disconnect"}

    async def send(_message):
        pass

    headers = [(k.lower().encode(), v.encode()) for k, v in {**world.h("asg_a"), "Content-Type": LANE}.items()]
    path = f"/api/v1/items/{item['id']}/transitions"
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "", "headers": headers,
             "client": ("127.0.0.1", 5555), "server": ("127.0.0.1", 8000)}
    try:
        asyncio.run(client.app(scope, receive, send))
    except Exception:  # noqa: BLE001 - whatever FastAPI does with a vanished client, nothing may be written
        pass
    assert lane.served == before
    now = client.get(f"/api/v1/items/{item['id']}", headers=world.h("asg_a")).json()
    assert now["version"] == item["version"]

"""GET /api/v1/audit/admin-log: auditors and admins only, paged like every list, filtered by action, actor and
local dates, newest or oldest first; bad input answers a problem and nothing else. Both stores."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from tests.helpers import assert_problem

URL = "/api/v1/audit/admin-log"


def _stored(rt) -> list[tuple[int, str, str]]:
    with rt.store.read() as conn:
        return [tuple(r) for r in conn.execute(sa.text("SELECT seq, action, actor FROM admin_log ORDER BY seq"))]


def _all_pages(client, world, **params) -> list[dict]:
    seen, cursor = [], None
    while True:
        page = client.get(URL, params={**params, **({"cursor": cursor} if cursor else {})}, headers=world.h("aud"))
        assert page.status_code == 200, page.text
        body = page.json()
        seen.extend(body["data"])
        cursor = body["next_cursor"]
        if cursor is None:
            return seen


def test_pages_walk_the_whole_log_newest_first_or_oldest_first(client, world, rt):
    stored = _stored(rt)
    newest = _all_pages(client, world, limit=7)
    assert [e["seq"] for e in newest] == [s[0] for s in reversed(stored)]
    oldest = _all_pages(client, world, limit=5, order="oldest")
    assert [e["seq"] for e in oldest] == [s[0] for s in stored]
    first = oldest[0]
    assert set(first) == {"seq", "at", "actor", "action", "target", "before", "after", "prev_hash", "hash"}
    assert first["prev_hash"] == "0" * 64 and oldest[1]["prev_hash"] == first["hash"]
    page = client.get(URL, params={"limit": 2}, headers=world.h("adm")).json()
    assert len(page["data"]) == 2 and page["next_cursor"]


def test_filters_by_action_actor_and_local_dates(client, world, rt, clock):
    client.post("/api/v1/units", json={"code": "LATER", "name": "次日"}, headers=world.h("adm"))
    clock.advance(days=1)
    client.post("/api/v1/units", json={"code": "LATEST", "name": "再次日"}, headers=world.h("adm"))
    stored = _stored(rt)
    units = _all_pages(client, world, action="unit.add", limit=2)
    assert [e["seq"] for e in units] == [s[0] for s in reversed(stored) if s[1] == "unit.add"]
    by_admin = _all_pages(client, world, actor="adm")
    assert [e["target"] for e in by_admin] == ["unit:LATEST", "unit:LATER"]
    today = rt.today()
    assert [e["target"] for e in _all_pages(client, world, actor="adm", **{"from": today.isoformat()})] == [
        "unit:LATEST"]
    yesterday = (today - dt.timedelta(days=1)).isoformat()
    assert [e["target"] for e in _all_pages(client, world, actor="adm", to=yesterday)] == ["unit:LATER"]
    assert _all_pages(client, world, action="no.such.action") == []
    assert _all_pages(client, world, **{"from": "0001-01-01", "to": "9999-12-31"}) != []


def test_only_auditors_and_admins_read_it(client, world):
    for user in ("reg", "sup", "ver", "asg_a"):
        assert_problem(client.get(URL, headers=world.h(user)), 403)
    assert_problem(client.get(URL), 401)
    assert client.get(URL, headers=world.h("adm")).status_code == 200


def test_bad_input_is_a_problem_naming_the_parameter(client, world):
    page = client.get(URL, params={"limit": 1}, headers=world.h("aud")).json()
    cases = [({"limit": 0}, "limit"), ({"limit": 501}, "limit"), ({"order": "sideways"}, "order"),
             ({"from": "2026-02-30"}, "from"), ({"from": "2026-03-05", "to": "2026-03-01"}, "from"),
             ({"cursor": "garbage"}, "cursor"), ({"cursor": page["next_cursor"], "order": "oldest"}, "cursor"),
             ({"cursor": page["next_cursor"], "action": "unit.add"}, "cursor"), ({"actor": "a\x00b"}, "actor"),
             ({"colour": "red"}, "colour"), ({"action": "x" * 65}, "action")]
    for params, field in cases:
        body = assert_problem(client.get(URL, params=params, headers=world.h("aud")), 422)
        assert field in (body.get("field") or "") + body["detail"] + str(body.get("errors", "")), (params, body)


def test_the_in_database_check_reports_the_admin_log(client, world, rt):
    body = client.get("/api/v1/audit/verify", headers=world.h("aud")).json()
    stored = _stored(rt)
    with rt.store.read() as conn:
        head = conn.execute(sa.text("SELECT hash FROM admin_log ORDER BY seq DESC LIMIT 1")).scalar_one()
    assert body["ok"] and body["admin_log"] == {"ok": True, "entries": len(stored), "head": head, "first_bad": None}

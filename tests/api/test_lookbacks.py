"""Look-back (回头看) on both stores: a sample drawn again from the same seed is the same (and anyone can draw it
from the documented formula), the draw is in the admin log, and each re-check is in the item's hash-chained
history; a failed one reopens the item with the finding."""
from __future__ import annotations

import hashlib

import pytest

from api.models_campaigns import LookbackOut
from tests.api.test_reports import steps
from tests.conftest import builds
from tests.helpers import assert_problem, drive, new_item, table_counts

pytestmark = pytest.mark.prebuilt("lookbacks-closed")
LOOKBACK_TABLES = ("lookbacks", "lookback_items", "lookback_checks", "history", "items", "admin_log")


@builds("lookbacks-closed")
def _closed(client, world, rt, clock):
    """Twelve closed items (DEPT-A, SUB-A1, DEPT-B in turn; the first six in campaign R1) and two open ones."""
    units = ("DEPT-A", "SUB-A1", "DEPT-B")
    made = [drive(client, world, rt, new_item(client, world, unit=units[n % 3], campaign="R1" if n < 6 else None),
                  "closed") for n in range(12)]
    new_item(client, world)
    drive(client, world, rt, new_item(client, world, unit="DEPT-B"), "rectifying")
    return made


@pytest.fixture
def closed(prebuilt):
    """The closed items of _closed."""
    return prebuilt


def _draw(client, world, body: dict, user: str = "aud") -> dict:
    response = client.post("/api/v1/lookbacks", json=body, headers=world.h(user))
    assert response.status_code == 201, response.text
    LookbackOut.model_validate(response.json())  # the documented shape
    return response.json()


def _numbers(lookback: dict) -> list[str]:
    return [line["number"] for line in lookback["items"]]


def _check(client, world, lookback: dict, item: str, result: str, note: str, user: str = "aud"):
    return client.post(f"/api/v1/lookbacks/{lookback['id']}/items/{item}", json={"result": result, "note": note},
                       headers=world.h(user))


def test_the_same_seed_over_the_same_items_draws_the_same_sample(client, world, closed):
    first = _draw(client, world, {"size": 5, "seed": "2026-Q3-A"})
    again = _draw(client, world, {"size": 5, "seed": first["seed"]})
    assert _numbers(first) == _numbers(again) and len(set(_numbers(first))) == 5
    assert first["population"] == again["population"] == 12
    assert first["population_digest"] == again["population_digest"]
    other = _draw(client, world, {"size": 5, "seed": "another-seed"})
    assert _numbers(other) != _numbers(first)
    # The documented formula, computed here without any closeloop code: the 5 smallest SHA-256(seed \n number).
    numbers = sorted(i["number"] for i in closed)
    ranked = sorted(numbers, key=lambda n: hashlib.sha256(f"{first['seed']}\n{n}".encode()).hexdigest())
    assert _numbers(first) == ranked[:5]
    assert first["population_digest"] == hashlib.sha256("".join(n + "\n" for n in numbers).encode()).hexdigest()


def test_a_draw_by_percent_unit_or_campaign_takes_only_matching_closed_items(client, world, closed):
    by_percent = _draw(client, world, {"percent": 25})
    assert len(by_percent["items"]) == 3 and len(by_percent["seed"]) == 32  # a generated seed
    dept_a = _draw(client, world, {"percent": 100, "unit": "DEPT-A"})
    assert dept_a["population"] == 8 and {line["unit"] for line in dept_a["items"]} == {"DEPT-A", "SUB-A1"}
    # A code in another case names the same unit, and the look-back records the unit's own code.
    lower = _draw(client, world, {"percent": 100, "unit": "dept-a", "seed": dept_a["seed"]})
    assert (lower["unit"], lower["population_digest"]) == ("DEPT-A", dept_a["population_digest"])
    r1 = _draw(client, world, {"size": 6, "campaign": "R1"})
    assert sorted(_numbers(r1)) == sorted(i["number"] for i in closed[:6])
    # A code loses the spaces around it, as everywhere a campaign is named (was 422: "no closed items match").
    padded = _draw(client, world, {"size": 6, "campaign": " R1\u3000", "seed": r1["seed"]})
    assert (padded["campaign"], _numbers(padded)) == ("R1", _numbers(r1))
    assert all(line["state"] == "closed" and line["check"] is None for line in r1["items"])


def test_the_draw_is_recorded_in_the_admin_log(client, world, closed):
    lookback = _draw(client, world, {"size": 4, "seed": "s1", "campaign": "R1"})
    log = client.get("/api/v1/audit/admin-log?action=lookback.draw", headers=world.h("aud")).json()["data"]
    assert len(log) == 1 and log[0]["seq"] == lookback["admin_log_seq"]
    assert log[0]["target"] == f"lookback:{lookback['id']}" and log[0]["actor"] == "aud"
    assert log[0]["after"] == {"seed": "s1", "size": 4, "percent": None, "unit": None, "campaign": "R1",
                               "population": 6, "population_digest": lookback["population_digest"],
                               "sample": _numbers(lookback)}
    fetched = client.get(f"/api/v1/lookbacks/{lookback['id']}", headers=world.h("adm"))
    assert fetched.status_code == 200 and fetched.json() == lookback


def test_a_passed_re_check_is_recorded_in_the_history_and_leaves_the_item_closed(client, world, closed):
    lookback = _draw(client, world, {"size": 2, "seed": "p"})
    number = _numbers(lookback)[0]
    response = _check(client, world, lookback, number.lower(), "passed", "现场核查：学位已补齐")
    assert response.status_code == 200, response.text
    assert response.json()["check"]["result"] == "passed" and response.json()["state"] == "closed"
    history = client.get(f"/api/v1/items/{number}/history", headers=world.h("aud")).json()["data"]
    last = history[-1]
    assert (last["trigger"], last["from_state"], last["to_state"], last["actor"], last["comment"]) == (
        "lookback", "closed", "closed", "aud", "现场核查：学位已补齐")
    assert last["fields"] == {"lookback": lookback["id"], "result": "passed"}
    assert last["seq"] == response.json()["check"]["history_seq"]
    item = client.get(f"/api/v1/items/{number}", headers=world.h("aud")).json()
    assert item["state"] == "closed" and item["version"] == len(history) and item["reopened_count"] == 0
    assert client.get("/api/v1/audit/verify", headers=world.h("aud")).json()["ok"] is True


def test_a_failed_re_check_reopens_the_item_with_the_finding(client, world, rt, closed):
    lookback = _draw(client, world, {"size": 3, "seed": "f"})
    number = _numbers(lookback)[1]
    finding = "回头看发现：新增学位未实际投入使用，问题反弹"
    response = _check(client, world, lookback, number, "failed", finding)
    assert response.status_code == 200, response.text
    assert response.json()["state"] == "rectifying" and response.json()["check"]["result"] == "failed"
    history = client.get(f"/api/v1/items/{number}/history", headers=world.h("aud")).json()["data"]
    recheck, reopen = history[-2], history[-1]
    assert (recheck["trigger"], recheck["comment"], recheck["fields"]["result"]) == ("lookback", finding, "failed")
    assert (reopen["trigger"], reopen["from_state"], reopen["to_state"], reopen["comment"], reopen["actor"]) == (
        "reopen", "closed", "rectifying", finding, "aud")
    item = client.get(f"/api/v1/items/{number}", headers=world.h("aud")).json()
    assert item["reopened_count"] == 1
    assert client.get("/api/v1/audit/verify", headers=world.h("aud")).json()["ok"] is True
    totals = client.get("/api/v1/reports/summary", headers=world.h("aud")).json()["totals"]
    assert totals["reopened"] == 1 and totals["reopen_rate"] == round(1 / 12, 4)
    view = client.get(f"/api/v1/lookbacks/{lookback['id']}", headers=world.h("aud")).json()
    assert (view["checked"], view["passed"], view["failed"]) == (1, 0, 1)
    # The unit fixes it again and it is closed once more: the look-back's record stays where it was.
    item = steps(client, world, rt, item, ["submit", "approve", "close"])
    assert item["state"] == "closed"


def test_re_checks_that_cannot_be_recorded_change_nothing(client, world, rt, closed):
    lookback = _draw(client, world, {"size": 3, "seed": "x"})
    first, second = _numbers(lookback)[:2]
    outside = next(i["number"] for i in closed if i["number"] not in _numbers(lookback))
    assert _check(client, world, lookback, first, "passed", "ok").status_code == 200
    steps(client, world, rt, client.get(f"/api/v1/items/{second}", headers=world.h("sup")).json(), ["reopen"],
          as_user={"reopen": "sup"})
    before = table_counts(rt, LOOKBACK_TABLES)
    assert "already" in assert_problem(_check(client, world, lookback, first, "failed", "again"), 409)["detail"]
    assert "no longer closed" in assert_problem(_check(client, world, lookback, second, "passed", "ok"), 409)["detail"]
    assert_problem(_check(client, world, lookback, outside, "passed", "ok"), 404)
    assert_problem(_check(client, world, {"id": 999}, first, "passed", "ok"), 404)
    assert_problem(_check(client, world, lookback, first, "passed", "ok", user="sup"), 403)
    assert_problem(_check(client, world, lookback, first, "maybe", "ok"), 422)
    assert_problem(_check(client, world, lookback, first, "failed", "  "), 422)
    assert table_counts(rt, LOOKBACK_TABLES) == before


@pytest.mark.parametrize("body, user, status, field", [
    ({"size": 3}, "sup", 403, None), ({"size": 3}, "adm", 403, None), ({"size": 3, "percent": 10}, "aud", 422, None),
    ({}, "aud", 422, None), ({"size": 13}, "aud", 422, "size"), ({"size": 0}, "aud", 422, None),
    ({"percent": 101}, "aud", 422, None), ({"size": 2, "unit": "NOPE"}, "aud", 422, "unit"),
    ({"size": 2, "campaign": "NO-SUCH"}, "aud", 422, "size"), ({"size": 2, "campaign": "  "}, "aud", 422, None),
    ({"size": 2, "seed": "含中文"}, "aud", 422, None),
    ({"size": 2, "seed": "x" * 65}, "aud", 422, None), ({"size": 2, "extra": True}, "aud", 422, None),
])
def test_a_bad_draw_is_refused_and_changes_nothing(client, world, rt, closed, body, user, status, field):
    before = table_counts(rt, LOOKBACK_TABLES)
    problem = assert_problem(client.post("/api/v1/lookbacks", json=body, headers=world.h(user)), status)
    if field:
        assert problem["field"] == field
    assert table_counts(rt, LOOKBACK_TABLES) == before


def test_only_auditors_and_admins_read_a_look_back(client, world, closed):
    lookback = _draw(client, world, {"size": 1})
    assert_problem(client.get(f"/api/v1/lookbacks/{lookback['id']}", headers=world.h("sup")), 403)
    assert_problem(client.get("/api/v1/lookbacks/424242", headers=world.h("aud")), 404)
    assert_problem(client.get("/api/v1/lookbacks/0", headers=world.h("aud")), 422)

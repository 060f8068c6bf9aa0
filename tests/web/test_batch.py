"""Batch actions on the item list, on both stores: each ticked item fired on its own at the version the list
showed, the page saying per item done or refused in words; one refusal neither stops nor undoes the others."""
from __future__ import annotations

import datetime as dt
import html
import re

from tests.helpers import drive, fire, new_item, table_counts
from tests.web.support import alert, sign_in


def _results(page: str) -> dict[str, str]:
    rows = re.findall(r'<tr class="(done|refused)"><td><a href="/items/([^"]+)">[^<]*</a></td>\s*<td>([^<]*)</td>',
                      page)
    return {number: html.unescape(text).strip() for _kind, number, text in rows}


def _state(client, world, item) -> str:
    return client.get(f"/api/v1/items/{item['id']}", headers=world.h("aud")).json()["state"]


def test_a_batch_assigns_each_item_on_its_own_and_says_what_was_refused(client, world, rt):
    first, second, assigned = (new_item(client, world, unit=u) for u in ("DEPT-A", "SUB-A1", "DEPT-A"))
    due = (rt.today() + dt.timedelta(days=15)).isoformat()
    assert fire(client, world, assigned, {"trigger": "assign", "fields": {"unit": "DEPT-A", "due_date": due}},
                "sup").status_code == 200
    stale = new_item(client, world)
    csrf = sign_in(client, rt, "sup")
    listing = client.get("/items").text
    assert 'action="/items/batch"' in listing and "某一事项未能办理，不影响其他事项" in listing
    boxes = dict(re.findall(r'name="item" value="(ZG-[\d-]+)@(\d+)"', listing))
    assert boxes[first["number"]] == "1"
    assert fire(client, world, stale, {"trigger": "cancel", "comment": "重复登记"}, "sup").status_code == 200

    chosen = [f"{item['number']}@{boxes[item['number']]}" for item in (first, assigned, second, stale)]
    done = client.post("/items/batch", data={"csrf": csrf, "action": "assign", "unit": "", "due_date": due,
                                             "item": chosen})
    assert done.status_code == 200
    results = _results(done.text)
    assert results[first["number"]] == "✓ 已办理" and results[second["number"]] == "✓ 已办理"
    assert results[assigned["number"]].startswith("✗ 操作未执行：") and "'assign' is not allowed" in \
        results[assigned["number"]]
    assert "已被他人更新" in results[stale["number"]]
    assert "2 项已办理，2 项未办理。" in done.text
    for item, unit in ((first, "DEPT-A"), (second, "SUB-A1")):  # each to its own unit, with the due date
        now = client.get(f"/api/v1/items/{item['id']}", headers=world.h("aud")).json()
        assert (now["state"], now["unit"], now["due_date"]) == ("assigned", unit, due)
    english = client.post("/items/batch?lang=en", data={"csrf": csrf, "action": "assign", "due_date": due,
                                                        "item": [f"{first['number']}@2"]}).text
    assert "Not done:" in english and "Each selected item is acted on by itself" in english


def test_a_batch_closes_the_verified_items_and_leaves_the_others(client, world, rt):
    verified = [drive(client, world, rt, new_item(client, world), "verified") for _ in range(2)]
    rectifying = drive(client, world, rt, new_item(client, world), "rectifying")
    elsewhere = drive(client, world, rt, new_item(client, world, unit="DEPT-B"), "verified")
    csrf = sign_in(client, rt, "sup_a")  # DEPT-A's supervisor: DEPT-B's item is not theirs to see
    items = [*verified, rectifying, elsewhere]
    done = client.post("/items/batch", data={"csrf": csrf, "action": "close",
                                             "item": [f"{i['number']}@{i['version']}" for i in items]})
    results = _results(done.text)
    assert [results[i["number"]] for i in verified] == ["✓ 已办理", "✓ 已办理"]
    assert "'close' is not allowed from state 'rectifying'" in results[rectifying["number"]]
    assert "未找到该事项" in results[elsewhere["number"]]
    assert [_state(client, world, i) for i in items] == ["closed", "closed", "rectifying", "verified"]


def test_the_list_offers_no_batch_to_those_who_cannot_and_bad_batches_change_nothing(client, world, rt):
    item = new_item(client, world)
    csrf = sign_in(client, rt, "asg_a")
    assert 'action="/items/batch"' not in client.get("/items").text
    refused = client.post("/items/batch", data={"csrf": csrf, "action": "assign", "unit": "DEPT-A",
                                                 "item": f"{item['number']}@1",
                                                 "due_date": (rt.today() + dt.timedelta(days=9)).isoformat()})
    assert "needs one of the roles supervisor" in _results(refused.text)[item["number"]]
    csrf = sign_in(client, rt, "sup")
    before = table_counts(rt)
    for data, words in (({"action": "assign"}, "请至少选择一个事项"), ({"item": f"{item['number']}@1"}, "请选择要办理的操作"),
                        ({"action": "reopen", "item": f"{item['number']}@1"}, "请选择要办理的操作")):
        response = client.post("/items/batch", data={"csrf": csrf, **data})
        assert response.status_code == 422 and words in alert(response.text)
    no_token = client.post("/items/batch", data={"action": "assign", "unit": "DEPT-A", "item": f"{item['number']}@1",
                                                 "due_date": (rt.today() + dt.timedelta(days=9)).isoformat()})
    assert no_token.status_code == 403
    bad = client.post("/items/batch", data={"csrf": csrf, "action": "assign", "item": f"{item['number']}@x",
                                            "due_date": "someday"})
    assert "due_date" in _results(bad.text)[item["number"]]
    assert table_counts(rt) == before and _state(client, world, item) == "identified"

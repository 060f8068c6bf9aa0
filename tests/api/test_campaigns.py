"""Campaigns (专项整治 rounds): registering and correcting them (admin log), the list, and the item-by-item
reconciliation (对账销号) of a 30-item campaign while its items move, on both stores."""
from __future__ import annotations

import datetime as dt

import pytest

from api.models_campaigns import CampaignList, CampaignReconciliation
from tests.api.test_reports import steps
from tests.helpers import assert_problem, drive, new_item, table_counts

CODE = "2026-XC-R1"
ROUND = {"code": CODE, "name": "2026年第一轮巡察", "issued_by": "市委巡察办", "issued_on": "2026-02-20"}


def _reconcile(client, world, user="aud", code=CODE) -> dict:
    response = client.get(f"/api/v1/campaigns/{code}", headers=world.h(user))
    assert response.status_code == 200, response.text
    CampaignReconciliation.model_validate(response.json())  # the documented shape
    return response.json()


def _admin_log(client, world) -> list[dict]:
    return client.get("/api/v1/audit/admin-log?order=oldest&limit=500", headers=world.h("aud")).json()["data"]


def _agrees_with_items(client, world, report: dict) -> None:
    """Every line says what the item itself says now."""
    for line in report["items"]:
        item = client.get(f"/api/v1/items/{line['id']}", headers=world.h("aud")).json()
        assert (line["state"], line["light"], line["overdue_days"], line["unit"]) == (
            item["state"], item["light"], item["overdue_days"], item["unit"]), line["number"]
        assert line["settled"] == (item["state"] in ("closed", "cancelled"))


def test_a_campaign_of_30_items_reconciles_while_its_items_move(client, world, rt, clock):
    units = ["DEPT-A", "SUB-A1", "DEPT-B"]
    made = [new_item(client, world, unit=units[n % 3], campaign=CODE, due_date=(rt.today() + dt.timedelta(
        days=5 + n)).isoformat()) for n in range(30)]
    new_item(client, world, campaign="another round")
    report = _reconcile(client, world)
    assert report["campaign"] is None and not report["can_report_closed"]
    assert report["summary"]["items"] == 30 and report["summary"]["open"] == 30
    assert any("not registered" in r for r in report["reasons"])
    assert [line["number"] for line in report["items"]] == sorted(i["number"] for i in made)

    assert client.post("/api/v1/campaigns", json=ROUND, headers=world.h("sup")).status_code == 201
    made = [drive(client, world, rt, item, "closed") if n < 20 else item for n, item in enumerate(made)]
    made[20:24] = [drive(client, world, rt, item, "cancelled") for item in made[20:24]]
    made[24:30] = [drive(client, world, rt, item, "rectifying") for item in made[24:30]]
    clock.advance(days=40)  # the six still rectifying are now overdue
    report = _reconcile(client, world)
    _agrees_with_items(client, world, report)
    assert report["summary"] == {"items": 30, "closed": 20, "cancelled": 4, "open": 6, "overdue": 6,
                                 "closed_on_time": 20, "closed_late": 0}
    assert not report["can_report_closed"]
    assert report["reasons"] == ["6 item(s) are not closed (6 overdue): "
                                 + ", ".join(sorted(i["number"] for i in made[24:30]))]
    assert {line["light"] for line in report["items"] if not line["settled"]} == {"red"}

    # Closing the rest late; one closed item is reopened by an auditor, so the campaign is open again.
    made[24:30] = [steps(client, world, rt, item, ["submit", "approve", "close"]) for item in made[24:30]]
    report = _reconcile(client, world)
    _agrees_with_items(client, world, report)
    assert report["can_report_closed"] and report["reasons"] == []
    assert report["summary"]["closed_late"] == 6 and report["summary"]["closed_on_time"] == 20
    late = next(line for line in report["items"] if line["id"] == made[24]["id"])
    assert late["closed_on_time"] is False and late["closed_on"] == rt.today().isoformat()
    steps(client, world, rt, made[0], ["reopen"])
    report = _reconcile(client, world)
    assert not report["can_report_closed"] and report["summary"]["open"] == 1
    # Reopened past its due date, it is overdue at once: the due date in force did not move.
    assert report["reasons"] == [f"1 item(s) are not closed (1 overdue): {made[0]['number']}"]


def test_a_unit_sees_its_own_share_of_a_campaign(client, world):
    client.post("/api/v1/campaigns", json=ROUND, headers=world.h("sup"))
    for unit in ("DEPT-A", "SUB-A1", "DEPT-B"):
        new_item(client, world, unit=unit, campaign=CODE)
    report = _reconcile(client, world, "sup_a")
    assert report["scope"] == "DEPT-A" and {line["unit"] for line in report["items"]} == {"DEPT-A", "SUB-A1"}
    listed = client.get("/api/v1/campaigns", headers=world.h("sup_b")).json()["data"]
    assert [(c["code"], c["items"], c["registered"]) for c in listed] == [(CODE, 1, True)]
    assert_problem(client.get("/api/v1/campaigns/NO-SUCH-ROUND", headers=world.h("sup_b")), 404)


def test_registering_and_correcting_a_campaign_goes_into_the_admin_log(client, world):
    new_item(client, world, campaign="未登记的一轮")
    created = client.post("/api/v1/campaigns", json=ROUND, headers=world.h("sup"))
    assert created.status_code == 201, created.text
    assert created.json() | {"created_at": None} == {**ROUND, "registered": True, "created_by": "sup",
                                                      "created_at": None}
    changed = client.patch(f"/api/v1/campaigns/{CODE}", json={"issued_by": "市委第一巡察组"}, headers=world.h("adm"))
    assert changed.status_code == 200 and changed.json()["issued_by"] == "市委第一巡察组"
    entries = [e for e in _admin_log(client, world) if e["target"] == f"campaign:{CODE}"]
    assert [(e["action"], e["actor"]) for e in entries] == [("campaign.add", "sup"), ("campaign.change", "adm")]
    assert entries[0]["after"] == ROUND and entries[1]["before"] == {"issued_by": "市委巡察办"}
    listed = CampaignList.model_validate(client.get("/api/v1/campaigns", headers=world.h("reg")).json()).model_dump(
        mode="json")["data"]
    assert [(c["code"], c["registered"], c["items"]) for c in listed] == [(CODE, True, 0), ("未登记的一轮", False, 1)]
    assert client.get("/api/v1/audit/verify", headers=world.h("aud")).json()["ok"] is True


@pytest.mark.parametrize("body, user, status", [
    (ROUND, "reg", 403), (ROUND, "asg_a", 403), ({**ROUND, "issued_on": "2026-02-30"}, "sup", 422),
    ({**ROUND, "code": " "}, "sup", 422), ({**ROUND, "extra": 1}, "sup", 422), ({"code": "X"}, "sup", 422),
])
def test_a_bad_campaign_is_refused_and_changes_nothing(client, world, rt, body, user, status):
    before = table_counts(rt, ("campaigns", "admin_log"))
    assert_problem(client.post("/api/v1/campaigns", json=body, headers=world.h(user)), status)
    assert table_counts(rt, ("campaigns", "admin_log")) == before


def test_a_taken_code_and_bad_corrections_are_refused(client, world, rt):
    assert client.post("/api/v1/campaigns", json=ROUND, headers=world.h("sup")).status_code == 201
    before = table_counts(rt, ("campaigns", "admin_log"))
    assert_problem(client.post("/api/v1/campaigns", json=ROUND, headers=world.h("adm")), 409)
    assert_problem(client.patch(f"/api/v1/campaigns/{CODE}", json={}, headers=world.h("sup")), 422)
    assert_problem(client.patch(f"/api/v1/campaigns/{CODE}", json={"name": None}, headers=world.h("sup")), 422)
    assert_problem(client.patch(f"/api/v1/campaigns/{CODE}", json={"code": "Y"}, headers=world.h("sup")), 422)
    assert_problem(client.patch("/api/v1/campaigns/NOPE", json={"name": "x"}, headers=world.h("sup")), 404)
    assert_problem(client.patch(f"/api/v1/campaigns/{CODE}", json={"name": "x"}, headers=world.h("reg")), 403)
    assert table_counts(rt, ("campaigns", "admin_log")) == before


def test_the_summary_report_groups_by_campaign_with_its_name(client, world):
    client.post("/api/v1/campaigns", json=ROUND, headers=world.h("sup"))
    new_item(client, world, campaign=CODE)
    new_item(client, world)
    groups = client.get("/api/v1/reports/summary?group_by=campaign", headers=world.h("aud")).json()["groups"]
    assert [(g["key"], g["label"], g["total"]) for g in groups] == [(CODE, ROUND["name"], 1), (None, None, 1)]


def test_codes_no_campaign_can_have_are_not_found(client, world):
    for code in ("a%00b", "%00"):
        assert_problem(client.get(f"/api/v1/campaigns/{code}", headers=world.h("aud")), 404)
        assert_problem(client.patch(f"/api/v1/campaigns/{code}", json={"name": "x"}, headers=world.h("sup")), 404)


def test_the_documented_example_registers_a_campaign(client, world):
    from api.examples import REQUESTS

    assert client.post("/api/v1/campaigns", json=REQUESTS["create_campaign"], headers=world.h("sup")).status_code == 201
    changed = client.patch(f"/api/v1/campaigns/{REQUESTS['create_campaign']['code']}",
                           json=REQUESTS["update_campaign"], headers=world.h("sup"))
    assert changed.status_code == 200, changed.text

"""What a campaign is registered with, on both stores: an issue date that cannot be meant (0001-01-01, 2099) is
refused like a due date that cannot be, with 422 naming ``issued_on`` and nothing stored; a campaign code, and an
item's ``campaign``, lose the spaces around them (" 2026-XC-R1 " was another campaign, which ``?campaign=`` and
the reconciliation of 2026-XC-R1 did not find), and one that is blank is refused."""
from __future__ import annotations

import datetime as dt

import pytest

from engine.deadlines import EARLIEST_DAY, HORIZON_YEARS
from tests.helpers import assert_problem, new_item, table_counts

CODE = "2026-XC-R1"
ROUND = {"code": CODE, "name": "2026年第一轮巡察", "issued_by": "市委巡察办", "issued_on": "2026-02-20"}
COUNTED = ("campaigns", "admin_log")
BLANK = ["", "   ", "\u3000", " \t\n"]
_SLIPS = {"0001-01-01": "is before 2000-01-01", "1999-12-31": "is before 2000-01-01",
          "9999-12-31": "is more than 10 years ahead", "2099-01-01": "is more than 10 years ahead"}


def _ten_years_on(rt) -> dt.date:
    return rt.today().replace(year=rt.today().year + HORIZON_YEARS)


@pytest.mark.parametrize("day", sorted(_SLIPS))
def test_registering_a_campaign_issued_on_a_slip_is_refused(client, world, rt, day):
    before = table_counts(rt, COUNTED)
    problem = assert_problem(client.post("/api/v1/campaigns", json={**ROUND, "issued_on": day},
                                         headers=world.h("sup")), 422)
    assert problem["field"] == "issued_on" and f"issued_on {day} {_SLIPS[day]}" in problem["detail"], problem
    assert "reminder" not in problem["detail"]  # that is a due date's harm, not an issue date's
    assert table_counts(rt, COUNTED) == before
    assert_problem(client.get(f"/api/v1/campaigns/{CODE}", headers=world.h("aud")), 404)


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31"])
def test_correcting_the_issue_date_to_a_slip_changes_nothing(client, world, rt, day):
    assert client.post("/api/v1/campaigns", json=ROUND, headers=world.h("sup")).status_code == 201
    before = table_counts(rt, COUNTED)
    problem = assert_problem(client.patch(f"/api/v1/campaigns/{CODE}", json={"issued_on": day, "name": "改"},
                                          headers=world.h("sup")), 422)
    assert problem["field"] == "issued_on" and day in problem["detail"], problem
    assert table_counts(rt, COUNTED) == before
    assert client.get(f"/api/v1/campaigns/{CODE}", headers=world.h("aud")).json()["campaign"] | {
        "created_at": None} == {**ROUND, "registered": True, "created_by": "sup", "created_at": None}


def test_the_bounds_themselves_are_accepted(client, world, rt):
    first = client.post("/api/v1/campaigns", json={**ROUND, "issued_on": EARLIEST_DAY.isoformat()},
                        headers=world.h("sup"))
    assert first.status_code == 201, first.text
    latest = _ten_years_on(rt).isoformat()
    changed = client.patch(f"/api/v1/campaigns/{CODE}", json={"issued_on": latest}, headers=world.h("sup"))
    assert changed.status_code == 200 and changed.json()["issued_on"] == latest, changed.text
    too_far = (_ten_years_on(rt) + dt.timedelta(days=1)).isoformat()
    assert_problem(client.patch(f"/api/v1/campaigns/{CODE}", json={"issued_on": too_far}, headers=world.h("sup")),
                   422)


def test_a_code_with_spaces_around_it_is_the_same_campaign(client, world, rt):
    created = client.post("/api/v1/campaigns", json={**ROUND, "code": f" {CODE}\u3000"}, headers=world.h("sup"))
    assert created.status_code == 201 and created.json()["code"] == CODE, created.text
    before = table_counts(rt, COUNTED)
    assert_problem(client.post("/api/v1/campaigns", json=ROUND, headers=world.h("adm")), 409)
    assert_problem(client.post("/api/v1/campaigns", json={**ROUND, "code": f"{CODE} "}, headers=world.h("adm")), 409)
    assert table_counts(rt, COUNTED) == before
    entry = client.get("/api/v1/audit/admin-log?action=campaign.add", headers=world.h("aud")).json()["data"][0]
    assert (entry["target"], entry["after"]["code"]) == (f"campaign:{CODE}", CODE)
    # What is stored is the code as items name it, and the longest code counts only what is kept.
    longest = "专" * 100
    assert client.post("/api/v1/campaigns", json={**ROUND, "code": f"  {longest}  "},
                       headers=world.h("sup")).json()["code"] == longest


def test_an_items_campaign_with_spaces_around_it_is_found_and_reconciled(client, world):
    assert client.post("/api/v1/campaigns", json=ROUND, headers=world.h("sup")).status_code == 201
    padded = new_item(client, world, campaign=f"{CODE} ")
    leading = new_item(client, world, campaign=f"\u3000{CODE}")
    assert (padded["campaign"], leading["campaign"]) == (CODE, CODE)
    found = client.get("/api/v1/items", params={"campaign": CODE}, headers=world.h("aud")).json()["data"]
    assert sorted(i["id"] for i in found) == sorted((padded["id"], leading["id"]))
    report = client.get(f"/api/v1/campaigns/{CODE}", headers=world.h("aud")).json()
    assert sorted(line["id"] for line in report["items"]) == sorted((padded["id"], leading["id"]))
    listed = client.get("/api/v1/campaigns", headers=world.h("aud")).json()["data"]
    assert [(c["code"], c["registered"], c["items"]) for c in listed] == [(CODE, True, 2)]


@pytest.mark.parametrize("blank", BLANK, ids=repr)
def test_a_blank_campaign_is_refused_for_an_item_and_for_a_campaign(client, world, rt, blank):
    before = table_counts(rt)
    refused = assert_problem(client.post("/api/v1/items", headers=world.h("reg"), json={
        "title": "食堂台账不全", "source": "inspection", "unit": "DEPT-A", "campaign": blank}), 422)
    assert [e["loc"] for e in refused["errors"]] == [["body", "campaign"]], refused
    refused = assert_problem(client.post("/api/v1/campaigns", json={**ROUND, "code": blank}, headers=world.h("sup")),
                             422)
    assert [e["loc"] for e in refused["errors"]] == [["body", "code"]], refused
    assert table_counts(rt) == before
    assert client.get("/api/v1/campaigns", headers=world.h("aud")).json()["data"] == []

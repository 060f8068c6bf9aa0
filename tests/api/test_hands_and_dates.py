"""Who holds an item and by when, kept whole across the ways an item changes hands: a move to another unit
at `assign` lets go of the old unit's assignee, a granted extension never erases the deadline, and a reminder
whose named assignee was deactivated reaches the unit's people instead of nobody."""
from __future__ import annotations

import datetime as dt

import pytest

from engine.reminders.sweep import sweep
from tests.helpers import assert_problem, drive, fire, new_item, table_counts
from tests.ledger.support import ledger_file, upload


@pytest.mark.parametrize("workflow", ["standard", "immediate"])
def test_assigning_to_another_unit_lets_go_of_the_old_units_assignee(client, world, rt, workflow):
    item = new_item(client, world, unit="DEPT-A", workflow=workflow)
    assert item["assignee"] == "asg_a"
    due = (rt.today() + dt.timedelta(days=10)).isoformat()
    assigned = fire(client, world, item, {"trigger": "assign", "fields": {"unit": "DEPT-B", "due_date": due}}, "sup")
    assert assigned.status_code == 200, assigned.text
    body = assigned.json()
    assert (body["unit"], body["assignee"]) == ("DEPT-B", None)
    assert body["transition"]["fields"]["assignee"] is None
    # Naming the new unit's assignee keeps them; one of the old unit is still refused by name.
    other = new_item(client, world, unit="DEPT-A", workflow=workflow)
    wrong = fire(client, world, other, {"trigger": "assign", "fields": {"unit": "DEPT-B", "due_date": due,
                                                                        "assignee": "asg_a"}}, "sup")
    assert assert_problem(wrong, 422)["field"] == "fields.assignee"
    named = fire(client, world, other, {"trigger": "assign", "fields": {"unit": "DEPT-B", "due_date": due,
                                                                        "assignee": "asg_b"}}, "sup")
    assert named.status_code == 200 and named.json()["assignee"] == "asg_b", named.text


def test_assigning_within_the_unit_keeps_the_assignee(client, world, rt):
    item = new_item(client, world, unit="SUB-A1")  # asg_a1
    due = (rt.today() + dt.timedelta(days=10)).isoformat()
    assigned = fire(client, world, item, {"trigger": "assign", "fields": {"unit": "SUB-A1", "due_date": due}}, "sup")
    assert assigned.status_code == 200 and assigned.json()["assignee"] == "asg_a1", assigned.text


def test_granting_a_request_that_names_no_date_is_refused_and_the_deadline_stays(client, world, rt):
    # A ledger brings an item in already 延期审批中: its request names no new date (the file has no column for it).
    row = {"外部编号": "X-1", "问题来源": "审计", "问题描述": "延期项", "责任单位": "DEPT-A", "责任人": "asg_a",
           "整改时限": dt.date(2026, 3, 20), "当前状态": "延期审批中"}
    done = upload(client, world.h("sup"), ledger_file([row], kind="csv"), name="台账.csv")
    assert done.status_code == 200, done.text
    [item] = client.get("/api/v1/items?q=X-1", headers=world.h("sup")).json()["data"]
    assert (item["state"], item["due_date"]) == ("extension_requested", "2026-03-20")
    before = table_counts(rt)
    refused = assert_problem(fire(client, world, item, {"trigger": "grant_extension"}, "sup"), 422)
    assert "names no new due date" in refused["detail"] and "fields.due_date" in refused["detail"], refused
    assert table_counts(rt) == before
    kept = client.get(f"/api/v1/items/{item['id']}", headers=world.h("sup")).json()
    assert (kept["state"], kept["version"], kept["due_date"]) == ("extension_requested", item["version"], "2026-03-20")
    granted = fire(client, world, kept, {"trigger": "grant_extension", "fields": {"due_date": "2026-04-30"}}, "sup")
    assert granted.status_code == 200 and granted.json()["due_date"] == "2026-04-30", granted.text


def test_a_reminder_for_a_deactivated_assignee_reaches_the_units_people(client, world, rt, clock):
    item = drive(client, world, rt, new_item(client, world, unit="DEPT-A"), "rectifying")
    assert item["assignee"] == "asg_a"
    assert client.patch("/api/v1/users/asg_a", json={"active": False}, headers=world.h("adm")).status_code == 200
    clock.advance(days=8)  # the due-soon reminder (3 working days before the deadline) has come
    sweep(rt)
    notices = client.get(f"/api/v1/items/{item['id']}/reminders", headers=world.h("sup")).json()["data"]
    due_soon = [n for n in notices if n["kind"] == "reminder.due_soon"]
    assert due_soon and all(n["recipients"] for n in due_soon), notices
    # DEPT-A's other assignee stands in (with none left, its leader: tests/engine/test_reminder_rules.py).
    assert due_soon[0]["recipients"] == ["doer_a"], due_soon


def test_a_named_assignee_is_one_of_the_items_own_unit(client, world, rt):
    # asg_a1 (SUB-A1, below DEPT-A) was accepted as a DEPT-A item's assignee and then could not see it (404), while
    # DEPT-A's own assignee was refused as not named: the item sat stuck until transferred.
    before = table_counts(rt)
    refused = assert_problem(client.post("/api/v1/items", headers=world.h("reg"), json={
        "title": "食堂台账不全", "source": "inspection", "unit": "DEPT-A", "assignee": "asg_a1"}), 422)
    assert refused["field"] == "assignee" and "does not belong to the item's unit" in refused["detail"], refused
    assert table_counts(rt) == before
    item = new_item(client, world, unit="DEPT-A")
    due = (rt.today() + dt.timedelta(days=10)).isoformat()
    wrong = fire(client, world, item, {"trigger": "assign", "fields": {"due_date": due, "assignee": "asg_a1"}}, "sup")
    assert assert_problem(wrong, 422)["field"] == "fields.assignee"
    # The way to hand it to SUB-A1's person: move the item there.
    moved = fire(client, world, item, {"trigger": "assign", "fields": {"due_date": due, "unit": "SUB-A1",
                                                                       "assignee": "asg_a1"}}, "sup")
    assert moved.status_code == 200 and moved.json()["assignee"] == "asg_a1", moved.text
    assert fire(client, world, moved.json(), {"trigger": "accept"}, "asg_a1").status_code == 200

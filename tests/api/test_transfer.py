"""转办: a supervisor transfers an item to another unit before it is verified, through the real app on both
stores. The new unit must accept it again; the assignee is released unless one is named; the deadline is
the new state's; everything is in the history, and `closeloop audit verify` still says ok."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from typer.testing import CliRunner

from api.cli import app
from engine.models import Item
from tests.api.test_authorization import footprint
from tests.helpers import assert_problem, drive, fire, new_item
from tests.ledger.support import csv_cells

REASON = "经核实属市民政局职责范围"


def transfer(unit: str, comment: str | None = REASON, **fields) -> dict:
    body = {"trigger": "transfer", "fields": {"unit": unit, **fields}}
    return body | ({"comment": comment} if comment is not None else {})


def test_a_transferred_item_goes_to_the_new_unit_which_accepts_it_again(client, world, rt, db_url):
    item = drive(client, world, rt, new_item(client, world, due_date="2026-04-30"), "rectifying")
    before_reminder = _next_reminder(rt, item["id"])
    assert "transfer" in client.get(f"/api/v1/items/{item['id']}", headers=world.h("sup")).json()["allowed_triggers"]
    moved = fire(client, world, item, transfer("DEPT-B"), "sup")
    assert moved.status_code == 200, moved.text
    body = moved.json()
    assert (body["state"], body["unit"], body["assignee"], body["due_date"]) == ("assigned", "DEPT-B", None,
                                                                                 item["due_date"])
    assert body["deadline"] == "2026-03-05"  # the new unit has three working days to accept, from today
    record = body["transition"]
    assert (record["trigger"], record["from_state"], record["to_state"], record["comment"]) == (
        "transfer", "rectifying", "assigned", REASON)
    assert record["fields"] == {"unit": "DEPT-B", "assignee": None}
    # The old unit's pending reminders go with the old state entry: `assigned` has no reminder rules.
    assert (before_reminder is not None, _next_reminder(rt, item["id"])) == (True, None)
    # The old unit no longer sees it; the new one accepts it, and whoever accepts is now responsible.
    assert client.get(f"/api/v1/items/{item['id']}", headers=world.h("asg_a")).status_code == 404
    accepted = fire(client, world, body, {"trigger": "accept"}, "asg_b")
    assert accepted.status_code == 200 and accepted.json()["assignee"] == "asg_b", accepted.text
    assert accepted.json()["transition"]["fields"] == {"assignee": "asg_b"}
    assert _next_reminder(rt, item["id"]) == before_reminder  # the same due date, the same first reminder
    verified = CliRunner().invoke(app, ["audit", "verify"], env={"CLOSELOOP_DATABASE_URL": db_url})
    assert verified.exit_code == 0 and verified.stdout.startswith("ok: "), verified.output


def _next_reminder(rt, item_id: str):
    items = Item.__table__
    with rt.store.read() as conn:
        return conn.execute(sa.select(items.c.next_reminder_at).where(items.c.id == item_id)).scalar_one()


def test_a_transfer_may_name_the_new_assignee_and_due_date(client, world, rt):
    item = drive(client, world, rt, new_item(client, world, due_date="2026-04-30"), "extension_requested")
    assert item["requested_due_date"] is not None
    moved = fire(client, world, item, transfer("DEPT-B", assignee="asg_b", due_date="2026-05-29"), "sup")
    assert moved.status_code == 200, moved.text
    body = moved.json()
    assert (body["state"], body["assignee"], body["due_date"], body["requested_due_date"]) == (
        "assigned", "asg_b", "2026-05-29", None)
    assert body["transition"]["fields"] == {"unit": "DEPT-B", "assignee": "asg_b", "due_date": "2026-05-29",
                                            "requested_due_date": None}
    assert fire(client, world, body, {"trigger": "accept"}, "asg_b").status_code == 200
    assert client.get("/api/v1/audit/verify", headers=world.h("aud")).json()["ok"] is True


def test_a_transfer_needs_a_reason_and_another_unit(client, world, rt):
    item = drive(client, world, rt, new_item(client, world, due_date="2026-04-30"), "rectifying")
    before = footprint(client, world, item)
    for body, status, what in (
            (transfer("DEPT-B", comment=None), 422, "requires"),
            (transfer("DEPT-B", comment="  "), 422, "requires"),
            ({"trigger": "transfer", "comment": REASON}, 422, "changes_hands"),
            (transfer("DEPT-A"), 422, "changes_hands"),
            (transfer("NO-SUCH"), 422, "fields.unit"),
            (transfer("DEPT-B", assignee="asg_a"), 422, "fields.assignee"),
            (transfer("DEPT-B"), 403, "role")):
        response = fire(client, world, item, body, "asg_a" if what == "role" else "sup")
        problem = assert_problem(response, status)
        assert what in (problem.get("guard"), problem.get("field"), problem.get("reason")), (body, problem)
    assert footprint(client, world, item) == before


def test_no_transfer_once_verified_or_before_assignment(client, world, rt):
    for state in ("identified", "verified", "closed"):
        item = drive(client, world, rt, new_item(client, world, due_date="2026-04-30"), state)
        refused = fire(client, world, item, transfer("DEPT-B"), "sup")
        assert assert_problem(refused, 409)["state"] == state


def test_an_immediate_items_transfer_keeps_within_its_maximum(client, world, rt):
    item = drive(client, world, rt, new_item(client, world, workflow="immediate"), "rectifying")
    refused = fire(client, world, item, transfer("DEPT-B", due_date="2026-04-30"), "sup")
    assert assert_problem(refused, 422)["guard"] == "within_max_due"
    moved = fire(client, world, item, transfer("DEPT-B", due_date="2026-03-13"), "sup")
    assert moved.status_code == 200 and moved.json()["due_date"] == "2026-03-13", moved.text


def test_within_its_unit_an_item_moves_to_another_named_assignee(client, world, rt):
    item = drive(client, world, rt, new_item(client, world, due_date="2026-04-30"), "rectifying")
    moved = fire(client, world, item, transfer("DEPT-A", comment="原责任人调离", assignee="doer_a"), "sup_a")
    assert moved.status_code == 200, moved.text
    assert (moved.json()["state"], moved.json()["unit"], moved.json()["assignee"]) == ("assigned", "DEPT-A", "doer_a")
    assert moved.json()["transition"]["fields"] == {"assignee": "doer_a"}
    assert fire(client, world, item, {"trigger": "accept"}, "asg_a").json()["reason"] == "not_assignee"
    assert fire(client, world, item, {"trigger": "accept"}, "doer_a").status_code == 200


def test_unit_codes_name_their_unit_whatever_their_case(client, world, rt, db_url, clock):
    """Unit codes are unique regardless of case, so dept-b names DEPT-B on every write, as on the command line;
    the item and its record carry the code as stored, and verification agrees."""
    item = new_item(client, world, unit="dept-a", assignee="asg_a")
    assert item["unit"] == "DEPT-A"
    history = client.get(f"/api/v1/items/{item['id']}/history", headers=world.h("sup")).json()["data"]
    assert history[0]["fields"]["unit"] == "DEPT-A"
    item = drive(client, world, rt, item, "rectifying")
    same = fire(client, world, item, transfer("dept-a"), "sup")
    assert assert_problem(same, 422)["guard"] == "changes_hands"  # the same unit, written otherwise, is no transfer
    moved = fire(client, world, item, transfer("Dept-B"), "sup")
    assert moved.status_code == 200, moved.text
    assert (moved.json()["unit"], moved.json()["transition"]["fields"]["unit"]) == ("DEPT-B", "DEPT-B")
    listed = client.get("/api/v1/items?unit=dept-b", headers=world.h("sup"))
    assert listed.status_code == 200 and [i["id"] for i in listed.json()["data"]] == [item["id"]], listed.text
    # The ledger as it stood at the end of a day is rebuilt from the history, and filtered there.
    clock.advance(days=1)
    yesterday = (rt.today() - dt.timedelta(days=1)).isoformat()
    for code in ("DEPT-B", "dept-b"):
        ledger = client.get("/api/v1/ledger.csv", params={"unit": code, "as_of": yesterday}, headers=world.h("sup"))
        assert ledger.status_code == 200 and [row[1] for row in csv_cells(ledger.content)[1:]] == [item["number"]]
    verified = CliRunner().invoke(app, ["audit", "verify"], env={"CLOSELOOP_DATABASE_URL": db_url})
    assert verified.exit_code == 0 and verified.stdout.startswith("ok: "), verified.output

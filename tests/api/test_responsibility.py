"""Who is responsible and by when, made exact, through the real app on both stores.

- the named assignee (责任人) is the one who acts on the item's rectification steps; another user with
  the assignee role in the unit is refused with 403 ``not_assignee`` (a workflow may let supervisors act too);
- ``accept`` by a member of the unit on an item with no named assignee makes them its assignee, recorded;
- registration checks the due date against the workflow's maximum; a due date in the past is accepted, red.
"""
from __future__ import annotations

import datetime as dt

import pytest

from engine import accounts
from engine.config import Settings
from tests.api.test_authorization import footprint, outcome
from tests.helpers import assert_problem, drive, edited_workflows, fire, new_item, table_counts

NOT_ASSIGNEE = "403 not_assignee"
PROGRESS = {"trigger": "report_progress", "comment": "已完成学位摸排"}
SUBMIT = {"trigger": "submit", "evidence": [{"name": "整改报告.pdf", "sha256": "ab" * 32}]}


@pytest.fixture
def team(rt, world):
    """The world plus a second assignee in DEPT-A and a DEPT-A member who is both assignee and supervisor."""
    with rt.store.write() as conn:
        for username, roles in (("asg_a2", ["assignee"]), ("lead_a", ["assignee", "supervisor"])):
            _, world.tokens[username] = accounts.add_user(conn, clock=rt.clock, actor="cli:tests", username=username, roles=roles,
                                                          unit="DEPT-A")
    return world


def allowed(client, world, item: dict, username: str) -> list[str]:
    return client.get(f"/api/v1/items/{item['id']}", headers=world.h(username)).json()["allowed_triggers"]


def test_only_the_named_assignee_acts_on_the_rectification_steps(client, team, rt):
    world = team
    item = drive(client, world, rt, new_item(client, world), "assigned")
    assert item["assignee"] == "asg_a"
    for other in ("asg_a2", "lead_a"):  # lead_a's supervisor role grants none of these steps in `standard`
        assert "accept" not in allowed(client, world, item, other)
        before = footprint(client, world, item)
        refused = fire(client, world, item, {"trigger": "accept"}, other)
        assert outcome(refused) == NOT_ASSIGNEE and "asg_a" in refused.json()["detail"], refused.text
        assert footprint(client, world, item) == before
    assert "accept" in allowed(client, world, item, "asg_a")
    item = fire(client, world, item, {"trigger": "accept"}, "asg_a").json()
    for body in (PROGRESS, SUBMIT, {"trigger": "request_extension", "comment": "需延期",
                                    "fields": {"new_due_date": "2026-12-31"}}):
        assert outcome(fire(client, world, item, body, "asg_a2")) == NOT_ASSIGNEE, body["trigger"]
    assert set(allowed(client, world, item, "asg_a2")) == set()
    assert fire(client, world, item, PROGRESS, "asg_a").status_code == 200


def test_accept_by_an_unnamed_unit_member_makes_them_the_assignee(client, team, rt):
    world = team
    item = new_item(client, world, assignee=None)
    item = fire(client, world, item, {"trigger": "assign", "fields": {"due_date": "2026-04-30"}}, "sup").json()
    assert item["state"] == "assigned" and item["assignee"] is None
    assert "accept" in allowed(client, world, item, "asg_a2") and "accept" in allowed(client, world, item, "asg_a")
    accepted = fire(client, world, item, {"trigger": "accept"}, "asg_a2")
    assert accepted.status_code == 200, accepted.text
    body = accepted.json()
    assert body["assignee"] == "asg_a2" and body["transition"]["fields"] == {"assignee": "asg_a2"}
    history = client.get(f"/api/v1/items/{item['id']}/history", headers=world.h("aud")).json()["data"]
    assert history[-1]["fields"] == {"assignee": "asg_a2"}
    # From now on they are the one who acts.
    assert outcome(fire(client, world, body, PROGRESS, "asg_a")) == NOT_ASSIGNEE
    assert fire(client, world, body, PROGRESS, "asg_a2").status_code == 200
    assert client.get("/api/v1/audit/verify", headers=world.h("aud")).json()["ok"] is True


def test_only_a_member_of_the_items_own_unit_takes_an_unnamed_item(client, team, rt):
    world = team
    item = new_item(client, world, unit="SUB-A1", assignee=None)
    item = fire(client, world, item, {"trigger": "assign", "fields": {"due_date": "2026-04-30"}}, "sup").json()
    # asg_a sees SUB-A1's items from DEPT-A above, but is not a member of SUB-A1 and cannot become its assignee.
    assert "accept" not in allowed(client, world, item, "asg_a")
    assert outcome(fire(client, world, item, {"trigger": "accept"}, "asg_a")) == NOT_ASSIGNEE
    accepted = fire(client, world, item, {"trigger": "accept"}, "asg_a1")
    assert accepted.status_code == 200 and accepted.json()["assignee"] == "asg_a1", accepted.text


@pytest.fixture
def supervisors_too(tmp_path, workflows_dir):
    """The bundled workflows, with `standard` letting the unit's supervisors report progress too."""

    def edit(data: dict) -> None:
        next(t for t in data["transitions"] if t["trigger"] == "report_progress")["roles"] = ["assignee", "supervisor"]

    return edited_workflows(workflows_dir, tmp_path / "workflows", "standard", edit)


@pytest.fixture
def settings(db_url, request):
    """The test deployment; tests that ask for ``supervisors_too`` run on that workflow folder."""
    if "supervisors_too" in request.fixturenames:
        return Settings(database_url=db_url, workflows_dir=request.getfixturevalue("supervisors_too"))
    return Settings(database_url=db_url)


def test_a_workflow_may_let_the_units_supervisors_act_too(supervisors_too, client, team, rt):
    world = team
    item = drive(client, world, rt, new_item(client, world), "rectifying")
    assert item["assignee"] == "asg_a"
    for supervisor in ("lead_a", "sup_a"):
        done = fire(client, world, item, PROGRESS, supervisor)
        assert done.status_code == 200, done.text
        assert done.json()["assignee"] == "asg_a"  # acting as a supervisor takes nothing over
        item = done.json()
    assert outcome(fire(client, world, item, PROGRESS, "asg_a2")) == NOT_ASSIGNEE


def test_registration_checks_the_due_date_against_the_workflows_maximum(client, world, rt):
    today = rt.today()
    before = table_counts(rt)
    too_late = (today + dt.timedelta(days=16)).isoformat()  # `immediate` allows at most 15 days
    refused = client.post("/api/v1/items", headers=world.h("reg"), json={
        "title": "群众反映小区供暖不达标", "source": "complaint", "unit": "DEPT-A", "workflow": "immediate",
        "due_date": too_late})
    problem = assert_problem(refused, 422)
    assert problem["field"] == "due_date" and too_late in problem["detail"] and "15 days" in problem["detail"]
    assert table_counts(rt) == before
    fine = new_item(client, world, workflow="immediate", due_date=(today + dt.timedelta(days=15)).isoformat())
    assert fine["due_date"] == (today + dt.timedelta(days=15)).isoformat()
    # A due date already past is accepted (the item is late from the start) and red at once.
    late = new_item(client, world, workflow="immediate", due_date=(today - dt.timedelta(days=3)).isoformat())
    assert late["light"] == "red" and late["overdue_days"] == 3
    standard = new_item(client, world, due_date="2027-12-31")  # `standard` has no maximum
    assert standard["due_date"] == "2027-12-31"

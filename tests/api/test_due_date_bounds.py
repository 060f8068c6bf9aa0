"""A due date is a day an office can act on: one before 2000 or more than ten years ahead is a slip (0206 for
2026, an Excel zero, 2062) and is refused with 422 wherever it is set, changing nothing. Left in, 0001-01-01 made
the item 739,676 days overdue and sent a red escalation to the top unit at the next sweep; 9999-12-31 kept it out
of every reminder. A due date already past, back to 2000, is still accepted: a problem can be late from the start."""
from __future__ import annotations

import datetime as dt

import pytest

from engine.deadlines import EARLIEST_DAY, HORIZON_YEARS
from tests.helpers import assert_problem, drive, fire, new_item, table_counts

_SLIPS = {"0001-01-01": "is before 2000-01-01", "1899-12-31": "is before 2000-01-01",
          "1999-12-31": "is before 2000-01-01", "9999-12-31": "is more than 10 years ahead",
          "2062-03-31": "is more than 10 years ahead"}


def _horizon(rt) -> dt.date:
    return rt.today().replace(year=rt.today().year + HORIZON_YEARS)


@pytest.mark.parametrize("day", sorted(_SLIPS))
def test_registration_refuses_a_due_date_that_cannot_be_meant(client, world, rt, day):
    before = table_counts(rt)
    problem = assert_problem(client.post("/api/v1/items", headers=world.h("reg"), json={
        "title": "食堂台账不全", "source": "inspection", "unit": "DEPT-A", "due_date": day}), 422)
    assert problem["field"] == "due_date" and f"due_date {day} {_SLIPS[day]}" in problem["detail"], problem
    assert table_counts(rt) == before


def test_the_bounds_themselves_are_accepted(client, world, rt):
    for day in (EARLIEST_DAY, _horizon(rt)):
        assert new_item(client, world, due_date=day.isoformat())["due_date"] == day.isoformat()
    assert HORIZON_YEARS == 10 and EARLIEST_DAY == dt.date(2000, 1, 1)  # as the README says


@pytest.mark.parametrize("day", ["0206-03-31", "9999-12-31", "1900-01-01"])
def test_assigning_or_extending_to_a_slip_changes_nothing(client, world, rt, day):
    item = new_item(client, world)
    refused = assert_problem(fire(client, world, item, {"trigger": "assign", "fields": {"due_date": day}}, "sup"), 422)
    assert refused["field"] == "fields.due_date" and day in refused["detail"], refused
    rectifying = drive(client, world, rt, item, "rectifying")
    before = table_counts(rt)
    asked = fire(client, world, rectifying, {"trigger": "request_extension", "comment": "需要更多时间",
                                             "fields": {"new_due_date": day}}, "asg_a")
    # Named as the slip it is, before the guards judge it (an earlier date would otherwise be "not later").
    problem = assert_problem(asked, 422)
    assert problem["field"] == "fields.new_due_date" and day in problem["detail"], problem
    assert table_counts(rt) == before
    after = client.get(f"/api/v1/items/{item['id']}", headers=world.h("aud")).json()
    assert (after["state"], after["version"], after["due_date"]) == ("rectifying", rectifying["version"],
                                                                      rectifying["due_date"])


def test_a_granted_extension_too_far_ahead_is_refused_and_the_request_stays(client, world, rt):
    item = drive(client, world, rt, new_item(client, world), "extension_requested")
    too_far = (_horizon(rt) + dt.timedelta(days=1)).isoformat()
    problem = assert_problem(fire(client, world, item, {"trigger": "grant_extension",
                                                        "fields": {"due_date": too_far}}, "sup"), 422)
    assert problem["field"] == "fields.due_date" and f"after {_horizon(rt).isoformat()}" in problem["detail"]
    after = client.get(f"/api/v1/items/{item['id']}", headers=world.h("aud")).json()
    assert (after["state"], after["version"]) == ("extension_requested", item["version"])


def test_a_due_date_already_past_is_still_accepted_and_red(client, world, rt):
    item = new_item(client, world, due_date="2001-06-30")
    assigned = fire(client, world, item, {"trigger": "assign", "fields": {"due_date": "2001-06-30"}}, "sup")
    assert assigned.status_code == 200, assigned.text
    accepted = fire(client, world, assigned.json(), {"trigger": "accept"}, "asg_a").json()
    assert (accepted["light"], accepted["overdue_days"]) == ("red", (rt.today() - dt.date(2001, 6, 30)).days)

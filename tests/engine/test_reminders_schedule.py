"""Reminders and escalations fall due on the right working day at the office hour, once, on both stores.

Time moves through the injected clock; the sweep runs the way the scheduler runs it. The expected dates
below were worked out by hand from the State Council's 2026 schedule (Spring Festival 15-23 February
with make-up working days 14 and 28 February; Mid-Autumn 25 September; National Day 1-7 October with
make-up working days 20 September and 10 October) and the standard workflow's rectifying rules: due soon
3 working days before, overdue every day, blue / orange / red after 3 / 10 / 20 working days overdue.
"""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from engine.reminders.sweep import sweep
from tests.helpers import fire, new_item

SHANGHAI = dt.timezone(dt.timedelta(hours=8))


def _at(day: str, hour: int = 9, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(hour, minute), SHANGHAI)


def _rectifying(client, world, rt, clock, *, start: str, due: str) -> dict:
    """An item of DEPT-A registered, assigned with ``due`` and accepted on ``start``."""
    clock.set(_at(start, 10))
    item = new_item(client, world, due_date=due)
    for body, user in (({"trigger": "assign", "fields": {"due_date": due}}, "sup"), ({"trigger": "accept"}, "asg_a")):
        response = fire(client, world, item, body, user)
        assert response.status_code == 200, response.text
        item = response.json()
    assert item["state"] == "rectifying" and item["due_date"] == due
    return item


def _run_days(rt, clock, first: str, last: str) -> dict[str, list[str]]:
    """Sweep at 08:59 and 09:00 of every day from ``first`` to ``last``; what was issued at 09:00 each day."""
    issued: dict[str, list[str]] = {}
    day = dt.date.fromisoformat(first)
    while day <= dt.date.fromisoformat(last):
        clock.set(_at(day.isoformat(), 8, 59))
        early = sweep(rt)
        assert early.issued == 0 and early.superseded == 0, (day, early)
        clock.set(_at(day.isoformat()))
        sweep(rt)
        day += dt.timedelta(days=1)
    with rt.store.read() as conn:
        rows = conn.execute(sa.text("SELECT kind, level, due_at, issued_at, status FROM notices ORDER BY id")).all()
    for kind, level, due_at, issued_at, status in rows:
        assert status == "issued"
        due = due_at if isinstance(due_at, dt.datetime) else dt.datetime.fromisoformat(due_at)
        issued_when = issued_at if isinstance(issued_at, dt.datetime) else dt.datetime.fromisoformat(issued_at)
        # Each at 09:00 Shanghai (01:00 UTC) of the day it fell due, issued by that day's 09:00 sweep.
        assert (due.hour, due.minute) == (1, 0) and due == issued_when, (kind, due, issued_when)
        issued.setdefault(due.date().isoformat(), []).append(kind if level is None else f"escalation.{level}")
    return issued


def _working(days: list[str]) -> dict[str, list[str]]:
    return {day: ["reminder.overdue"] for day in days}


def test_spring_festival_and_its_make_up_days(client, world, rt, clock):
    _rectifying(client, world, rt, clock, start="2026-02-09", due="2026-02-25")
    issued = _run_days(rt, clock, "2026-02-10", "2026-03-25")
    overdue_days = ["2026-02-26", "2026-02-27", "2026-02-28", "2026-03-02", "2026-03-03", "2026-03-04", "2026-03-05",
                    "2026-03-06", "2026-03-09", "2026-03-10", "2026-03-11", "2026-03-12", "2026-03-13", "2026-03-16",
                    "2026-03-17", "2026-03-18", "2026-03-19", "2026-03-20", "2026-03-23", "2026-03-24", "2026-03-25"]
    expected = {"2026-02-13": ["reminder.due_soon"], **_working(overdue_days)}
    expected["2026-02-28"] = ["reminder.overdue", "escalation.blue"]  # Saturday, a make-up working day
    expected["2026-03-10"] = ["reminder.overdue", "escalation.orange"]
    expected["2026-03-24"] = ["reminder.overdue", "escalation.red"]
    assert issued == expected


def test_national_day_and_mid_autumn(client, world, rt, clock):
    _rectifying(client, world, rt, clock, start="2026-09-14", due="2026-09-30")
    issued = _run_days(rt, clock, "2026-09-15", "2026-10-13")
    # 3 working days before 30 Sep skip the Mid-Autumn Friday and the weekend: 24 Sep.
    expected = {"2026-09-24": ["reminder.due_soon"],
                **_working(["2026-10-08", "2026-10-09", "2026-10-10", "2026-10-12", "2026-10-13"])}
    expected["2026-10-10"] = ["reminder.overdue", "escalation.blue"]  # Saturday 10 Oct is a make-up working day
    assert issued == expected


def test_after_two_days_of_downtime_each_rule_fires_once_and_only_the_highest_level(client, world, rt, clock):
    item = _rectifying(client, world, rt, clock, start="2026-02-09", due="2026-02-25")
    _run_days(rt, clock, "2026-02-10", "2026-03-08")
    # Down on 9 and 10 March (orange fell due on the 10th); the first sweep after is on the 11th at 09:30.
    clock.set(_at("2026-03-11", 9, 30))
    result = sweep(rt)
    assert (result.claimed, result.issued, result.superseded) == (1, 2, 0)
    notices = client.get(f"/api/v1/items/{item['id']}/reminders", headers=world.h("sup")).json()["data"]
    latest = [(n["kind"], n["level"], n["due_at"][:10]) for n in notices[-2:]]
    assert sorted(latest) == [("escalation.issued", "orange", "2026-03-10"), ("reminder.overdue", None, "2026-03-11")]
    assert sweep(rt).issued == 0  # and nothing twice


def test_a_long_outage_issues_the_highest_level_and_records_the_lower_as_superseded(client, world, rt, clock):
    item = _rectifying(client, world, rt, clock, start="2026-02-09", due="2026-02-25")
    clock.set(_at("2026-03-30", 11))
    result = sweep(rt)
    assert (result.issued, result.superseded) == (2, 2)
    notices = client.get(f"/api/v1/items/{item['id']}/reminders", headers=world.h("sup")).json()["data"]
    seen = {(n["kind"], n["level"], n["status"]) for n in notices}
    # Already overdue: no "due soon"; one overdue reminder (the latest); red sent, blue and orange recorded.
    assert seen == {("reminder.overdue", None, "issued"), ("escalation.issued", "red", "issued"),
                    ("escalation.issued", "blue", "superseded"), ("escalation.issued", "orange", "superseded")}
    red = next(n for n in notices if n["level"] == "red")
    assert red["recipients"] == ["aud", "sup"]  # the top unit's supervisor and the auditors
    assert red["overdue_days"] == 33


def test_recipients_climb_the_unit_tree_and_land_in_inboxes(client, world, rt, clock):
    item = _rectifying(client, world, rt, clock, start="2026-02-09", due="2026-02-25")
    _run_days(rt, clock, "2026-02-10", "2026-03-10")
    notices = client.get(f"/api/v1/items/{item['id']}/reminders", headers=world.h("sup")).json()["data"]
    by_rule = {(n["kind"], n["level"]): n["recipients"] for n in notices}
    assert by_rule[("reminder.due_soon", None)] == ["asg_a"]
    assert by_rule[("reminder.overdue", None)] == ["asg_a", "sup_a"]  # the assignee and the unit's leader
    assert by_rule[("escalation.issued", "blue")] == ["sup_a"]  # DEPT-A's own supervisor
    assert by_rule[("escalation.issued", "orange")] == ["sup"]  # the unit above (CITY)
    inbox = client.get("/api/v1/me/reminders", headers=world.h("sup_a")).json()
    overdue_count = sum(1 for n in notices if n["kind"] == "reminder.overdue")
    assert inbox["unread"] == overdue_count + 1 and len(inbox["data"]) == overdue_count + 1
    first = inbox["data"][0]
    assert first["number"] == item["number"] and first["read"] is False
    marked = client.post(f"/api/v1/me/reminders/{first['id']}/read", headers=world.h("sup_a"))
    assert marked.status_code == 200 and marked.json()["read"] is True
    after = client.get("/api/v1/me/reminders", headers=world.h("sup_a")).json()
    assert after["unread"] == overdue_count and after["data"][-1]["id"] == first["id"]  # read ones sink
    # Someone else's entry is not found, and the item's notices are not visible outside its scope.
    assert client.post(f"/api/v1/me/reminders/{first['id']}/read", headers=world.h("asg_b")).status_code == 404
    assert client.get(f"/api/v1/items/{item['id']}/reminders", headers=world.h("asg_b")).status_code == 404


def test_leaving_the_state_drops_what_was_pending(client, world, rt, clock):
    item = _rectifying(client, world, rt, clock, start="2026-02-09", due="2026-02-25")
    clock.set(_at("2026-02-12", 15))
    submitted = fire(client, world, item, {"trigger": "submit", "evidence": [{"name": "整改报告.pdf",
                                                                              "sha256": "ab" * 32}]}, "asg_a")
    assert submitted.status_code == 200, submitted.text
    _run_days(rt, clock, "2026-02-13", "2026-03-31")
    notices = client.get(f"/api/v1/items/{item['id']}/reminders", headers=world.h("sup")).json()["data"]
    assert notices == []  # pending_verification has no reminder rules; the rectifying ones are gone


def test_a_paused_clock_resumes_with_the_working_days_it_had_left(client, world, rt, clock):
    item = _rectifying(client, world, rt, clock, start="2026-03-02", due="2026-03-13")
    clock.set(_at("2026-03-09", 10))  # Monday: 4 working days left (10, 11, 12 and Friday 13 March)
    asked = fire(client, world, item, {"trigger": "request_extension", "comment": "设备到货延迟",
                                       "fields": {"new_due_date": "2026-04-30"}}, "asg_a")
    assert asked.status_code == 200 and asked.json()["light"] == "none", asked.text
    _run_days(rt, clock, "2026-03-10", "2026-03-20")  # paused: nothing falls due, not even "due soon"
    clock.set(_at("2026-03-23", 10))
    denied = fire(client, world, asked.json(), {"trigger": "deny_extension", "comment": "理由不充分"}, "sup")
    assert denied.status_code == 200, denied.text
    # 4 working days were left after 9 March (10-13 March); resumed on 23 March they run to 27 March.
    assert denied.json()["due_date"] == "2026-03-27"
    assert denied.json()["transition"]["fields"]["due_date"] == "2026-03-27"  # in the history, as a change
    issued = _run_days(rt, clock, "2026-03-24", "2026-03-31")
    assert issued == {"2026-03-24": ["reminder.due_soon"], "2026-03-30": ["reminder.overdue"],
                      "2026-03-31": ["reminder.overdue"]}
    assert client.get("/api/v1/audit/verify", headers=world.h("aud")).json()["ok"] is True


def test_an_item_registered_late_is_swept_at_once(client, world, rt, clock):
    # Due 9 March, registered on 30 March: blue (12 March) and orange (23 March) have passed, red (7 April) not.
    item = _rectifying(client, world, rt, clock, start="2026-03-30", due="2026-03-09")
    assert item["light"] == "red"
    result = sweep(rt)
    assert (result.claimed, result.issued, result.superseded) == (1, 2, 1)  # overdue and orange; blue superseded
    notices = client.get(f"/api/v1/items/{item['id']}/reminders", headers=world.h("sup")).json()["data"]
    assert {(n["kind"], n["level"], n["status"]) for n in notices} == {
        ("reminder.overdue", None, "issued"), ("escalation.issued", "orange", "issued"),
        ("escalation.issued", "blue", "superseded")}

"""The dashboard on both stores: its figures agree with the API's, stay within the visitor's unit, and list
what the visitor may do now; the closure-rate chart carries its numbers in words too."""
from __future__ import annotations

import html
import re

from engine.accounts import Actor
from engine.listing.actionable import acting_states
from engine.reminders.sweep import sweep
from tests.helpers import drive, new_item
from tests.web.support import sign_in


def _figure(page: str, attribute: str, value: str) -> int:
    found = re.search(rf'data-{attribute}="{value}">(\d+)<', page)
    assert found, f"no figure {attribute}={value} on the page"
    return int(found.group(1))


def _unit_row(page: str, code: str) -> list[str]:
    row = re.search(rf'<tr data-unit="{code}">(.*?)</tr>', page, re.S)
    assert row, f"no row for unit {code}"
    return [html.unescape(re.sub(r"<[^>]+>", "", cell)).strip()
            for cell in re.findall(r'<td class="num">(.*?)</td>', row.group(1), re.S)]


def _mine(page: str) -> list[str]:
    table = re.search(r'<table id="mine">(.*?)</table>', page, re.S)
    return re.findall(r'<a href="/items/([^"]+)">', table.group(1)) if table else []


def _seed(client, world, rt, clock) -> dict[str, dict]:
    """DEPT-A: one closed, one overdue while rectifying (escalated), one just registered; DEPT-B: one rectifying."""
    items = {"closed": drive(client, world, rt, new_item(client, world, unit="DEPT-A"), "closed"),
             "late": drive(client, world, rt, new_item(client, world, unit="DEPT-A"), "rectifying"),
             "fresh": None}
    clock.advance(days=20)  # the late item's due date (10 days on) is long past: escalated by the sweep
    sweep(rt)
    items["fresh"] = new_item(client, world, unit="DEPT-A")
    items["other"] = drive(client, world, rt, new_item(client, world, unit="DEPT-B"), "rectifying")
    return items


def test_the_dashboards_figures_are_the_engines_within_the_visitors_scope(client, world, rt, clock):
    items = _seed(client, world, rt, clock)
    sign_in(client, rt, "sup")
    page = client.get("/dashboard").text

    # Lights: the same counts as the API's list filtered by light.
    for colour in ("red", "yellow", "green"):
        listed = client.get(f"/api/v1/items?light={colour}&limit=100", headers=world.h("sup")).json()["data"]
        assert _figure(page, "light", colour) == len(listed), colour

    # Overdue and closure rate by unit: the summary report's figures.
    report = client.get("/api/v1/reports/summary?group_by=unit", headers=world.h("sup")).json()["groups"]
    dept_a = next(g for g in report if g["key"] == "DEPT-A")
    assert (dept_a["total"], dept_a["closed"], dept_a["closure_rate"]) == (3, 1, 0.3333)
    assert _unit_row(page, "DEPT-A") == [str(dept_a["total"]), str(dept_a["open"]), str(dept_a["overdue"]),
                                         f"{dept_a['overdue_rate'] * 100:.1f}%", "1", "33.3%"]

    # The chart draws the same numbers, with a title a screen reader reads.
    chart = re.search(r'<svg class="chart".*?</svg>', page, re.S).group(0)
    assert 'role="img"' in chart and "<title>各单位销号率</title>" in chart and 'viewBox="' in chart
    assert re.findall(r'<g class="bar"><text[^>]*>([^<]+)</text>', chart) == [g["label"] for g in report]
    assert "33.3%" in chart

    # Escalations open by level: the level the sweep issued to the late item, counted once.
    notices = client.get(f"/api/v1/items/{items['late']['id']}/reminders", headers=world.h("sup")).json()["data"]
    issued = [n["level"] for n in notices if n["kind"] == "escalation.issued" and n["status"] == "issued"]
    assert issued, "the sweep escalated the late item"
    assert {level: _figure(page, "level", level) for level in ("blue", "orange", "red")} == \
        {level: int(level == issued[-1]) for level in ("blue", "orange", "red")}

    # Counts by state, with the workflow files' titles, linking to the list of those items.
    assert re.findall(r'<tr><td>([^<]+)</td><td class="num"><a href="/items\?state=(\w+)">(\d+)</a>', page) == [
        ("已销号", "closed", "1"), ("已登记", "identified", "1"), ("整改中", "rectifying", "2")]

    # What the supervisor may do now, as the engine says: assign the fresh item, transfer the late ones; a
    # closed item waits on nobody.
    assert sorted(_mine(page)) == sorted(items[k]["number"] for k in ("other", "fresh", "late"))


def test_a_unit_sees_only_its_own_figures_and_its_own_work(client, world, rt, clock):
    items = _seed(client, world, rt, clock)
    sign_in(client, rt, "asg_a")
    page = client.get("/dashboard").text
    assert 'data-unit="DEPT-A"' in page and 'data-unit="DEPT-B"' not in page
    assert _figure(page, "level", "blue") + _figure(page, "level", "orange") + _figure(page, "level", "red") == 1
    mine = _mine(page)
    assert items["late"]["number"] in mine  # the named assignee reports progress or submits
    assert items["other"]["number"] not in mine and items["fresh"]["number"] not in mine

    sign_in(client, rt, "asg_b")
    page = client.get("/dashboard").text
    assert 'data-unit="DEPT-A"' not in page and items["late"]["number"] not in page
    assert _mine(page) == [items["other"]["number"]]
    assert sum(_figure(page, "level", level) for level in ("blue", "orange", "red")) == 0
    assert _figure(page, "light", "red") == 0

    page = client.get("/dashboard?lang=en").text
    assert "Needs my action now" in page and "Closure rate by unit" in page


def test_a_supervisor_lands_on_the_dashboard_and_others_on_the_home_page(client, world, rt):
    sign_in(client, rt, "sup")
    home = client.get("/")
    assert home.status_code == 200 and 'id="h-mine"' in home.text and 'href="/dashboard"' in home.text
    sign_in(client, rt, "reg")
    home = client.get("/").text
    assert 'id="h-mine"' not in home and '<a href="/dashboard">' in home
    empty = client.get("/dashboard").text
    assert "您的范围内还没有事项。" in empty and "目前没有待您办理的事项。" in empty


def test_the_dashboard_asks_for_sign_in(client, world, rt):
    response = client.get("/dashboard", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/signin?next=/dashboard"


def test_the_states_searched_for_a_persons_work_are_those_their_roles_can_leave_and_not_final(rt):
    def states(*roles: str) -> tuple[str, ...]:
        return acting_states(rt.registry, Actor(1, "x", frozenset(roles), 1, "CITY", "/1/"))

    assert states("assignee") == ("assigned", "rectifying")
    assert states("verifier") == ("pending_verification",)
    assert states("auditor") == () and states("admin") == ()  # reopening a closed item is not waiting work
    assert set(states("supervisor")) == {"identified", "assigned", "rectifying", "extension_requested",
                                         "pending_verification", "verified"}

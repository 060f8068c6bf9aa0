"""GET /api/v1/reports/summary and `closeloop report` agree with counts made here from the raw item rows, for
every grouping, within each caller's scope and registration period, on both stores."""
from __future__ import annotations

import datetime as dt

import pytest
from typer.testing import CliRunner

from api.cli import app as cli_app
from api.models_reports import SummaryOut
from tests.conftest import builds
from tests.helpers import assert_problem, drive, fire, new_item, payload
from tests.report_helpers import assert_figures_agree, expected_groups, raw_items

pytestmark = pytest.mark.prebuilt("reports-mixed")
GROUPINGS = ("unit", "source", "severity", "workflow", "campaign")
_NOTHING = {"total": 0, "open": 0, "closed": 0, "cancelled": 0, "overdue": 0, "closure_rate": None,
            "overdue_rate": None, "on_time_rate": None, "closed_on_time": 0, "avg_days_to_close": None, "reopened": 0,
            "reopen_rate": None}


def steps(client, world, rt, item: dict, triggers: list[str], as_user: dict | None = None) -> dict:
    """Fire ``triggers`` in order with bodies that satisfy them (the default actor of each role)."""
    wf = rt.registry.current(item["workflow"]).definition
    for trigger in triggers:
        tdef = wf.transition(trigger, item["state"])
        actor = (as_user or {}).get(trigger) or {"supervisor": "sup", "verifier": "ver", "auditor": "aud"}.get(
            tdef.roles[0], item.get("assignee"))
        response = fire(client, world, item, payload(tdef, rt.today(), item), actor)
        assert response.status_code == 200, (trigger, response.text)
        item = response.json()
    return item


@builds("reports-mixed")
def _mixed(client, world, rt, clock):
    """Items of every kind: closed on time, closed late (by the local day), reopened, overdue, cancelled, fresh."""
    made = {}
    made["on_time"] = drive(client, world, rt, new_item(client, world, severity="high", campaign="2026-XC-R1"), "closed")
    made["overdue"] = drive(client, world, rt, new_item(client, world, source="audit", campaign="2026-XC-R1"),
                            "rectifying")
    made["reopened"] = drive(client, world, rt, new_item(client, world, unit="SUB-A1", workflow="immediate",
                                                         source="complaint", severity="low", campaign="R2"), "closed")
    made["reopened"] = steps(client, world, rt, made["reopened"], ["reopen"])
    made["long"] = drive(client, world, rt, new_item(client, world, unit="DEPT-B", workflow="long_term",
                                                     source="supervision", severity="critical"), "rectifying")
    made["cancelled"] = drive(client, world, rt, new_item(client, world, unit="DEPT-B", source="other"), "cancelled")
    made["late"] = drive(client, world, rt, new_item(client, world, unit="SUB-A1", source="self_check", campaign="R2"),
                         "verified")
    # Closed at 07:00 local on the day after its due date: still the due date in UTC, late in the office's day.
    due = dt.date.fromisoformat(made["late"]["due_date"])
    clock.set(dt.datetime.combine(due + dt.timedelta(days=1), dt.time(7, 0), tzinfo=rt.settings.tz))
    made["late"] = steps(client, world, rt, made["late"], ["close"])
    made["fresh"] = new_item(client, world, unit="DEPT-B", source="inspection", severity="critical")
    clock.advance(days=3)
    return made


@pytest.fixture
def mixed(prebuilt):
    """The items of _mixed, three days after the last was registered."""
    return prebuilt


@pytest.mark.parametrize("user", ["aud", "sup_a", "sup_b"])
@pytest.mark.parametrize("group_by", GROUPINGS)
def test_the_summary_agrees_with_the_raw_rows(client, world, rt, mixed, group_by, user):
    response = client.get(f"/api/v1/reports/summary?group_by={group_by}", headers=world.h(user))
    assert response.status_code == 200, response.text
    report = response.json()
    scope = {"aud": "", "sup_a": "DEPT-A", "sup_b": "DEPT-B"}[user]
    rows = raw_items(rt)
    if scope:
        prefix = next(r["path"] for r in rows if r["unit"] == scope)
        rows = [r for r in rows if r["path"].startswith(prefix)]
    want = expected_groups(rows, group_by, rt.today(), rt.settings.tz)
    got = {g["key"]: g for g in report["groups"]}
    assert set(got) == set(want)
    for key, figures in want.items():
        assert_figures_agree(got[key], figures, f"{group_by}={key}")
    everything = expected_groups([{**r, "all": 1} for r in rows], "all", rt.today(), rt.settings.tz)
    assert_figures_agree(report["totals"], everything.get(1, _NOTHING), "totals")
    assert report["scope"] == (scope or "all")
    SummaryOut.model_validate(report)  # the documented shape


def test_the_figures_mean_what_the_documentation_says(client, world, rt, mixed):
    report = client.get("/api/v1/reports/summary?group_by=workflow", headers=world.h("aud")).json()
    totals = report["totals"]
    assert (totals["total"], totals["closed"], totals["cancelled"], totals["open"]) == (7, 2, 1, 4)
    assert totals["closed_on_time"] == 1 and totals["on_time_rate"] == 0.5  # the late one missed by its local day
    assert totals["reopened"] == 1 and totals["reopen_rate"] == round(1 / 3, 4)
    assert totals["overdue"] >= 1 and totals["closure_rate"] == round(2 / 6, 4)
    labels = {g["key"]: g["label"] for g in report["groups"]}
    assert labels["standard"] == "限期整改"


def test_the_period_counts_items_by_their_registration_day(client, world, rt, mixed, clock):
    later = new_item(client, world, unit="DEPT-B")
    day = rt.today().isoformat()
    report = client.get(f"/api/v1/reports/summary?group_by=unit&from={day}&to={day}", headers=world.h("aud")).json()
    assert report["totals"]["total"] == 1 and [g["key"] for g in report["groups"]] == ["DEPT-B"]
    assert (report["from"], report["to"]) == (day, day)
    before = (rt.today() - dt.timedelta(days=1)).isoformat()
    earlier = client.get(f"/api/v1/reports/summary?to={before}", headers=world.h("aud")).json()
    assert earlier["totals"]["total"] == 7
    assert later["number"]


@pytest.mark.parametrize("query, field", [
    ("group_by=colour", None), ("from=2026-02-30", None), ("from=2026-03-05&to=2026-03-01", "from"),
    ("groupby=unit", "groupby"),
])
def test_bad_report_queries_are_refused_by_name(client, world, query, field):
    body = assert_problem(client.get(f"/api/v1/reports/summary?{query}", headers=world.h("aud")), 422)
    if field:
        assert body["field"] == field


def test_the_report_needs_a_token(client):
    assert_problem(client.get("/api/v1/reports/summary"), 401)


def test_the_command_line_prints_the_same_table(client, world, rt, mixed, db_url):
    result = CliRunner().invoke(cli_app, ["report", "--by", "unit"], env={"CLOSELOOP_DATABASE_URL": db_url})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split()[:4] == ["group", "total", "open", "closed"]
    report = client.get("/api/v1/reports/summary?group_by=unit", headers=world.h("aud")).json()
    for group in report["groups"]:
        line = next(x for x in lines if x.startswith(group["key"] + " "))
        assert line.split()[2:5] == [str(group["total"]), str(group["open"]), str(group["closed"])], line
    assert lines[-1].split()[1:4] == [str(report["totals"][k]) for k in ("total", "open", "closed")]
    bad = CliRunner().invoke(cli_app, ["report", "--by", "colour"], env={"CLOSELOOP_DATABASE_URL": db_url})
    assert bad.exit_code == 2 and "unit, source" in bad.output


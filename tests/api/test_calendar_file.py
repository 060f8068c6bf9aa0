"""A year's official schedule supplied in CLOSELOOP_CALENDAR_FILE, through the real app on both stores:
deadlines follow it, /readyz and the start-up log warn while open deadlines fall in a year without one,
and `closeloop calendar show` prints what is known and from where."""
from __future__ import annotations

import datetime as dt
import logging

import pytest
from typer.testing import CliRunner

from api.cli import app
from engine import workdays
from engine.config import Settings
from engine.runtime import Runtime
from tests.engine.test_calendar import CALENDAR_2027
from tests.helpers import drive, new_item

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
runner = CliRunner()


@pytest.fixture(autouse=True)
def default_calendar():
    yield
    workdays.configure(None)


@pytest.fixture
def calendar_file(tmp_path):
    (tmp_path / "calendar.yaml").write_text(CALENDAR_2027, encoding="utf-8")
    return tmp_path / "calendar.yaml"


@pytest.fixture
def settings(db_url, calendar_file, request):
    """The test deployment, with the 2027 calendar file unless the test is marked to go without it."""
    with_file = "no_file" not in request.node.name
    return Settings(database_url=db_url, calendar_file=calendar_file if with_file else None)


def test_a_2027_holiday_and_make_up_day_from_the_file_set_deadlines(client, world, rt, clock):
    clock.set(dt.datetime(2027, 2, 3, 9, 0, tzinfo=SHANGHAI))  # a Wednesday, two days before the Spring Festival
    item = new_item(client, world)
    # Two working days to assign it: Thursday 4 February, then nothing until Monday 15 February.
    assert item["deadline"] == "2027-02-15", item
    clock.set(dt.datetime(2027, 2, 18, 9, 0, tzinfo=SHANGHAI))  # a Thursday
    later = new_item(client, world)
    assert later["deadline"] == "2027-02-20", later  # Friday, then the make-up Saturday
    assigned = drive(client, world, rt, later, "assigned")
    assert assigned["deadline"] == "2027-02-22", assigned  # three working days: Fri 19, Sat 20, Mon 22
    ready = client.get("/readyz").json()
    assert ready["calendar_unofficial_years"] == [] and ready["warnings"] == []


def test_readyz_warns_while_open_deadlines_fall_in_a_year_without_a_schedule_no_file(client, world, rt, caplog):
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["warnings"] == []
    new_item(client, world, due_date="2027-03-31")
    ready = client.get("/readyz")
    body = ready.json()
    assert ready.status_code == 200 and body["status"] == "ready", ready.text
    assert body["calendar_unofficial_years"] == [2027]
    assert len(body["warnings"]) == 1 and "2027" in body["warnings"][0]
    assert "CLOSELOOP_CALENDAR_FILE" in body["warnings"][0]
    # The start-up log says the same.
    with caplog.at_level(logging.WARNING, logger="closeloop.calendar"):
        again = Runtime.open(rt.settings, clock=rt.clock)
        again.store.dispose()
    assert any("open deadlines fall in 2027" in r.getMessage() for r in caplog.records), caplog.text


def test_a_supplied_schedule_silences_the_warning(client, world, rt, caplog):
    new_item(client, world, due_date="2027-03-31")
    assert client.get("/readyz").json()["warnings"] == []
    with caplog.at_level(logging.WARNING, logger="closeloop.calendar"):
        Runtime.open(rt.settings, clock=rt.clock).store.dispose()
    assert "open deadlines" not in caplog.text


def test_calendar_show_prints_each_day_and_the_source(calendar_file):
    shown = runner.invoke(app, ["calendar", "show", "2027"], env={"CLOSELOOP_CALENDAR_FILE": str(calendar_file)})
    assert shown.exit_code == 0, shown.output
    lines = shown.stdout.splitlines()
    assert lines[0] == f"2027: official, from file {calendar_file}"
    assert "  notice: 国务院办公厅关于2027年部分节假日安排的通知" in lines
    assert any(line.startswith("  2027-02-05 Fri .. 2027-02-13 Sat") and line.endswith("春节 (9 days)")
               for line in lines), lines
    assert any(line.startswith("  2027-01-31 Sun") and line.endswith("春节") for line in lines), lines
    guess = runner.invoke(app, ["calendar", "show", "2027"], env={"CLOSELOOP_CALENDAR_FILE": ""})
    assert guess.exit_code == 0, guess.output
    assert guess.stdout.startswith("2027: NOT OFFICIAL, from holidays ")
    assert "make-up working days (调休): none known" in guess.stdout
    official = runner.invoke(app, ["calendar", "show", "2026"], env={"CLOSELOOP_CALENDAR_FILE": ""})
    assert official.stdout.startswith("2026: official, from chinesecalendar ")


def test_a_bad_calendar_file_stops_start_up_naming_it(tmp_path, db_url):
    bad = tmp_path / "bad.yaml"
    bad.write_text("2027:\n  holidays:\n    春节: 2027-02-31\n", encoding="utf-8")
    env = {"CLOSELOOP_CALENDAR_FILE": str(bad), "CLOSELOOP_DATABASE_URL": db_url}
    for args in (["calendar", "show", "2027"], ["unit", "list"]):
        result = runner.invoke(app, args, env=env)
        assert result.exit_code == 1, result.output
        assert f"{bad}:3: 2027.holidays.春节: '2027-02-31' is not a date" in result.stderr, result.stderr
        assert "Traceback" not in result.output


def test_readyz_reads_only_the_years_that_hold_deadlines_no_file(client, world, rt):
    """Deadlines 8,000 years apart cost a few indexed reads, not one per year between (found by make fuzz)."""
    import sqlalchemy as sa

    new_item(client, world, due_date="2027-03-31")
    far = new_item(client, world, due_date="2036-03-02")
    # A due date that far off is refused when set now (engine.deadlines); a database may hold one set before.
    with rt.store.write() as conn:
        conn.execute(sa.text("UPDATE items SET due_date = '9999-12-31' WHERE id = :id"), {"id": far["id"]})
    statements = []

    def count(*_args):
        statements.append(1)

    engine = rt.store.reader
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        body = client.get("/readyz").json()
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    assert body["calendar_unofficial_years"] == [2027, 9999], body
    assert len(statements) < 20, len(statements)

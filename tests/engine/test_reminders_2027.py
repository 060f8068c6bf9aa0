"""Reminders over a 2027 holiday that only the calendar file knows (no package has 2027's 调休 yet), on both stores.

The file (tests/engine/test_calendar.py's CALENDAR_2027) gives the Spring Festival 5-13 February 2027 and make-up
working days 31 January and 20 February. Worked out by hand for an item due Tuesday 16 February 2027 under the
standard workflow: due soon 3 working days before (3 February: the holiday and the weekend do not count), overdue
every working day after (Saturday 20 February included), blue after 3 working days overdue (19 February).
"""
from __future__ import annotations

import pytest

from engine import workdays
from engine.config import Settings
from tests.engine.test_calendar import CALENDAR_2027
from tests.engine.test_reminders_schedule import _rectifying, _run_days


@pytest.fixture(autouse=True)
def default_calendar():
    yield
    workdays.configure(None)


@pytest.fixture
def settings(db_url, tmp_path):
    """The test deployment with the 2027 calendar file."""
    (tmp_path / "calendar.yaml").write_text(CALENDAR_2027, encoding="utf-8")
    return Settings(database_url=db_url, calendar_file=tmp_path / "calendar.yaml")


def test_reminders_follow_the_2027_schedule_from_the_calendar_file(client, world, rt, clock):
    _rectifying(client, world, rt, clock, start="2027-02-01", due="2027-02-16")
    issued = _run_days(rt, clock, "2027-02-02", "2027-02-23")
    assert issued == {"2027-02-03": ["reminder.due_soon"], "2027-02-17": ["reminder.overdue"],
                      "2027-02-18": ["reminder.overdue"], "2027-02-19": ["reminder.overdue", "escalation.blue"],
                      "2027-02-20": ["reminder.overdue"], "2027-02-22": ["reminder.overdue"],
                      "2027-02-23": ["reminder.overdue"]}

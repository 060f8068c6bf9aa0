"""The working-day calendar: a year's official schedule from the calendar file, the precedence of sources,
and a bad file refused with the file, line, key and problem. Pure: no database."""
from __future__ import annotations

import datetime as dt

import pytest

from engine import workdays
from engine.calendars.file import MAX_FILE_BYTES, load_calendar_file, parse_calendar
from engine.calendars.report import describe
from engine.durations import parse_duration
from engine.errors import CalendarError

D = dt.date
# A 2027 schedule as an office would type it in from the State Council's notice.
CALENDAR_2027 = """\
2027:
  notice: 国务院办公厅关于2027年部分节假日安排的通知
  holidays:
    元旦: 2027-01-01
    春节: 2027-02-05..2027-02-13
    劳动节: [2027-05-01 .. 2027-05-05]
  workdays:
    春节: [2027-01-31, 2027-02-20]
    劳动节: 2027-05-08
"""


@pytest.fixture(autouse=True)
def default_calendar():
    """Each test starts and ends on the calendar without a file."""
    workdays.configure(None)
    yield
    workdays.configure(None)


@pytest.fixture
def calendar_file(tmp_path):
    path = tmp_path / "calendar.yaml"
    path.write_text(CALENDAR_2027, encoding="utf-8")
    return path


def test_the_file_gives_2027_its_holidays_and_make_up_days(calendar_file):
    workdays.configure(calendar_file)
    assert workdays.calendar_covers(2027)
    schedule = workdays.year_schedule(2027)
    assert schedule.official and schedule.source == f"file {calendar_file}"
    assert not workdays.is_working_day(D(2027, 2, 8))  # a Monday in the Spring Festival
    assert not workdays.is_working_day(D(2027, 2, 12))  # a Friday the packages do not know is off
    assert workdays.is_working_day(D(2027, 2, 20))  # a Saturday worked (调休)
    assert workdays.is_working_day(D(2027, 1, 31))  # a Sunday worked
    assert not workdays.is_working_day(D(2027, 2, 21))  # an ordinary Sunday
    # Working-day arithmetic follows: two working days after Wednesday 3 February skip the whole holiday...
    assert workdays.add_working_days(D(2027, 2, 3), 2) == D(2027, 2, 15)
    # ...and two after Thursday 18 February end on the make-up Saturday.
    assert workdays.add_working_days(D(2027, 2, 18), 2) == D(2027, 2, 20)
    assert workdays.add_duration(D(2027, 2, 18), parse_duration("2 working days")) == D(2027, 2, 20)
    assert workdays.working_days_between(D(2027, 2, 4), D(2027, 2, 15)) == 1
    # Years the file does not give keep their official package schedule.
    assert workdays.year_schedule(2026).source.startswith("chinesecalendar")
    assert not workdays.is_working_day(D(2026, 10, 1)) and workdays.is_working_day(D(2026, 9, 20))


def test_without_the_file_2027_is_a_guess_and_says_so(caplog):
    schedule = workdays.year_schedule(2027)
    assert not schedule.official and not workdays.calendar_covers(2027)
    # The holidays package's statutory days, marked unofficial, with no make-up working days.
    assert schedule.source.startswith("holidays ") and schedule.workdays == {}
    assert not workdays.is_working_day(D(2027, 2, 8))
    assert workdays.is_working_day(D(2027, 2, 12))  # the package does not know the notice moves this day
    assert workdays.add_working_days(D(2027, 2, 18), 2) == D(2027, 2, 22)
    assert "no official holiday schedule for 2027" in caplog.text
    assert workdays.year_schedule(2026).official


def test_a_file_year_replaces_the_package_schedule_of_that_year(tmp_path):
    path = tmp_path / "calendar.yaml"
    path.write_text("2026:\n  holidays:\n    测试: 2026-03-04\n", encoding="utf-8")
    workdays.configure(path)
    assert not workdays.is_working_day(D(2026, 3, 4))
    assert workdays.is_working_day(D(2026, 10, 1))  # the file's 2026 is all there is of 2026
    workdays.configure(None)
    assert workdays.is_working_day(D(2026, 3, 4)) and not workdays.is_working_day(D(2026, 10, 1))


def test_the_weekday_fallback_is_the_last_resort(monkeypatch):
    from engine.calendars import schedule

    monkeypatch.setattr(schedule, "from_holidays_package", lambda year: None)
    workdays.configure(None)
    guess = workdays.year_schedule(2027)
    assert guess.source == "Monday to Friday" and not guess.official
    assert workdays.is_working_day(D(2027, 2, 8)) and not workdays.is_working_day(D(2027, 2, 6))


BAD = [
    ("not-yaml", "2027: [", ":1: not valid YAML"),
    ("not-a-mapping", "- 2027\n", "a calendar file is a mapping of years"),
    ("year-not-a-number", "next:\n  holidays:\n    元旦: 2027-01-01\n", ":1: next: the top-level keys are years"),
    ("unknown-key", "2027:\n  holidays:\n    元旦: 2027-01-01\n  holydays: {}\n", ":4: 2027.holydays: unknown key"),
    ("no-holidays", "2027:\n  workdays:\n    春节: 2027-02-20\n", "2027: give the year's holidays"),
    ("bad-date", "2027:\n  holidays:\n    元旦: 2027-01-01\n    春节: 2027-02-30\n",
     ":4: 2027.holidays.春节: '2027-02-30' is not a date"),
    ("iso-week-date", "2027:\n  holidays:\n    元旦: 2027-W01-5\n", ":3: 2027.holidays.元旦: '2027-W01-5' is not a date"),
    ("basic-form-date", "2027:\n  holidays:\n    元旦: '20270101'\n", ":3: 2027.holidays.元旦: '20270101' is not a date"),
    ("reversed-range", "2027:\n  holidays:\n    春节: 2027-02-13..2027-02-05\n",
     ":3: 2027.holidays.春节: '2027-02-13..2027-02-05': the range ends before it starts"),
    ("other-year", "2027:\n  holidays:\n    元旦: [2026-12-31, 2027-01-01]\n",
     ":3: 2027.holidays.元旦: 2026-12-31 is not in 2027"),
    ("workday-on-a-weekday", "2027:\n  holidays:\n    元旦: 2027-01-01\n  workdays:\n    春节: 2027-02-17\n",
     ":5: 2027.workdays.春节: 2027-02-17 is a Wednesday, a working day anyway"),
    ("both", "2027:\n  holidays:\n    春节: 2027-02-05..2027-02-13\n  workdays:\n    春节: 2027-02-13\n",
     ":5: 2027.workdays.春节: 2027-02-13 is also a holiday"),
    ("long-range", "2027:\n  holidays:\n    春节: 2027-02-01..2027-03-31\n", "more than 31 days is surely a typo"),
]


@pytest.mark.parametrize("text, message", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_a_bad_file_is_refused_naming_the_line_key_and_problem(tmp_path, text, message):
    path = tmp_path / "calendar.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CalendarError) as caught:
        workdays.configure(path)
    assert str(path) in str(caught.value) and message in str(caught.value), str(caught.value)
    assert not workdays.calendar_covers(2027)  # the calendar in use is unchanged


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(CalendarError, match="no such file"):
        workdays.configure(tmp_path / "nowhere.yaml")


def test_every_problem_is_listed_at_once():
    text = "2027:\n  holidays:\n    元旦: 2027-13-01\n    春节: nope\n"
    with pytest.raises(CalendarError) as caught:
        parse_calendar(text, "cal.yaml")
    assert [p.split(": ")[0] for p in caught.value.problems] == ["cal.yaml:3", "cal.yaml:4"]


def test_the_report_names_each_run_of_days_and_the_source(calendar_file):
    workdays.configure(calendar_file)
    text = "\n".join(describe(workdays.year_schedule(2027)))
    assert text.splitlines()[0] == f"2027: official, from file {calendar_file}"
    assert "2027-02-05 Fri .. 2027-02-13 Sat" in text and "春节 (9 days)" in text
    assert "2027-02-20 Sat" in text and "2027-05-08 Sat" in text and "劳动节" in text
    guess = describe(workdays.year_schedule(2028))
    assert guess[0].startswith("2028: NOT OFFICIAL, from ") and "warning: no official schedule for 2028" in guess[2]


def test_a_key_given_twice_refuses_the_file_instead_of_dropping_the_first():
    # YAML keeps the last of two `holidays:` blocks: 元旦 and 春节 would vanish and count as working days.
    text = "2027:\n  holidays:\n    元旦: 2027-01-01\n    春节: 2027-02-05..2027-02-13\n  holidays:\n    劳动节: 2027-05-01\n"
    with pytest.raises(CalendarError) as caught:
        parse_calendar(text, "cal.yaml")
    assert caught.value.problems == ["cal.yaml:5: 2027.holidays: the key is given twice in one mapping "
                                     "(YAML would keep only the last)"]


def test_a_file_nested_past_reason_or_too_large_is_refused_by_name(tmp_path):
    with pytest.raises(CalendarError) as caught:
        parse_calendar("2027:\n  holidays:\n    x: " + "[" * 5000 + "]" * 5000 + "\n", "deep.yaml")
    assert caught.value.problems == ["deep.yaml: nested too deeply to be a calendar file"]
    big = tmp_path / "big.yaml"
    big.write_text("# " + "x" * MAX_FILE_BYTES + "\n")
    with pytest.raises(CalendarError) as caught:
        load_calendar_file(big)
    assert "larger than 1,048,576 bytes" in caught.value.problems[0]

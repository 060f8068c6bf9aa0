"""Working days on the official Chinese holiday calendar, make-up working days (调休) included.

The calendar is one per process, set when the runtime opens (``configure``); the functions below are on
the transition path and the sweep's, so a day's answer is cached and the cache is dropped on ``configure``.
Where each year's schedule comes from, and in what order, is engine.calendars' business.
"""
from __future__ import annotations

import datetime as dt
from functools import lru_cache
from pathlib import Path

from engine.calendars.file import load_calendar_file
from engine.calendars.schedule import Calendar, YearSchedule
from engine.durations import Duration, add_months

_calendar = Calendar()


def configure(calendar_file: Path | None = None) -> Calendar:
    """Use the official schedules of ``calendar_file`` (if any) before the packages'; raise CalendarError if bad."""
    global _calendar
    calendar = Calendar(load_calendar_file(calendar_file) if calendar_file is not None else {})
    _calendar = calendar
    is_working_day.cache_clear()
    return calendar


def current() -> Calendar:
    """The calendar in use."""
    return _calendar


def year_schedule(year: int) -> YearSchedule:
    """What is known of ``year`` and where from."""
    return _calendar.year(year)


@lru_cache(maxsize=8192)
def is_working_day(day: dt.date) -> bool:
    """True on official working days; for a year with no official schedule, the best guess (with a warning)."""
    return _calendar.is_working_day(day)


def calendar_covers(year: int) -> bool:
    """Whether the official calendar for ``year`` is known (False means the working days are only a guess)."""
    return _calendar.covers(year)


def add_working_days(start: dt.date, count: int) -> dt.date:
    """The date ``count`` working days after ``start`` (``start`` itself not counted)."""
    day = start
    remaining = count
    while remaining > 0:
        day += dt.timedelta(days=1)
        if is_working_day(day):
            remaining -= 1
    return day


def working_days_between(start: dt.date, end: dt.date) -> int:
    """Working days after ``start`` up to and including ``end`` (negative when ``end`` is before ``start``)."""
    if end < start:
        return -working_days_between(end, start)
    return sum(1 for n in range(1, (end - start).days + 1) if is_working_day(start + dt.timedelta(days=n)))


def add_duration(start: dt.date, duration: Duration) -> dt.date:
    """The date a duration after ``start``."""
    if duration.unit == "working_days":
        return add_working_days(start, duration.amount)
    if duration.unit == "months":
        return add_months(start, duration.amount)
    return start + dt.timedelta(days=duration.amount)

"""Working days on the official Chinese holiday calendar, make-up working days (调休) included."""
from __future__ import annotations

import datetime as dt
import logging
from functools import lru_cache

import chinese_calendar

from engine.durations import Duration, add_months

log = logging.getLogger(__name__)
_warned_years: set[int] = set()


@lru_cache(maxsize=8192)
def is_working_day(day: dt.date) -> bool:
    """True on official working days; past the calendar's last known year, Monday to Friday, with a warning."""
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        if day.year not in _warned_years:
            _warned_years.add(day.year)
            log.warning(
                "holiday calendar has no data for %s: counting Monday to Friday only for that year; "
                "update the 'chinesecalendar' package once the State Council publishes the schedule",
                day.year,
            )
        return day.weekday() < 5


def calendar_covers(year: int) -> bool:
    """Whether the official calendar for ``year`` is known (False means weekdays are only a guess)."""
    try:
        chinese_calendar.is_workday(dt.date(year, 6, 1))
        return True
    except NotImplementedError:
        return False


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

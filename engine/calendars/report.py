"""A year's schedule as lines of text, for `closeloop calendar show`."""
from __future__ import annotations

import datetime as dt

from engine.calendars.schedule import YearSchedule


def _runs(days: dict[dt.date, str]) -> list[tuple[dt.date, dt.date, str]]:
    """Consecutive days with the same name, as (first, last, name)."""
    runs: list[tuple[dt.date, dt.date, str]] = []
    for day in sorted(days):
        name = days[day]
        if runs and runs[-1][2] == name and runs[-1][1] + dt.timedelta(days=1) == day:
            runs[-1] = (runs[-1][0], day, name)
        else:
            runs.append((day, day, name))
    return runs


def _day(day: dt.date) -> str:
    return f"{day.isoformat()} {day.strftime('%a')}"


def describe(schedule: YearSchedule) -> list[str]:
    """Where the year's schedule comes from, each run of days off and each make-up working day."""
    kind = "official" if schedule.official else "NOT OFFICIAL"
    lines = [f"{schedule.year}: {kind}, from {schedule.source}"]
    if schedule.note:
        lines.append(f"  {'notice' if schedule.official else 'note'}: {schedule.note}")
    if not schedule.official:
        lines.append(f"  warning: no official schedule for {schedule.year} is known; deadlines in it are counted on "
                     "a guess until its schedule is added to the file named by CLOSELOOP_CALENDAR_FILE")
    lines.append(f"days off ({len(schedule.holidays)}):" if schedule.holidays else "days off: none known")
    for first, last, name in _runs(schedule.holidays):
        span = _day(first) if first == last else f"{_day(first)} .. {_day(last)}"
        count = (last - first).days + 1
        lines.append(f"  {span:<32} {name}" + (f" ({count} days)" if count > 1 else ""))
    lines.append(f"make-up working days (调休, {len(schedule.workdays)}):" if schedule.workdays
                 else "make-up working days (调休): none known")
    for day in sorted(schedule.workdays):
        lines.append(f"  {_day(day):<32} {schedule.workdays[day]}")
    return lines

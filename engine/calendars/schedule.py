"""One year's schedule (days off, make-up working days 调休) and the sources it can come from."""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version

log = logging.getLogger("closeloop.calendar")


@dataclass(frozen=True)
class YearSchedule:
    """What is known of one year: days off and make-up working days by date, named, and where from."""

    year: int
    source: str
    official: bool
    # Days off (法定节假日 and the days moved next to them), weekends inside a holiday included or not.
    holidays: dict[dt.date, str] = field(default_factory=dict)
    # Weekend days declared working days (调休上班).
    workdays: dict[dt.date, str] = field(default_factory=dict)
    note: str = ""

    def is_working_day(self, day: dt.date) -> bool:
        """A make-up working day works, a day off does not, otherwise Monday to Friday."""
        if day in self.workdays:
            return True
        if day in self.holidays:
            return False
        return day.weekday() < 5


def _package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "?"


# chinesecalendar's English names, shown in Chinese as the notices name them.
_CHINESE = {"New Year's Day": "元旦", "Spring Festival": "春节", "Tomb-sweeping Day": "清明节",
            "Labour Day": "劳动节", "Dragon Boat Festival": "端午节", "National Day": "国庆节",
            "Mid-autumn Festival": "中秋节"}


def from_chinesecalendar(year: int) -> YearSchedule | None:
    """The official schedule the ``chinesecalendar`` package carries for ``year``, or None past its range."""
    import chinese_calendar
    from chinese_calendar import constants

    try:
        chinese_calendar.is_workday(dt.date(year, 6, 1))
    except NotImplementedError:
        return None
    days_off = {d: _CHINESE.get(n, n) for d, n in constants.holidays.items() if d.year == year}
    make_up = {d: _CHINESE.get(n, n) for d, n in constants.workdays.items() if d.year == year}
    return YearSchedule(year, f"chinesecalendar {_package_version('chinesecalendar')}", True, days_off, make_up)


def from_holidays_package(year: int) -> YearSchedule | None:
    """The statutory days the ``holidays`` package computes for ``year``: unofficial, without make-up days.

    Better than weekdays alone (the Spring Festival week is off), but the State Council's notice moves days
    around each year, so a deadline counted on it can be a day or two off: it never counts as official.
    """
    try:
        import holidays
    except ImportError:
        return None
    try:
        days = holidays.China(years=year, language="zh_CN")
    except Exception:  # noqa: BLE001 - an unsupported year or a broken install: fall through to weekdays
        return None
    listed = {d: name for d, name in days.items() if d.year == year}
    if not listed:
        return None
    return YearSchedule(year, f"holidays {_package_version('holidays')}", False, listed, {},
                        note="unofficial: statutory days as the package computes them, no make-up working days")


def weekdays_only(year: int) -> YearSchedule:
    """The last resort: Monday to Friday, no holidays at all."""
    return YearSchedule(year, "Monday to Friday", False, note="no schedule known: weekends off, no holidays")


class Calendar:
    """The schedules of every year, resolved on first use by precedence and kept."""

    def __init__(self, file_years: dict[int, YearSchedule] | None = None, *, use_holidays_package: bool = True) -> None:
        self.file_years = dict(file_years or {})
        self.use_holidays_package = use_holidays_package
        self._years: dict[int, YearSchedule] = {}

    def year(self, year: int) -> YearSchedule:
        """The schedule of ``year`` from the first source that knows it."""
        found = self._years.get(year)
        if found is None:
            found = (self.file_years.get(year) or from_chinesecalendar(year)
                     or (from_holidays_package(year) if self.use_holidays_package else None)
                     or weekdays_only(year))
            self._years[year] = found
            if not found.official:
                log.warning("no official holiday schedule for %s: counting working days on %s (%s); add the "
                            "State Council's schedule to the file named by CLOSELOOP_CALENDAR_FILE", year,
                            found.source, found.note)
        return found

    def is_working_day(self, day: dt.date) -> bool:
        """Whether ``day`` is a working day on its year's schedule."""
        return self.year(day.year).is_working_day(day)

    def covers(self, year: int) -> bool:
        """Whether the official schedule of ``year`` is known."""
        return self.year(year).official

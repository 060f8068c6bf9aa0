"""The calendar file: a year's official schedule typed in by an office the day it is published.

```yaml
2027:
  notice: 国务院办公厅关于2027年部分节假日安排的通知     # optional, shown by `closeloop calendar show`
  holidays:                                  # days off, by name: a date, a range A..B, or a list of them
    元旦: 2027-01-01
    春节: 2027-02-05..2027-02-13
  workdays:                                  # make-up working days (调休上班): weekend days that work
    春节: [2027-01-31, 2027-02-20]
```

A year in the file replaces whatever else is known of it. Every problem is reported as
``file:line: key: what is wrong``, and a file with any problem is refused whole.
"""
from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import yaml

from engine.calendars.schedule import YearSchedule
from engine.errors import CalendarError
from engine.inputs import iso_date
from engine.yamlkeys import repeated_keys

_KEYS = ("notice", "holidays", "workdays")
_RANGE = re.compile(r"^\s*(\S+)\s*\.\.\s*(\S+)\s*$")
# A year's schedule is a dozen lines: a file a thousand times that is no calendar (or /dev/zero).
MAX_FILE_BYTES = 1024 * 1024
# The longest run of days off a notice gives (the Spring Festival is 8 or 9 days); longer is a typo.
MAX_RANGE_DAYS = 31


class _Problems:
    def __init__(self, label: str) -> None:
        self.label, self.items = label, []

    def add(self, node: yaml.Node | None, key: str, message: str) -> None:
        line = f":{node.start_mark.line + 1}" if node is not None else ""
        self.items.append(f"{self.label}{line}: {key}: {message}" if key else f"{self.label}{line}: {message}")


def _date(text: str) -> dt.date | None:
    try:
        return iso_date(text.strip())
    except ValueError:
        return None


def _days(node: yaml.Node, key: str, problems: _Problems) -> list[dt.date]:
    """The dates one scalar names: a date or a range A..B."""
    text = str(node.value)
    found = _RANGE.match(text)
    if found is None:
        day = _date(text)
        if day is None:
            problems.add(node, key, f"{text!r} is not a date (YYYY-MM-DD) or a range (YYYY-MM-DD..YYYY-MM-DD)")
            return []
        return [day]
    first, last = _date(found.group(1)), _date(found.group(2))
    if first is None or last is None:
        problems.add(node, key, f"{text!r}: both ends of a range must be dates (YYYY-MM-DD)")
        return []
    if last < first:
        problems.add(node, key, f"{text!r}: the range ends before it starts")
        return []
    if (last - first).days >= MAX_RANGE_DAYS:
        problems.add(node, key, f"{text!r}: a range of more than {MAX_RANGE_DAYS} days is surely a typo")
        return []
    return [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]


def _named_days(node: yaml.Node, key: str, year: int, problems: _Problems) -> dict[dt.date, tuple[str, yaml.Node]]:
    """``name: dates`` pairs as {date: (name, node)}, every date checked to lie in ``year``."""
    out: dict[dt.date, tuple[str, yaml.Node]] = {}
    if not isinstance(node, yaml.MappingNode):
        problems.add(node, key, "must be a mapping of names to dates, e.g. 春节: 2027-02-05..2027-02-13")
        return out
    for name_node, value in node.value:
        name = str(name_node.value).strip()
        where = f"{key}.{name}"
        if not name:
            problems.add(name_node, key, "a name is empty")
            continue
        scalars = value.value if isinstance(value, yaml.SequenceNode) else [value]
        if not scalars:
            problems.add(value, where, "no dates given")
        for scalar in scalars:
            if not isinstance(scalar, yaml.ScalarNode):
                problems.add(scalar, where, "must be a date, a range, or a list of them")
                continue
            for day in _days(scalar, where, problems):
                if day.year != year:
                    problems.add(scalar, where, f"{day} is not in {year}: list it under its own year")
                elif day in out and out[day][0] != name:
                    problems.add(scalar, where, f"{day} is also listed under {out[day][0]!r}")
                else:
                    out[day] = (name, scalar)
    return out


def _year(key_node: yaml.Node, node: yaml.Node, label: str, problems: _Problems) -> YearSchedule | None:
    try:
        year = int(key_node.value)
    except (TypeError, ValueError):
        year = None
    if year is None or not 1949 < year < 2200 or not str(key_node.value).strip().isdigit():
        problems.add(key_node, str(key_node.value), "the top-level keys are years, e.g. 2027")
        return None
    if not isinstance(node, yaml.MappingNode):
        problems.add(node, str(year), "must be a mapping with holidays, workdays and an optional notice")
        return None
    parts = {}
    for sub_key, sub_node in node.value:
        name = str(sub_key.value)
        if name not in _KEYS:
            problems.add(sub_key, f"{year}.{name}", f"unknown key (known: {', '.join(_KEYS)})")
        else:
            parts[name] = sub_node
    if "holidays" not in parts:
        problems.add(node, str(year), "give the year's holidays (a year in the file replaces every other source)")
        return None
    holidays = _named_days(parts["holidays"], f"{year}.holidays", year, problems)
    workdays = _named_days(parts["workdays"], f"{year}.workdays", year, problems) if "workdays" in parts else {}
    for day, (name, scalar) in sorted(workdays.items()):
        if day in holidays:
            problems.add(scalar, f"{year}.workdays.{name}", f"{day} is also a holiday ({holidays[day][0]})")
        elif day.weekday() < 5:
            problems.add(scalar, f"{year}.workdays.{name}", f"{day} is a {day.strftime('%A')}, a working day "
                                                            "anyway: make-up working days (调休) are weekend days")
    notice = parts.get("notice")
    if notice is not None and not isinstance(notice, yaml.ScalarNode):
        problems.add(notice, f"{year}.notice", "must be text")
        notice = None
    return YearSchedule(year, f"file {label}", True, {d: n for d, (n, _) in holidays.items()},
                        {d: n for d, (n, _) in workdays.items()},
                        note=str(notice.value) if notice is not None else "")


def parse_calendar(text: str, label: str = "<text>") -> dict[int, YearSchedule]:
    """The years a calendar file gives; raise CalendarError listing every problem."""
    problems = _Problems(label)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise CalendarError([f"{label}{line}: not valid YAML: {getattr(exc, 'problem', None) or exc}"]) from None
    except RecursionError:
        raise CalendarError([f"{label}: nested too deeply to be a calendar file"]) from None
    if not isinstance(root, yaml.MappingNode) or not root.value:
        raise CalendarError([f"{label}: a calendar file is a mapping of years to their holidays and workdays"])
    for node, where in repeated_keys(root):
        if "." in where:  # a year given twice is named below
            problems.add(node, where, "the key is given twice in one mapping (YAML would keep only the last)")
    years: dict[int, YearSchedule] = {}
    for key_node, node in root.value:
        schedule = _year(key_node, node, label, problems)
        if schedule is not None:
            if schedule.year in years:
                problems.add(key_node, str(schedule.year), "the year is given twice")
            years[schedule.year] = schedule
    if problems.items:
        raise CalendarError(problems.items)
    return years


def load_calendar_file(path: Path) -> dict[int, YearSchedule]:
    """Read and check the calendar file at ``path``."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            raise CalendarError([f"{path}: larger than {MAX_FILE_BYTES:,} bytes; a calendar file is a few lines a year"])
        text = data.decode("utf-8")
    except FileNotFoundError:
        raise CalendarError([f"{path}: no such file (CLOSELOOP_CALENDAR_FILE)"]) from None
    except UnicodeDecodeError as exc:
        raise CalendarError([f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})"]) from None
    except OSError as exc:
        raise CalendarError([f"{path}: cannot be read: {exc.strerror}"]) from None
    return parse_calendar(text, str(path))

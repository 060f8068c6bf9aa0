"""Durations as workflow files write them: ``P3D``, ``P2W``, ``P1M``, ``2 working days``, ``1 month``."""
from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass
from typing import Literal

Unit = Literal["days", "working_days", "months"]

_ISO = re.compile(r"^P(?:(?P<n>\d+)(?P<u>[DWM]))$")
# The longest a workflow may name, in each unit: ten years. Longer is a typo (999999999 days), and no date
# could hold where it leads.
LONGEST = {"days": 3_660, "working_days": 2_600, "months": 120}
_WORDS = re.compile(r"^(?P<n>\d+)\s+(?P<w>working\s+days?|workdays?|days?|weeks?|months?)$")


@dataclass(frozen=True)
class Duration:
    """An amount of days, working days or months."""

    amount: int
    unit: Unit

    def __str__(self) -> str:
        word = {"days": "day", "working_days": "working day", "months": "month"}[self.unit]
        return f"{self.amount} {word}{'' if self.amount == 1 else 's'}"


def parse_duration(text: str) -> Duration:
    """Parse a duration; raise ValueError naming the accepted forms when ``text`` is none of them, or when it is
    longer than ten years."""
    found = _parsed(str(text).strip())
    if found.amount > LONGEST[found.unit]:
        raise ValueError(f"{found} is longer than ten years ({LONGEST[found.unit]:,} {found.unit.replace('_', ' ')} at "
                         "most): surely a typo")
    return found


def _parsed(raw: str) -> Duration:
    iso = _ISO.match(raw.upper())
    if iso:
        n, u = int(iso["n"]), iso["u"]
        return Duration(n * 7, "days") if u == "W" else Duration(n, "days" if u == "D" else "months")
    words = _WORDS.match(re.sub(r"\s+", " ", raw.lower()))
    if words:
        n, w = int(words["n"]), words["w"]
        if w.startswith("work"):
            return Duration(n, "working_days")
        if w.startswith("week"):
            return Duration(n * 7, "days")
        return Duration(n, "months" if w.startswith("month") else "days")
    raise ValueError(
        f"not a duration: {raw!r} (use ISO 8601 like 'P3D', 'P2W', 'P1M', or '3 days', '2 working days', '1 month')"
    )


def add_months(day: dt.date, months: int) -> dt.date:
    """Add calendar months, clamping to the month's last day (Jan 31 + 1 month = Feb 28/29)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))

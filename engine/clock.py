"""Where time comes from: one injected clock, so tests move time instead of sleeping."""
from __future__ import annotations

import datetime as dt
import threading
from typing import Protocol
from zoneinfo import ZoneInfo

UTC = dt.timezone.utc


class Clock(Protocol):
    """Anything that tells the current UTC time."""

    def now(self) -> dt.datetime:
        """Return the current time, timezone-aware, in UTC."""
        ...


class SystemClock:
    """The real wall clock."""

    def now(self) -> dt.datetime:
        """Return the current time in UTC."""
        return dt.datetime.now(UTC)


class ManualClock:
    """A clock that only moves when told to (tests, demos, back-dated imports)."""

    def __init__(self, start: dt.datetime | None = None) -> None:
        self._lock = threading.Lock()
        self._now = (start or dt.datetime(2026, 3, 2, 1, 0, tzinfo=UTC)).astimezone(UTC)

    def now(self) -> dt.datetime:
        """Return the clock's current time."""
        with self._lock:
            return self._now

    def set(self, when: dt.datetime) -> None:
        """Jump to ``when`` (must be timezone-aware)."""
        if when.tzinfo is None:
            raise ValueError("ManualClock.set needs a timezone-aware datetime")
        with self._lock:
            self._now = when.astimezone(UTC)

    def advance(self, **delta: float) -> None:
        """Move forward by a ``timedelta(**delta)``."""
        with self._lock:
            self._now = self._now + dt.timedelta(**delta)


def local_today(clock: Clock, tz: ZoneInfo) -> dt.date:
    """Return today's date in the deployment's time zone."""
    return clock.now().astimezone(tz).date()


def local_midnight(day: dt.date | None, tz: ZoneInfo, *, days_later: int = 0) -> dt.datetime | None:
    """The UTC instant local day ``day`` (plus ``days_later``) begins; None for no day, and for one beyond what a
    time can hold (at year 1 or 9999, the calendar's ends), where a period needs no bound on that side at all."""
    if day is None:
        return None
    try:
        return dt.datetime.combine(day + dt.timedelta(days=days_later), dt.time(), tzinfo=tz).astimezone(UTC)
    except OverflowError:
        return None


def rfc3339(when: dt.datetime) -> str:
    """Format a UTC instant with fixed microsecond precision: the one form used in hashes and responses."""
    if when.tzinfo is None:
        raise ValueError("naive datetime")
    return when.astimezone(UTC).replace(tzinfo=None).isoformat("T", "microseconds") + "Z"


def parse_rfc3339(text: str) -> dt.datetime:
    """Parse the form written by :func:`rfc3339` (or any ISO 8601 time with an offset)."""
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError(f"time without offset: {text!r}")
    return value.astimezone(UTC)

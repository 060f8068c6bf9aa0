"""When each seeded item was made and the number (编号) it gets, computable by any process from the item's
place alone, so that the worker processes that hash the items' histories can put the number in each creation
record, as the engine does (engine.items), without seeing the items made before.

Item ``i`` of ``n`` is made in its own stretch of the span (``SPAN_DAYS`` before ``now`` divided evenly), at a
point drawn for it alone; times therefore rise with ``i``, and numbers are handed out by year in that order
(ZG-2026-000123: the year's last number before the seed, plus the item's place among the seed's items of that
year).
"""
from __future__ import annotations

import bisect
import datetime as dt
import hashlib
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from engine.itemrows import number_text

SPAN_DAYS = 730


def created_at(i: int, n: int, now: dt.datetime, rng_seed: int) -> dt.datetime:
    """When item ``i`` of ``n`` was made: in its stretch of the span, at a point drawn from its own sequence."""
    start, step = now - dt.timedelta(days=SPAN_DAYS), SPAN_DAYS * 86400 / max(n, 1)
    # A fraction drawn from the item's place and the seed alone (a Random seeded per item cost 14 us here, this 5).
    fraction = int.from_bytes(hashlib.blake2b(f"{rng_seed}:made:{i}".encode(), digest_size=8).digest()) / 2**64
    offset = fraction * step * 0.9
    return start + dt.timedelta(seconds=i * step + offset)


@dataclass(frozen=True)
class Numbering:
    """The numbers of a seed's items: the first item of each year, and each year's last number before it."""

    prefix: str
    first_of_year: dict[int, int]
    last_before: dict[int, int]
    n: int

    @classmethod
    def plan(cls, prefix: str, n: int, now: dt.datetime, rng_seed: int, tz: ZoneInfo,
             last_before: dict[int, int]) -> "Numbering":
        """The numbering of ``n`` items made before ``now``, after the numbers already handed out."""
        def year(i: int) -> int:
            return created_at(i, n, now, rng_seed).astimezone(tz).year

        first = {}
        if n:
            for y in range(year(0), year(n - 1) + 1):
                first[y] = bisect.bisect_left(range(n), y, key=year)
        return cls(prefix, first, dict(last_before), n)

    def number(self, i: int, year: int) -> str:
        """Item ``i``'s number, made in ``year``."""
        return number_text(self.prefix, year, self.last_before.get(year, 0) + i - self.first_of_year[year] + 1)

    def last_numbers(self, done: int) -> dict[int, int]:
        """Each year's last number once the first ``done`` items are in (what number_sequences must say)."""
        last = dict(self.last_before)
        for y, first in self.first_of_year.items():
            made = min(done, self._end(y)) - first
            if made > 0:
                last[y] = self.last_before.get(y, 0) + made
        return last

    def _end(self, year: int) -> int:
        later = [f for y, f in self.first_of_year.items() if y > year]
        return min(later) if later else self.n

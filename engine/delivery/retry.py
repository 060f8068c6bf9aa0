"""When to try again: exponential backoff with jitter, and the robots' rate limits."""
from __future__ import annotations

import datetime as dt
import random

# The first retry comes after half a minute; each failure doubles the wait up to six hours, so a receiver
# that is down for a weekend is tried about twenty times over three days, not thousands.
FIRST_DELAY = dt.timedelta(seconds=30)
MAX_DELAY = dt.timedelta(hours=6)
# Each wait is scaled by a random factor in this range, so deliveries that failed together (a receiver's
# outage) do not all come back in the same second.
JITTER = (0.75, 1.25)
# Feishu also throttles past 5 messages a second per bot.
FEISHU_PER_SECOND = 5


def base_delay(attempts: int) -> dt.timedelta:
    """The wait after the ``attempts``-th failed attempt, before jitter."""
    return min(FIRST_DELAY * (2 ** max(attempts - 1, 0)), MAX_DELAY)


def next_attempt(now: dt.datetime, attempts: int, retry_until: dt.datetime, *, retry_after: float | None = None,
                 rng: random.Random | None = None) -> dt.datetime | None:
    """When to try again after the ``attempts``-th failure, or None to give up.

    A delivery is given up only when it fails at or after ``retry_until``; the last try is moved to that
    instant rather than skipped, so every delivery is tried for the whole retry window.
    """
    if now >= retry_until:
        return None
    delay = base_delay(attempts) * (rng or random).uniform(*JITTER)
    if retry_after is not None:
        # The receiver said when to come back; never sooner than that, never later than the window allows.
        delay = max(delay, dt.timedelta(seconds=min(retry_after, MAX_DELAY.total_seconds())))
    return min(now + delay, retry_until)


def rate_windows(kind: str, per_minute: int) -> list[tuple[dt.timedelta, int]]:
    """(window, most attempts in it) for one endpoint of ``kind``; generic receivers have none."""
    if kind == "feishu":
        return [(dt.timedelta(minutes=1), per_minute), (dt.timedelta(seconds=1), FEISHU_PER_SECOND)]
    if kind in ("dingtalk", "wecom"):
        return [(dt.timedelta(minutes=1), per_minute)]
    return []

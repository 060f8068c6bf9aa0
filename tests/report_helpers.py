"""Counting what reports should say straight from the raw item rows, with no code shared with engine/reports."""
from __future__ import annotations

import datetime as dt
from collections import defaultdict

import sqlalchemy as sa

FINAL = {"closed", "cancelled"}


def raw_items(rt) -> list[dict]:
    """Every item row with its unit's code and path, as plain values."""
    with rt.store.read() as conn:
        rows = conn.execute(sa.text(
            "SELECT i.state, i.source, i.severity, i.workflow, i.campaign, i.deadline, i.due_date, i.closed_at, "
            "i.created_at, i.reopened_count, u.code AS unit, u.path AS path FROM items i "
            "JOIN units u ON u.id = i.unit_id")).mappings()
        return [dict(r) for r in rows]


def _date(value) -> dt.date | None:
    if value is None or isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def _utc(value) -> dt.datetime | None:
    if value is None:
        return None
    when = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    return when.replace(tzinfo=dt.timezone.utc)


def expected_groups(rows: list[dict], group_by: str, today: dt.date, tz) -> dict:
    """Per group key: the counts and rates docs/REPORTS.md defines, computed one row at a time."""
    groups: dict = defaultdict(lambda: defaultdict(float))
    for row in rows:
        g = groups[row[group_by]]
        g["total"] += 1
        state, deadline, due = row["state"], _date(row["deadline"]), _date(row["due_date"])
        closed_at, created = _utc(row["closed_at"]), _utc(row["created_at"])
        g["open"] += state not in FINAL
        g["closed"] += state == "closed"
        g["cancelled"] += state == "cancelled"
        g["overdue"] += state not in FINAL and deadline is not None and deadline < today
        if state == "closed":
            # Its time to close is known only when it closed after it was registered here: one a ledger brought in
            # already closed (closed_at before created_at, or at it with no 销号日期) is left out of the average.
            if closed_at > created:
                g["days"] += (closed_at - created).total_seconds() / 86400
                g["timed"] += 1
            if due is not None:
                g["with_due"] += 1
                g["on_time"] += closed_at.astimezone(tz).date() <= due
        g["reopened"] += row["reopened_count"] > 0
        g["ever_closed"] += state == "closed" or row["reopened_count"] > 0
    out = {}
    for key, g in groups.items():
        def rate(a, b):
            return a / b if b else None
        out[key] = {"total": g["total"], "open": g["open"], "closed": g["closed"], "cancelled": g["cancelled"],
                    "overdue": g["overdue"], "closure_rate": rate(g["closed"], g["total"] - g["cancelled"]),
                    "overdue_rate": rate(g["overdue"], g["open"]), "on_time_rate": rate(g["on_time"], g["with_due"]),
                    "closed_on_time": g["on_time"], "avg_days_to_close": rate(g["days"], g["timed"]),
                    "reopened": g["reopened"], "reopen_rate": rate(g["reopened"], g["ever_closed"])}
    return out


def assert_figures_agree(got: dict, want: dict, where: str) -> None:
    """Counts exactly, rates to the rounding the report uses."""
    for name, value in want.items():
        if value is None or got[name] is None:
            assert got[name] == value, (where, name, got[name], value)
        elif isinstance(got[name], int) and name not in ("avg_days_to_close",) and not name.endswith("_rate"):
            assert got[name] == value, (where, name, got[name], value)
        else:
            assert abs(got[name] - value) <= 0.006, (where, name, got[name], value)

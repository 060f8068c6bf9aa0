"""Deadlines per state and the traffic light (红黄绿灯), always computed from dates, never stored stale."""
from __future__ import annotations

import datetime as dt

from engine.definitions.workflow import WorkflowDef
from engine.workdays import add_duration

# The days a due date (整改时限) may name, wherever it is set: registration, a transition's fields, a ledger row.
# Outside them a date is a slip, not a deadline: 0206-03-31 or an Excel zero (1900-01-00) would raise a red
# escalation to the top unit at the next sweep, 2062-03-31 would keep the item out of every reminder for decades.
# Past due dates are accepted back to the floor (a problem can be late from the start, and old ledgers come in
# with their closed items); ahead, a rectification planned over more than ten years is not one list's item.
EARLIEST_DAY = dt.date(2000, 1, 1)
HORIZON_YEARS = 10
_FAR_DEADLINE = "a deadline that far off would keep the item out of every reminder"


def state_deadline(wf: WorkflowDef, state: str, *, entered: dt.date, due_date: dt.date | None) -> dt.date | None:
    """The date the work in ``state`` is due, or None when no clock runs there (paused, final, untimed)."""
    sdef = wf.state(state)
    if sdef.final or sdef.clock == "paused" or sdef.due is None:
        return None
    if sdef.due.field == "due_date":
        return due_date
    span = sdef.due.within or sdef.due.every
    deadline = add_duration(entered, span)
    # The item's own due date (整改时限) also bounds the steps before the work starts: an item registered
    # or assigned after its due date is overdue (red), not "due soon".
    if due_date is not None and due_date < deadline and state in _before_work(wf):
        return due_date
    return deadline


def _before_work(wf: WorkflowDef) -> set[str]:
    """States an item can be in before it first reaches a working state (one due by due_date or a rhythm)."""
    working = {s.name for s in wf.states if s.due is not None and (s.due.field or s.due.every)}
    seen, todo = {wf.initial}, [wf.initial]
    while todo:
        state = todo.pop()
        if state in working:
            continue
        for t in wf.transitions:
            if state in t.source and t.dest not in seen:
                seen.add(t.dest)
                todo.append(t.dest)
    return seen - working


def restarts_clock(wf: WorkflowDef, source: str, dest: str) -> bool:
    """Whether firing into ``dest`` starts its clock again: a new state, or a rhythm state ('every')."""
    if source != dest:
        return True
    due = wf.state(dest).due
    return due is not None and due.every is not None


def light(deadline: dt.date | None, today: dt.date, yellow_days: int) -> tuple[str, int]:
    """('green'|'yellow'|'red'|'none', days overdue) for a deadline seen on ``today``."""
    if deadline is None:
        return "none", 0
    if today > deadline:
        return "red", (today - deadline).days
    if (deadline - today).days <= yellow_days:
        return "yellow", 0
    return "green", 0


def implausible_day(name: str, day: dt.date | None, today: dt.date, *, future: bool = True,
                    far_off: str | None = _FAR_DEADLINE) -> str | None:
    """Why ``day`` (the value of ``name``) cannot be meant, or None: before 2000, or (with ``future``) more
    than ten years after ``today`` (``far_off`` says why that matters; None for a day that is no deadline)."""
    if day is None:
        return None
    if day < EARLIEST_DAY:
        return f"{name} {day.isoformat()} is before {EARLIEST_DAY.isoformat()}: a typing slip? (a year written short, " \
               f"or an empty cell formatted as a date)"
    latest = _years_later(today, HORIZON_YEARS)
    if future and day > latest:
        return f"{name} {day.isoformat()} is more than {HORIZON_YEARS} years ahead (after {latest.isoformat()}): a " \
               f"typing slip?" + (f" {far_off}" if far_off else "")
    return None


def _years_later(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February into a common year
        return day.replace(year=day.year + years, day=28)

"""Deadlines per state and the traffic light (红黄绿灯), always computed from dates, never stored stale."""
from __future__ import annotations

import datetime as dt

from engine.definitions.schema import WorkflowDef
from engine.workdays import add_duration


def state_deadline(wf: WorkflowDef, state: str, *, entered: dt.date, due_date: dt.date | None) -> dt.date | None:
    """The date the work in ``state`` is due, or None when no clock runs there (paused, final, untimed)."""
    sdef = wf.state(state)
    if sdef.final or sdef.clock == "paused" or sdef.due is None:
        return None
    if sdef.due.field == "due_date":
        return due_date
    span = sdef.due.within or sdef.due.every
    return add_duration(entered, span)


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

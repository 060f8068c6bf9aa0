"""The model of reminders and escalations (催办, 督办): which notices a sweep at a given moment has issued.

Written from DESIGN.md, GLOSSARY.md and the workflow files' rules, for states whose clock runs to the
item's due date (整改时限):

- a notice falls due at the office hour (09:00 in the deployment's zone) of a working day, never before;
- ``before: N working days`` gives one "due soon" notice N working days before the deadline, unless the
  item is already overdue when the sweep looks;
- ``overdue_every: 1 day`` gives one notice each working day after the deadline;
- ``after_overdue: N working days`` gives the escalation of its level N working days after the deadline;
- a sweep issues, per rule, only the latest occurrence that has fallen due (a sweep after downtime
  catches up once, not once per missed day), and each notice once: it is known by the item, the moment its
  state's clock started, the rule and the day, so sweeping again, or re-entering at the same instant,
  adds nothing. Escalation levels due together are all recorded (the highest issued, the rest superseded).

States whose clock is a rhythm (long-term items' monthly reports) are not modelled: there the machine only
checks that notices never disappear and that a second sweep at the same moment adds none.
"""
from __future__ import annotations

import datetime as dt

from engine.definitions.workflow import WorkflowDef
from engine.durations import Duration
from engine.workdays import is_working_day
from tests.model.rules import Item

OFFICE_HOUR = dt.time(9)


def modelled(workflow: WorkflowDef, state: str) -> bool:
    """Whether the model knows the state's notices: no rules at all, or rules counted from the due date."""
    sdef = workflow.state(state)
    has_rules = bool(sdef.reminders or sdef.escalation)
    return not has_rules or (sdef.due is not None and sdef.due.field == "due_date" and sdef.clock != "paused")


def _working_days_from(day: dt.date, count: int, step: int) -> dt.date:
    """The working day ``count`` working days after (step 1) or before (step -1) ``day``."""
    while count > 0:
        day += dt.timedelta(days=step)
        count -= is_working_day(day)
    return day


def _shift(day: dt.date, duration: Duration, step: int) -> dt.date:
    if duration.unit == "working_days":
        return _working_days_from(day, duration.amount, step)
    assert duration.unit == "days", duration  # the bundled due-date rules use working days and days only
    day += dt.timedelta(days=step * duration.amount)
    while not is_working_day(day):  # a notice waits for (or, counting back, comes before) a working day
        day += dt.timedelta(days=step)
    return day


def _latest(days, today: dt.date, now_local: dt.datetime) -> dt.date | None:
    """The last of ``days`` (ascending) whose office hour has come by ``now_local``."""
    due = [d for d in days if d < today or (d == today and now_local.time() >= OFFICE_HOUR)]
    return due[-1] if due else None


def falling_due(item: Item, now_local: dt.datetime) -> set[tuple]:
    """The notices (keys) of the item's current state entry that a sweep at ``now_local`` finds due."""
    sdef = item.workflow.state(item.state)
    deadline, today = item.due_date, now_local.date()
    if sdef.final or sdef.clock == "paused" or sdef.due is None or deadline is None:
        return set()
    entry = item.entered_at.astimezone(dt.timezone.utc)
    keys = set()
    for index, rule in enumerate(sdef.reminders):
        if rule.before is not None:
            day = _latest([_shift(deadline, rule.before, -1)], today, now_local)
            if day is not None and today <= deadline:
                keys.add((entry, f"reminders.{index}", day))
        else:
            every = rule.overdue_every
            assert every.unit == "days" and every.amount == 1, every  # the bundled due-date rules: daily
            days = [deadline + dt.timedelta(days=n) for n in range(1, (today - deadline).days + 1)]
            day = _latest([d for d in days if is_working_day(d)], today, now_local)
            if day is not None:
                keys.add((entry, f"reminders.{index}", day))
    for rule in sdef.escalation:
        day = _latest([_shift(deadline, rule.after_overdue, 1)], today, now_local)
        if day is not None:
            keys.add((entry, f"escalation.{rule.level}", day))
    return keys

"""A state's reminder and escalation rules turned into dated notices for one item.

Pure: given the workflow, where the item stands (state, when it entered it, its deadline) and the time
now, it says which notices have fallen due and when the next one will. Notices fall due at the office
hour (settings) on working days only, never at night or on a holiday. Each has a key (item, state entry,
rule, due date) so the sweep issues it once however often it looks.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Callable, Iterable, NamedTuple
from zoneinfo import ZoneInfo

from engine.clock import UTC, rfc3339
from engine.definitions import WorkflowDef
from engine.durations import Duration
from engine.workdays import add_duration, is_working_day

LEVELS = ("blue", "orange", "red")
# How far ahead a repeating rule is unrolled looking for its next occurrence (an overdue item keeps
# getting one every period; a period longer than this is not a reminder anyone would want).
_HORIZON_DAYS = 400


@dataclass(frozen=True)
class Clock:
    """Where an item's deadline clock stands: its state, when it entered it, and the deadline."""

    item_id: str
    state: str
    entered_at: dt.datetime
    deadline: dt.date | None


@dataclass(frozen=True)
class Planned:
    """One notice a rule gives: what, for whom (recipient words), and when it falls due."""

    key: str
    kind: str
    level: str | None
    rule: str
    notify: tuple[str, ...]
    deadline: dt.date
    due_at: dt.datetime


@dataclass(frozen=True)
class Plan:
    """The notices due now (at most one per rule) and when the next one falls due (None: no more)."""

    due: list[Planned]
    next_at: dt.datetime | None


def _office_time(day: dt.date, tz: ZoneInfo, hour: int) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tz).astimezone(UTC)


def _next_working(day: dt.date) -> dt.date:
    while not is_working_day(day):
        day += dt.timedelta(days=1)
    return day


def _previous_working(day: dt.date) -> dt.date:
    while not is_working_day(day):
        day -= dt.timedelta(days=1)
    return day


def _subtract(day: dt.date, duration: Duration) -> dt.date:
    """The date ``duration`` before ``day`` (working days counted backwards on the official calendar)."""
    if duration.unit == "working_days":
        remaining = duration.amount
        while remaining > 0:
            day -= dt.timedelta(days=1)
            if is_working_day(day):
                remaining -= 1
        return day
    if duration.unit == "months":
        return add_duration(day, Duration(-duration.amount, "months"))
    return day - dt.timedelta(days=duration.amount)


# What date arithmetic past the calendar's ends raises: timedelta sums overflow, a date in year 10000 is a
# ValueError. A deadline of 9999-12-31 (or 0001-01-01) is refused when set (engine.deadlines) but a database may
# hold one set before; a notice it would give beyond the calendar can never fall due, so it has none (was a 500
# firing into a state with reminders).
_OFF_CALENDAR = (OverflowError, ValueError)


def _before(deadline: dt.date, duration: Duration) -> dt.date:
    """The working day ``duration`` before the deadline (or the last one before that day)."""
    return _previous_working(_subtract(deadline, duration))


def _after(deadline: dt.date, duration: Duration) -> dt.date:
    """The working day ``duration`` after the deadline (or the first one after that day)."""
    return _next_working(add_duration(deadline, duration))


def _on_calendar(day: Callable[[dt.date, Duration], dt.date], deadline: dt.date, duration: Duration) -> list[dt.date]:
    """[day(deadline, duration)], or [] when that day is outside years 1-9999."""
    try:
        return [day(deadline, duration)]
    except _OFF_CALENDAR:
        return []


class RuleDates(NamedTuple):
    """One reminder or escalation rule of a state, and the days it falls due on, ascending."""

    rule_id: str  # "<state>.reminders.<index>" or "<state>.escalation.<level>"
    kind: str  # the notice's event: reminder.due_soon, reminder.overdue or escalation.issued
    level: str | None  # an escalation's colour; None for a reminder
    notify: tuple[str, ...]
    dates: Iterable[dt.date]  # lazy for a repeating rule: read only as far as needed


class Occurrence(NamedTuple):
    """A rule's latest occurrence that has fallen due: its day and the office hour of that day."""

    rule_id: str
    kind: str
    level: str | None
    notify: tuple[str, ...]
    day: dt.date
    at: dt.datetime


def _occurrences(clock: Clock, definition: WorkflowDef) -> Iterable[RuleDates]:
    """Every rule of the state with its dates. Repeating rules' dates come lazily; the caller stops reading once
    past the time it cares about."""
    sdef = definition.state(clock.state)
    deadline = clock.deadline
    for index, rule in enumerate(sdef.reminders):
        rule_id = f"{clock.state}.reminders.{index}"
        if rule.before is not None:
            yield RuleDates(rule_id, "reminder.due_soon", None, tuple(rule.notify),
                            _on_calendar(_before, deadline, rule.before))
        else:
            yield RuleDates(rule_id, "reminder.overdue", None, tuple(rule.notify), _every(deadline, rule.overdue_every))
    for rule in sdef.escalation:
        yield RuleDates(f"{clock.state}.escalation.{rule.level}", "escalation.issued", rule.level, tuple(rule.notify),
                        _on_calendar(_after, deadline, rule.after_overdue))


def _every(deadline: dt.date, period: Duration):
    """The working days on which a repeating overdue reminder falls due: one per period after the deadline."""
    last = None
    for step in range(1, _HORIZON_DAYS + 1):
        try:
            day = _after(deadline, Duration(period.amount * step, period.unit))
        except _OFF_CALENDAR:  # past 9999-12-31: no later occurrence can fall due
            return
        if (day - deadline).days > _HORIZON_DAYS:
            return
        if day != last:  # a period ending on a weekend and the next one can land on the same Monday
            last = day
            yield day


@dataclass(frozen=True)
class Schedule:
    """For one state and deadline at one moment: each rule's latest occurrence due by then, and the next one."""

    due: tuple[Occurrence, ...]
    next_at: dt.datetime | None


def schedule(definition: WorkflowDef, state: str, deadline: dt.date | None, now: dt.datetime, *, tz: ZoneInfo,
             hour: int) -> Schedule:
    """The dates part of ``plan``: the same for every item in the same state with the same deadline."""
    if deadline is None or definition.state(state).final:
        return Schedule((), None)
    today = now.astimezone(tz).date()
    due = []
    next_at: dt.datetime | None = None
    for rule in _occurrences(Clock("", state, now, deadline), definition):
        latest = None
        for day in rule.dates:
            at = _office_time(day, tz, hour)
            if at > now:
                next_at = at if next_at is None or at < next_at else next_at
                break
            latest = (day, at)
        if latest is not None and not (rule.kind == "reminder.due_soon" and today > deadline):
            # (An item that is already overdue is not "due soon": the overdue rules speak for it.)
            due.append(Occurrence(rule.rule_id, rule.kind, rule.level, rule.notify, *latest))
    return Schedule(tuple(due), next_at)


def key_prefix(item_id: str, entry: str) -> str:
    """The start of every notice key of one state entry of an item: the item and when (RFC 3339) it entered."""
    return f"{item_id}/{entry}"


def key_suffix(rule_id: str, day: dt.date) -> str:
    """The rest of a notice key: the rule and the day its notice fell due (the same for many items)."""
    return f"/{rule_id}/{day.isoformat()}"


def escalation_order(levels: list[str | None]) -> tuple[int, ...]:
    """The positions of the escalations among notices falling due together (their levels; None for a
    reminder), highest level first and the first of equals first: the first of them not issued before is
    the one sent, the others new are recorded as superseded."""
    escalations = [i for i, level in enumerate(levels) if level is not None]
    return tuple(sorted(escalations, key=lambda i: -LEVELS.index(levels[i])))


def plan_from(clock: Clock, dates: Schedule) -> Plan:
    """One item's notices from its state's schedule: each keyed by item, state entry, rule and date."""
    prefix = key_prefix(clock.item_id, rfc3339(clock.entered_at))
    return Plan([Planned(prefix + key_suffix(due.rule_id, due.day), due.kind, due.level, due.rule_id, due.notify,
                         clock.deadline, due.at) for due in dates.due], dates.next_at)


def plan(definition: WorkflowDef, clock: Clock, now: dt.datetime, *, tz: ZoneInfo, hour: int) -> Plan:
    """Which notices of ``clock``'s state have fallen due by ``now``, and when the next falls due.

    A repeating rule that missed several occurrences (downtime) gives only its latest one; when several
    escalation levels are due at once, all are returned and the sweep issues the highest.
    """
    return plan_from(clock, schedule(definition, clock.state, clock.deadline, now, tz=tz, hour=hour))


def first_due(definition: WorkflowDef, clock: Clock, *, tz: ZoneInfo, hour: int) -> dt.datetime | None:
    """When the first notice of a fresh state entry falls due: what fire() stores as ``next_reminder_at``."""
    if clock.deadline is None or definition.state(clock.state).final:
        return None
    first = None
    for rule in _occurrences(clock, definition):
        for day in rule.dates:
            at = _office_time(day, tz, hour)
            first = at if first is None or at < first else first
            break
    return first

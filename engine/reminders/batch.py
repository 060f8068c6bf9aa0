"""The rows one sweep batch writes: each claimed item's notices, then the inbox and outbox rows of those
that turned out new, and each item's next notice time.

Everything that is the same for many items is worked out once per sweep, not once per item: the dates of
a state's rules for one deadline (:class:`Dates`: the key's tail, the stored ``due_at``, the payload's
texts, which would be issued) and, for one unit and assignee besides (:class:`Group`), who each notice
reaches and the rest of its row, ``now`` included. What stays per item is joining its keys, one tuple per
notice, and the outbox payload of what is issued.
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import orjson

from engine.bulk import Rows
from engine.errors import DomainError
from engine.registry import UnknownWorkflow
from engine.reminders.recipients import Directory
from engine.reminders.rules import choose, key_prefix, key_suffix, schedule
from engine.runtime import Runtime

log = logging.getLogger("closeloop.reminders")
# An item whose workflow cannot be loaded is looked at again this much later, not in a tight loop.
RETRY_BROKEN = dt.timedelta(hours=1)
# The notices table's columns in the order of the tuples below.
NOTICE_COLUMNS = ("key", "item_id", "kind", "level", "rule", "state", "deadline", "due_at", "issued_at", "status",
                  "recipients")


class Claimed(NamedTuple):
    """A claimed item as the claim reads it (values as the driver returns them)."""

    id: str
    number: str
    title: str
    workflow_hash: str
    state: str
    state_entered_at: Any
    deadline: Any
    assignee: str | None
    unit_code: str
    unit_path: str


@dataclass(frozen=True)
class DueRule:
    """One rule's notice as every item in the same state with the same deadline gets it at this sweep."""

    suffix: str  # the key after the item and its state entry
    kind: str
    level: str | None
    rule: str
    notify: tuple[str, ...]
    due_at: Any  # as stored
    due_at_text: str  # as the outbox payload writes it


@dataclass(frozen=True)
class Dates:
    """For one workflow version, state and deadline at this sweep: the notices due and the next time."""

    rules: tuple[DueRule, ...]
    issued: tuple[bool, ...]  # which are issued when all are new (the usual case)
    next_at: Any  # as stored
    deadline: Any  # as stored
    deadline_text: str
    overdue_days: int


@dataclass(frozen=True)
class Group:
    """What every item with the same dates, unit and assignee gets: per rule, its people and its row's tail."""

    dates: Dates
    people: tuple[list[str], ...]
    tails: tuple[tuple, ...]  # a notice row after its key and item id


@dataclass
class Issued:
    """What a batch wrote beyond its notices: inbox and outbox rows, and notices whose status changed."""

    inbox: list[tuple] = field(default_factory=list)
    outbox: list[tuple] = field(default_factory=list)
    restated: list[tuple] = field(default_factory=list)  # (status, notice id) where the first guess was wrong
    notices: list[int] = field(default_factory=list)
    superseded: int = 0


class Planner:
    """Turns claimed items into rows, with the caches one sweep shares across its batches."""

    def __init__(self, rt: Runtime, now: dt.datetime, batch: str) -> None:
        self.rt, self.now, self.batch = rt, now, batch
        self.today = rt.local_date(now)
        self.directory: Directory | None = None
        self._dates: dict[tuple, Dates | Exception] = {}
        self._groups: dict[tuple, Group | Exception] = {}

    def group(self, rows: Rows, item: Claimed) -> Group | Exception:
        """What the item's notices share with others alike (once per sweep), or why its workflow cannot load."""
        key = (item.workflow_hash, item.state, item.deadline, item.assignee, item.unit_path)
        found = self._groups.get(key)
        if found is None:
            found = self._groups[key] = self._make_group(rows, item)
        return found

    def _make_group(self, rows: Rows, item: Claimed) -> Group | Exception:
        key = (item.workflow_hash, item.state, item.deadline)
        dates = self._dates.get(key)
        if dates is None:
            dates = self._dates[key] = self._work_out(rows, item)
        if isinstance(dates, Exception):
            return dates
        people = tuple(self._recipients(rule, item) for rule in dates.rules)
        issued_at = rows.instant(self.now)
        tails = tuple((rule.kind, rule.level, rule.rule, item.state, dates.deadline, rule.due_at, issued_at,
                       "issued" if issued else "superseded", orjson.dumps(names).decode())
                      for rule, issued, names in zip(dates.rules, dates.issued, people))
        return Group(dates, people, tails)

    def _work_out(self, rows: Rows, item: Claimed) -> Dates | Exception:
        try:
            definition = self.rt.registry.by_hash(item.workflow_hash).definition
        except (UnknownWorkflow, DomainError) as exc:
            return exc
        settings = self.rt.settings
        deadline = rows.read_day(item.deadline)
        found = schedule(definition, item.state, deadline, self.now, tz=settings.tz, hour=settings.notify_hour)
        rules = tuple(DueRule(key_suffix(rule_id, day), kind, level, rule_id, notify, rows.instant(at), at.isoformat())
                      for rule_id, kind, level, notify, day, at in found.due)
        return Dates(rules, tuple(choose([r.level for r in rules])), rows.instant(found.next_at), item.deadline,
                     deadline.isoformat() if deadline else "", max((self.today - deadline).days, 0) if deadline else 0)

    def _recipients(self, rule: DueRule, item: Claimed) -> list[str]:
        if rule.level is None:
            return self.directory.resolve(rule.notify, assignee=item.assignee, unit_path=item.unit_path)
        # The rule's own words if it named any, else up the unit tree by level.
        return self.directory.escalation(rule.level, rule.notify, assignee=item.assignee, unit_path=item.unit_path)

    def notices(self, rows: Rows, items: list[Claimed]) -> tuple[list[tuple], list[tuple], list[tuple]]:
        """(notice rows, (item, group, keys) per item with notices due, (next time, item id) per item)."""
        notice_rows: list[tuple] = []
        planned: list[tuple] = []
        advances: list[tuple] = []
        for item in items:
            group = self.group(rows, item)
            if isinstance(group, Exception):
                log.error("item %s: its workflow version cannot be loaded (%s); looking again later", item.number,
                          group)
                advances.append((rows.instant(self.now + RETRY_BROKEN), item.id))
                continue
            advances.append((group.dates.next_at, item.id))
            if not group.tails:
                continue
            prefix = key_prefix(item.id, rows.read_rfc3339(item.state_entered_at))
            keys = [prefix + rule.suffix for rule in group.dates.rules]
            notice_rows.extend((key, item.id, *tail) for key, tail in zip(keys, group.tails))
            planned.append((item, group, keys))
        return notice_rows, planned, advances

    def issue(self, rows: Rows, planned: list[tuple], ids: dict[str, int]) -> Issued:
        """Inbox and outbox rows for the notices just inserted (``ids``: key -> id) that are issued.

        A notice whose key was already there is left as it was. Usually every notice due is new and the
        statuses written are right; when some were there before, the choice among the escalation levels
        is made again among the new ones only, and one written as superseded may be issued after all.
        """
        out = Issued()
        created_at = rows.instant(self.now)
        for item, group, keys in planned:
            dates = group.dates
            found = [ids.pop(key, None) for key in keys]  # popped: a key repeated in the batch counts once
            statuses = dates.issued if None not in found else _rechosen(dates, found)
            for notice_id, key, rule, people, issued, first_guess in zip(found, keys, dates.rules, group.people,
                                                                          statuses, dates.issued):
                if notice_id is None:
                    continue
                if issued != first_guess:
                    out.restated.append(("issued" if issued else "superseded", notice_id))
                if not issued:
                    out.superseded += 1
                    continue
                out.notices.append(notice_id)
                out.inbox += [(notice_id, username) for username in people]
                out.outbox.append((rule.kind, item.id, self.batch, created_at,
                                   orjson.dumps(self._payload(item, dates, rule, key, notice_id, people)).decode()))
        return out

    def _payload(self, item: Claimed, dates: Dates, rule: DueRule, key: str, notice_id: int,
                 people: list[str]) -> dict:
        return {"event": rule.kind, "notice": notice_id, "key": key, "item": item.id, "number": item.number,
                "title": item.title, "unit": item.unit_code, "unit_path": item.unit_path, "state": item.state,
                "deadline": dates.deadline_text, "overdue_days": dates.overdue_days, "level": rule.level,
                "rule": rule.rule, "due_at": rule.due_at_text, "recipients": people}


def _rechosen(dates: Dates, found: list[int | None]) -> tuple[bool, ...]:
    """The statuses when only the notices with an id are new: the choice made among those alone."""
    fresh = [i for i, notice_id in enumerate(found) if notice_id is not None]
    chosen = dict(zip(fresh, choose([dates.rules[i].level for i in fresh])))
    return tuple(chosen.get(i, False) for i in range(len(found)))

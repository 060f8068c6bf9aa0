"""The rows one sweep batch writes: each claimed item's notices, then the inbox and outbox rows of those
that turned out new, and each item's next notice time.

Everything that is the same for many items is worked out once per sweep, not once per item: the dates of
a state's rules for one deadline (:class:`Dates`: the key's tail, the stored ``due_at``, the payload's
texts) and, for one unit and assignee besides (:class:`Group`), who each notice reaches and the rest of its
row, ``now`` included. What stays per item is joining its keys, one tuple per notice, and the outbox
payload of what is issued.

Which notices are new is learnt from the inserts themselves (each key once, ``ON CONFLICT DO NOTHING``),
not from a read of the keys first, and a notice row is never changed afterwards. So the escalations go
in by rounds (:meth:`Planner.insert_notices`): first every reminder and each item's highest escalation
level, marked issued; an item whose highest level was there already tries its next level, marked issued,
in the next round; once one went in, the item's lower levels follow marked superseded. Usually two rounds:
what is sent, then what it supersedes.
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import orjson

from engine.errors import DomainError
from engine.registry import UnknownWorkflow
from engine.reminders.models import Notice
from engine.reminders.recipients import Directory
from engine.reminders.rules import escalation_order, key_prefix, key_suffix, schedule
from engine.runtime import Runtime
from engine.store.bulk import Rows

log = logging.getLogger("closeloop.reminders")
_notices = Notice.__table__
# An item whose workflow cannot be loaded is looked at again this much later, not in a tight loop.
RETRY_BROKEN = dt.timedelta(hours=1)
# The notices table's columns in the order of the rows below.
NOTICE_COLUMNS = ("id", "key", "item_id", "kind", "level", "rule", "state", "deadline", "due_at", "issued_at",
                  "status", "recipients")


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
    first: tuple[int, ...]  # positions in rules that go in the first round: the reminders, the top escalation
    escalations: tuple[int, ...]  # positions in rules, in the order they are tried (rules.escalation_order)
    next_at: Any  # as stored
    deadline: Any  # as stored
    deadline_text: str
    overdue_days: int


@dataclass(frozen=True)
class Group:
    """What every item with the same dates, unit and assignee gets: per rule, its people and its row's tail
    (the row after its id, key and item id) marked issued and marked superseded."""

    dates: Dates
    people: tuple[list[str], ...]
    issued: tuple[tuple, ...]
    superseded: tuple[tuple, ...]


@dataclass(slots=True)
class Due:
    """One claimed item's notices on their way in: their keys, ids, and which escalation was sent."""

    item: Claimed
    group: Group
    keys: list[str]
    ids: list[int | None]  # drawn round by round (Planner.insert_notices)
    tried: int = 0  # escalations tried (group.dates.escalations[:tried])
    sent: int | None = None  # the position of the escalation that went in marked issued

    def row(self, position: int, issued: bool) -> tuple:
        """The notice row of the rule at ``position``."""
        tail = (self.group.issued if issued else self.group.superseded)[position]
        return (self.ids[position], self.keys[position], self.item.id, *tail)


@dataclass
class Issued:
    """What a batch wrote beyond its notices: inbox and outbox rows, the notices sent and how many not."""

    inbox: list[tuple] = field(default_factory=list)
    outbox: list[tuple] = field(default_factory=list)
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
        tails = {status: tuple((rule.kind, rule.level, rule.rule, item.state, dates.deadline, rule.due_at, issued_at,
                                status, orjson.dumps(names).decode()) for rule, names in zip(dates.rules, people))
                 for status in ("issued", "superseded")}
        return Group(dates, people, tails["issued"], tails["superseded"])

    def _work_out(self, rows: Rows, item: Claimed) -> Dates | Exception:
        try:
            definition = self.rt.registry.by_hash(item.workflow_hash).definition
        except (UnknownWorkflow, DomainError) as exc:
            return exc
        settings = self.rt.settings
        deadline = rows.read_day(item.deadline)
        found = schedule(definition, item.state, deadline, self.now, tz=settings.tz, hour=settings.notify_hour)
        rules = tuple(DueRule(key_suffix(due.rule_id, due.day), due.kind, due.level, due.rule_id, due.notify,
                              rows.instant(due.at), due.at.isoformat()) for due in found.due)
        order = escalation_order([rule.level for rule in rules])
        first = tuple(i for i, rule in enumerate(rules) if rule.level is None or i == order[0])
        return Dates(rules, first, order, rows.instant(found.next_at), item.deadline,
                     deadline.isoformat() if deadline else "", max((self.today - deadline).days, 0) if deadline else 0)

    def _recipients(self, rule: DueRule, item: Claimed) -> list[str]:
        if rule.level is None:
            return self.directory.resolve(rule.notify, assignee=item.assignee, unit_path=item.unit_path)
        # The rule's own words if it named any, else up the unit tree by level.
        return self.directory.escalation(rule.level, rule.notify, assignee=item.assignee, unit_path=item.unit_path)

    def plan(self, rows: Rows, items: list[Claimed]) -> tuple[list[Due], list[tuple]]:
        """(the items with notices due, with their keys; (next time, item id) for every item claimed)."""
        planned: list[Due] = []
        advances: list[tuple] = []
        for item in items:
            group = self.group(rows, item)
            if isinstance(group, Exception):
                log.error("item %s: its workflow version cannot be loaded (%s); looking again later", item.number,
                          group)
                advances.append((rows.instant(self.now + RETRY_BROKEN), item.id))
                continue
            advances.append((group.dates.next_at, item.id))
            if group.dates.rules:
                prefix = key_prefix(item.id, rows.read_rfc3339(item.state_entered_at))
                planned.append(Due(item, group, [prefix + rule.suffix for rule in group.dates.rules],
                                   [None] * len(group.dates.rules)))
        return planned, advances

    def insert_notices(self, rows: Rows, planned: list[Due]) -> set[int]:
        """Insert the notices by rounds (see the module's docstring); the ids of those that were new."""
        new: set[int] = set()
        wanted = [(due, position, True) for due in planned for position in due.group.dates.first]
        trying = [due for due in planned if due.group.dates.escalations]
        while wanted:
            # Fresh ids for each round, ascending: every round appends to the table rather than splitting pages.
            for (due, position, _issued), notice_id in zip(wanted, rows.new_ids(_notices, len(wanted))):
                due.ids[position] = notice_id
            new |= rows.insert_new(_notices, NOTICE_COLUMNS, [due.row(position, issued)
                                                              for due, position, issued in wanted], unique="key")
            wanted, still = [], []
            for due in trying:
                order = due.group.dates.escalations
                candidate = order[due.tried]
                due.tried += 1
                if due.ids[candidate] in new:
                    due.sent = candidate
                    wanted += [(due, position, False) for position in sorted(order[due.tried:])]
                elif due.tried < len(order):
                    wanted.append((due, order[due.tried], True))
                    still.append(due)
            trying = still
        return new

    def issue(self, rows: Rows, planned: list[Due], new: set[int]) -> Issued:
        """Inbox and outbox rows for the notices just inserted (``new``: their ids) that were sent."""
        out = Issued()
        created_at = rows.instant(self.now)
        for due in planned:
            dates = due.group.dates
            for position, (notice_id, key, rule, people) in enumerate(zip(due.ids, due.keys, dates.rules,
                                                                          due.group.people)):
                if notice_id not in new:
                    continue
                if rule.level is not None and position != due.sent:
                    out.superseded += 1
                    continue
                out.notices.append(notice_id)
                out.inbox += [(notice_id, username) for username in people]
                out.outbox.append((rule.kind, due.item.id, self.batch, created_at, orjson.dumps(
                    self._payload(due.item, dates, rule, key, notice_id, people)).decode()))
        return out

    def _payload(self, item: Claimed, dates: Dates, rule: DueRule, key: str, notice_id: int,
                 people: list[str]) -> dict:
        return {"event": rule.kind, "notice": notice_id, "key": key, "item": item.id, "number": item.number,
                "title": item.title, "unit": item.unit_code, "unit_path": item.unit_path, "state": item.state,
                "deadline": dates.deadline_text, "overdue_days": dates.overdue_days, "level": rule.level,
                "rule": rule.rule, "due_at": rule.due_at_text, "recipients": people}

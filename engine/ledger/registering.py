"""Registering checked ledger rows: numbers kept or handed out, then items, first records and events in bulk."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import re

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from engine import history, itemrows
from engine.accounts import Actor
from engine.canonical import plain_canonical_bytes
from engine.clock import rfc3339
from engine.deadlines import state_deadline
from engine.items import outbox_row
from engine.ledger.rows import Candidate
from engine.machine import CompiledWorkflow
from engine.reminders.clock import reminder_clock
from engine.runtime import Runtime
from engine.store.bulk import Rows
from engine.store.write_behind import WriteBehind

items, sequences = itemrows.items, itemrows.sequences
INSERT_CHUNK = 1000
# Noon keeps a 销号日期 on its own date in any time zone a deployment uses.
CLOSING_HOUR = 12


def _numbers_taken(conn: sa.Connection, numbers: list[str]) -> set[str]:
    taken: set[str] = set()
    for start in range(0, len(numbers), 500):
        chunk = numbers[start:start + 500]
        taken.update(conn.execute(sa.select(items.c.number).where(items.c.number.in_(chunk))).scalars())
    return taken


def _sequence_at_least(conn: sa.Connection, year: int, last: int) -> int:
    """Raise the year's sequence to at least ``last`` (locking its row); return its value."""
    insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(sequences)
    stmt = insert.values(year=year, last=last).on_conflict_do_update(
        index_elements=[sequences.c.year], set_={"last": sa.func.greatest(sequences.c.last, last)
                                                 if conn.dialect.name == "postgresql"
                                                 else sa.func.max(sequences.c.last, last)}
    ).returning(sequences.c.last)
    return conn.execute(stmt).scalar_one()


def assign_numbers(conn: sa.Connection, rt: Runtime, candidates: list[Candidate], today: dt.date) -> list[str]:
    """Each row's number: the one given (already checked free), or the next of this year's sequence that neither
    an item nor another row holds. Given numbers of this installation's form move the sequence past them, so
    that item creation never hands one out again."""
    prefix = rt.settings.number_prefix.upper()
    # The form item creation writes: six digits, seven past the millionth item of a year. A longer serial is kept
    # as the row gives it but moves no sequence (ZG-2026-999999999 would make the next item ZG-2026-1000000000).
    pattern = re.compile(rf"^{re.escape(prefix)}-([0-9]{{4}})-([0-9]{{6,7}})$")
    highest: dict[int, int] = {}
    for c in candidates:
        found = pattern.match(c.number) if c.number else None
        if found:
            year, serial = int(found.group(1)), int(found.group(2))
            highest[year] = max(highest.get(year, 0), serial)
    given = {c.number for c in candidates if c.number}
    blanks = sum(1 for c in candidates if not c.number)
    last = _sequence_at_least(conn, today.year, 0)
    fresh: list[str] = []
    while len(fresh) < blanks:
        want = blanks - len(fresh)
        batch = [itemrows.number_text(prefix, today.year, n) for n in range(last + 1, last + 1 + want)]
        last += want
        taken = _numbers_taken(conn, batch) | (given.intersection(batch))
        fresh.extend(n for n in batch if n not in taken)
    highest[today.year] = max(highest.get(today.year, 0), last)
    for year, serial in highest.items():
        _sequence_at_least(conn, year, serial)
    handed = iter(fresh)
    return [c.number or next(handed) for c in candidates]


def _closed_at(rt: Runtime, c: Candidate, final: bool, now: dt.datetime) -> dt.datetime | None:
    if not final:
        return None
    if c.closed_on is None:
        return now
    return dt.datetime.combine(c.closed_on, dt.time(CLOSING_HOUR), tzinfo=rt.settings.tz).astimezone(dt.timezone.utc)


def import_comment(state_title: str, state: str, username: str) -> str:
    """The first record's comment: the item came from a ledger, in which state, brought in by whom."""
    return f"导入台账：当前状态 {state_title}（{state}），由 {username} 导入 (imported from a ledger by {username})"


def first_record(item_id: str, state: str, actor: str, at: str, comment: str, fields: dict) -> tuple[dict, dict]:
    """An imported item's first history record, as engine.history.new_record builds it (``fields`` plain JSON,
    hashed as it is: engine.canonical.plain would return it unchanged)."""
    record = {"item": item_id, "seq": 1, "trigger": "import", "from_state": None, "to_state": state,
              "actor": actor, "at": at, "comment": comment, "evidence": [], "fields": fields,
              "prev_hash": history.GENESIS}
    record["hash"] = hashlib.sha256(plain_canonical_bytes({k: record[k] for k in history.HASHED_KEYS})).hexdigest()
    params = {"item_id": item_id, "seq": 1, "trigger": "import", "from_state": None, "to_state": state,
              "actor": actor, "at": at, "comment": comment, "evidence": "[]", "fields": plain_canonical_bytes(fields).decode(),
              "prev_hash": history.GENESIS, "hash": record["hash"]}
    return record, params


def register_all(conn: sa.Connection, rt: Runtime, actor: Actor, wf: CompiledWorkflow, candidates: list[Candidate],
                 now: dt.datetime) -> None:
    """Insert the items, their first history records (trigger ``import``) and their item.created events."""
    numbers = assign_numbers(conn, rt, candidates, rt.local_date(now))
    build = _Builder(rt, actor, wf, now)
    bulk = Rows(conn)
    # Each chunk's rows are built here while the write thread inserts the chunk before (engine.store.write_behind).
    with WriteBehind() as behind:
        for start in range(0, len(candidates), INSERT_CHUNK):
            chunk = [build(index, c, number) for index, c, number in
                     zip(range(start, start + INSERT_CHUNK), candidates[start:start + INSERT_CHUNK],
                         numbers[start:start + INSERT_CHUNK])]
            behind.submit(_write, bulk, *_tuples(bulk, chunk))


class _Builder:
    """The rows that register one candidate: its item, its first record and its item.created event."""

    def __init__(self, rt: Runtime, actor: Actor, wf: CompiledWorkflow, now: dt.datetime) -> None:
        self.rt, self.actor, self.wf, self.now = rt, actor, wf, now
        self.today = rt.local_date(now)
        # Every row enters its state at the same instant, so its deadline depends only on (state, due date) and
        # its first reminder only on (state, deadline): each is computed once per distinct pair.
        self._deadlines: dict[tuple, dt.date | None] = {}
        self._reminders: dict[tuple, dt.datetime | None] = {}

    def _deadline(self, state: str, due: dt.date | None) -> dt.date | None:
        key = (state, due)
        if key not in self._deadlines:
            self._deadlines[key] = state_deadline(self.wf.definition, state, entered=self.today, due_date=due)
        return self._deadlines[key]

    def _reminder(self, row: dict) -> dt.datetime | None:
        key = (row["state"], row["deadline"])
        if key not in self._reminders:
            self._reminders[key] = reminder_clock(self.rt, self.wf.definition, row)
        return self._reminders[key]

    def __call__(self, index: int, c: Candidate, number: str) -> tuple[dict, dict, dict]:
        """(item row, history row, outbox row) of the ``index``-th candidate, registered under ``number``."""
        definition, wf, now, username = self.wf.definition, self.wf, self.now, self.actor.username
        item_id = itemrows.new_item_id()
        # A microsecond apart, in the file's order: the ledger lists items by registration, so an imported
        # ledger exports again in the order it came in.
        created = now + dt.timedelta(microseconds=index)
        sdef = definition.state(c.state)
        registered = c.new.model_dump(mode="json", exclude_none=True)
        registered.update(unit=c.new.unit, workflow=definition.name, workflow_version=definition.version,
                          workflow_hash=wf.hash, state=c.state, number=number)
        if c.progress:
            registered["progress"] = c.progress
        if c.closed_on:
            registered["closed_on"] = c.closed_on.isoformat()
        record, record_params = first_record(item_id, c.state, username, rfc3339(created),
                                             import_comment(sdef.title.zh, c.state, username), registered)
        row = {
            "id": item_id, "number": number, "workflow": definition.name, "workflow_hash": wf.hash, "state": c.state,
            "version": 1, "title": c.new.title, "description": c.new.description, "source": c.new.source,
            "severity": c.new.severity, "unit_id": c.unit_id, "assignee": c.new.assignee, "due_date": c.new.due_date,
            "requested_due_date": None, "deadline": self._deadline(c.state, c.new.due_date),
            "state_entered_at": now, "measures": c.new.measures, "external_ref": c.new.external_ref,
            "campaign": c.new.campaign, "tags": json.dumps(c.new.tags, ensure_ascii=False),
            "created_by": username, "submitted_by": None, "reopened_count": 0, "history_seq": 1,
            "history_hash": record["hash"], "next_reminder_at": None,
            "closed_at": _closed_at(self.rt, c, sdef.final, created), "created_at": created, "updated_at": created,
        }
        row["next_reminder_at"] = self._reminder(row)
        event = outbox_row("item.created", {**row, "unit_code": c.new.unit, "unit_path": c.unit_path}, record, created)
        return row, record_params, event


_ITEM_COLUMNS = tuple(c.name for c in items.columns)
_HISTORY_COLUMNS = tuple(c.name for c in itemrows.history.columns if c.name != "id")
_OUTBOX_COLUMNS = tuple(c.name for c in itemrows.outbox.columns if c.name not in ("id", "dispatched_at"))
_INSTANTS = frozenset({"state_entered_at", "next_reminder_at", "closed_at", "created_at", "updated_at"})


def _tuples(rows: Rows, built: list[tuple[dict, dict, dict]]) -> tuple[list, list, list]:
    """A chunk's (item, record, event) rows as the driver takes them (engine.store.bulk), each distinct time or date
    converted once: a row's times repeat in its own row and the next."""
    converted: dict = {}

    def store(column: str, value):
        if value is None or (column not in _INSTANTS and column not in _DATES):
            return value
        found = converted.get(value)
        if found is None:
            found = converted[value] = (rows.instant(value) if column in _INSTANTS
                                        else value.isoformat() if rows.sqlite else value)
        return found

    return ([tuple(store(c, item[c]) for c in _ITEM_COLUMNS) for item, _record, _event in built],
            [tuple(record[c] for c in _HISTORY_COLUMNS) for _item, record, _event in built],
            [tuple(store(c, event[c]) for c in _OUTBOX_COLUMNS) for _item, _record, event in built])


def _write(rows: Rows, item_rows: list, record_rows: list, outbox_rows: list) -> None:
    """Insert one chunk's items, first records and events on the driver's cursor."""
    rows.insert(items, _ITEM_COLUMNS, item_rows)
    rows.insert(itemrows.history, _HISTORY_COLUMNS, record_rows)
    rows.insert(itemrows.outbox, _OUTBOX_COLUMNS, outbox_rows)


_DATES = frozenset({"due_date", "requested_due_date", "deadline"})

"""The sweep: claim items whose next notice has come, issue each notice once, advance the items' clocks.

Cost grows with the items that are due, not with all items: one indexed range read on
``items.next_reminder_at`` finds them. Several processes may sweep one PostgreSQL database at once:
``FOR UPDATE SKIP LOCKED`` gives each item to one of them, and the unique notice key would refuse a
second copy anyway. On SQLite the store's one writer does the same. A sweep after downtime issues each
due rule once (its latest occurrence) and, of several escalation levels due together, the highest; the
lower ones are recorded as superseded.
"""
from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass, field

import orjson
import sqlalchemy as sa

from engine.errors import DomainError
from engine.fastpath import Prebuilt
from engine.models import Item, Outbox, Unit
from engine.registry import UnknownWorkflow
from engine.reminders.models import Notice, NoticeRecipient
from engine.reminders.recipients import Directory
from engine.reminders.rules import LEVELS, Clock, Planned, Schedule, plan_from, schedule
from engine.runtime import Runtime

log = logging.getLogger("closeloop.reminders")
_items, _units, _notices = Item.__table__, Unit.__table__, Notice.__table__
_recipients, _outbox = NoticeRecipient.__table__, Outbox.__table__
# An item whose workflow cannot be loaded is looked at again this much later, not in a tight loop.
RETRY_BROKEN = dt.timedelta(hours=1)

_CLAIM = (sa.select(_items.c.id, _items.c.number, _items.c.title, _items.c.workflow_hash, _items.c.state,
                    _items.c.state_entered_at, _items.c.deadline, _items.c.assignee, _units.c.code.label("unit_code"),
                    _units.c.path.label("unit_path"))
          .select_from(_items.join(_units, _units.c.id == _items.c.unit_id))
          .where(_items.c.next_reminder_at <= sa.bindparam("now"))
          .order_by(_items.c.next_reminder_at)
          .limit(sa.bindparam("limit")))
# The bulk writes, prebuilt and run on the driver's cursor (engine.fastpath): thousands of rows a sweep.
_ADVANCE = Prebuilt(_items.update().where(_items.c.id == sa.bindparam("item_id")).values(
    next_reminder_at=sa.bindparam("next_at")))
_INSERT_NOTICES = Prebuilt(_notices.insert(), [c.name for c in _notices.columns if c.name != "id"])
_INSERT_RECIPIENTS = Prebuilt(_recipients.insert(), ["notice_id", "username", "read_at"])
_INSERT_OUTBOX = Prebuilt(_outbox.insert(), ["event", "item_id", "batch", "created_at", "payload"])


@dataclass
class SweepResult:
    """What one sweep did."""

    batch: str
    claimed: int = 0
    issued: int = 0
    superseded: int = 0
    notices: list[int] = field(default_factory=list)


def _claim(conn: sa.Connection, now: dt.datetime, limit: int) -> list[sa.RowMapping]:
    query = _CLAIM
    if conn.dialect.name == "postgresql":
        # Each item to one sweeping process; the others skip it rather than wait.
        query = query.with_for_update(of=_items, skip_locked=True)
    return conn.execute(query, {"now": now, "limit": limit}).mappings().all()


def _choose(new: list[Planned]) -> list[tuple[Planned, str]]:
    """(notice, status): every reminder issued; of the escalation levels due together only the highest."""
    escalations = [n for n in new if n.level is not None]
    top = max(escalations, key=lambda n: LEVELS.index(n.level)) if escalations else None
    return [(n, "issued" if n.level is None or n is top else "superseded") for n in new]


def _payload(notice: Planned, item: sa.RowMapping, recipients: list[str], today: dt.date, notice_id: int) -> dict:
    return {"event": notice.kind, "notice": notice_id, "key": notice.key, "item": item["id"],
            "number": item["number"], "title": item["title"], "unit": item["unit_code"],
            "unit_path": item["unit_path"], "state": item["state"], "deadline": notice.deadline.isoformat(),
            "overdue_days": max((today - notice.deadline).days, 0), "level": notice.level, "rule": notice.rule,
            "due_at": notice.due_at.isoformat(), "recipients": recipients}


def _sweep_batch(conn: sa.Connection, rt: Runtime, now: dt.datetime, limit: int, result: SweepResult,
                 directory: Directory | None, schedules: dict[tuple, Schedule]) -> tuple[int, Directory | None]:
    rows = _claim(conn, now, limit)
    if not rows:
        return 0, directory
    directory = directory or Directory.load(conn)
    tz, hour, today = rt.settings.tz, rt.settings.notify_hour, rt.local_date(now)
    planned: list[tuple[sa.RowMapping, list[Planned]]] = []
    advances = []
    for item in rows:
        try:
            definition = rt.registry.by_hash(item["workflow_hash"]).definition
        except (UnknownWorkflow, DomainError) as exc:
            log.error("item %s: its workflow version cannot be loaded (%s); looking again later", item["number"], exc)
            advances.append({"item_id": item["id"], "next_at": now + RETRY_BROKEN})
            continue
        dates_key = (item["workflow_hash"], item["state"], item["deadline"])
        dates = schedules.get(dates_key)
        if dates is None:
            dates = schedules[dates_key] = schedule(definition, item["state"], item["deadline"], now, tz=tz, hour=hour)
        plan = plan_from(Clock(item["id"], item["state"], item["state_entered_at"], item["deadline"]), dates)
        planned.append((item, plan.due))
        advances.append({"item_id": item["id"], "next_at": plan.next_at})
    keys = [n.key for _item, due in planned for n in due]
    issued_before = set()
    for start in range(0, len(keys), 500):
        chunk = keys[start:start + 500]
        issued_before.update(conn.execute(sa.select(_notices.c.key).where(_notices.c.key.in_(chunk))).scalars())
    notice_rows, people = [], {}
    for item, due in planned:
        for notice, status in _choose([n for n in due if n.key not in issued_before]):
            if notice.level is None:
                recipients = directory.resolve(notice.notify, assignee=item["assignee"], unit_path=item["unit_path"])
            else:
                level_rule = notice.notify  # the rule's own words, if it named any
                recipients = directory.escalation(notice.level, level_rule, assignee=item["assignee"],
                                                  unit_path=item["unit_path"])
            people[notice.key] = (item, notice, status, recipients)
            notice_rows.append({"key": notice.key, "item_id": item["id"], "kind": notice.kind, "level": notice.level,
                                "rule": notice.rule, "state": item["state"], "deadline": notice.deadline,
                                "due_at": notice.due_at, "issued_at": now, "status": status,
                                "recipients": orjson.dumps(recipients).decode()})
    if notice_rows:
        _INSERT_NOTICES.executemany(conn, notice_rows)
        ids = {}
        for start in range(0, len(notice_rows), 500):
            chunk = [r["key"] for r in notice_rows[start:start + 500]]
            ids.update(conn.execute(sa.select(_notices.c.key, _notices.c.id).where(_notices.c.key.in_(chunk))).all())
        inbox, outbox = [], []
        for key, (item, notice, status, recipients) in people.items():
            if status != "issued":
                result.superseded += 1
                continue
            result.issued += 1
            result.notices.append(ids[key])
            inbox.extend({"notice_id": ids[key], "username": u, "read_at": None} for u in recipients)
            outbox.append({"event": notice.kind, "item_id": item["id"], "batch": result.batch, "created_at": now,
                           "payload": orjson.dumps(_payload(notice, item, recipients, today, ids[key])).decode()})
        _INSERT_RECIPIENTS.executemany(conn, inbox)
        _INSERT_OUTBOX.executemany(conn, outbox)
    _ADVANCE.executemany(conn, advances)
    result.claimed += len(rows)
    return len(rows), directory


def sweep(rt: Runtime, *, now: dt.datetime | None = None, batch_size: int | None = None) -> SweepResult:
    """Issue every notice that has fallen due by ``now``, a batch of items per transaction; return the counts."""
    now = now or rt.clock.now()
    limit = batch_size or rt.settings.sweep_batch
    result = SweepResult(batch=f"sweep-{now.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}")
    directory = None
    # Items in the same state with the same deadline share their dates: worked out once per sweep.
    schedules: dict[tuple, Schedule] = {}
    while True:
        with rt.store.write() as conn:
            claimed, directory = _sweep_batch(conn, rt, now, limit, result, directory, schedules)
        if claimed < limit:
            break
    if result.issued or result.superseded:
        log.info("sweep %s: %d items, %d notices issued, %d superseded", result.batch, result.claimed,
                 result.issued, result.superseded)
    return result

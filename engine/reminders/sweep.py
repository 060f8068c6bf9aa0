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
from operator import attrgetter

import sqlalchemy as sa

from engine.models import Item, Outbox, Unit
from engine.reminders.batch import Claimed, Planner
from engine.reminders.models import NoticeRecipient
from engine.reminders.recipients import Directory
from engine.runtime import Runtime
from engine.store.bulk import Rows
from engine.store.fastpath import Prebuilt

log = logging.getLogger("closeloop.reminders")
_items, _units, _recipients, _outbox = Item.__table__, Unit.__table__, NoticeRecipient.__table__, Outbox.__table__

_CLAIM = (sa.select(*(_items.c[name] for name in ("id", "number", "title", "workflow_hash", "state",
                                                  "state_entered_at", "deadline", "assignee")),
                    _units.c.code.label("unit_code"), _units.c.path.label("unit_path"))
          .select_from(_items.join(_units, _units.c.id == _items.c.unit_id))
          .where(_items.c.next_reminder_at <= sa.bindparam("now"))
          .order_by(_items.c.next_reminder_at)
          .limit(sa.bindparam("limit"))
          # SQLite's compiler writes an OFFSET beside a bound LIMIT; named, so the prebuilt statement can fill it.
          .offset(sa.bindparam("skip")))
# Run on the driver's cursor (engine.store.fastpath): the claim's rows go straight into Claimed tuples.
_CLAIM_SQLITE = Prebuilt(_CLAIM)
# Each item to one sweeping process; the others skip it rather than wait.
_CLAIM_POSTGRES = Prebuilt(_CLAIM.with_for_update(of=_items, skip_locked=True))


@dataclass
class SweepResult:
    """What one sweep did."""

    batch: str
    claimed: int = 0
    issued: int = 0
    superseded: int = 0
    notices: list[int] = field(default_factory=list)


def _claim(conn: sa.Connection, now: dt.datetime, limit: int) -> list[Claimed]:
    query = _CLAIM_SQLITE if conn.dialect.name == "sqlite" else _CLAIM_POSTGRES
    return [Claimed._make(row) for row in query.rows(conn, {"now": now, "limit": limit, "skip": 0})]


def _sweep_batch(conn: sa.Connection, planner: Planner, limit: int, result: SweepResult) -> int:
    """Claim up to ``limit`` due items and write everything they are due; how many were claimed."""
    items = _claim(conn, planner.now, limit)
    if not items:
        return 0
    # In item order, the notices' keys (which start with the item id), their item index and the items' own
    # rows are written front to back rather than all over each B-tree (a tenth less time on SQLite).
    items.sort(key=attrgetter("id"))
    planner.directory = planner.directory or Directory.load(conn)
    rows = Rows(conn)
    planned, advances = planner.plan(rows, items)
    if planned:
        issued = planner.issue(rows, planned, planner.insert_notices(rows, planned))
        rows.insert(_recipients, ("notice_id", "username"), issued.inbox)
        rows.insert(_outbox, ("event", "item_id", "batch", "created_at", "payload"), issued.outbox)
        result.issued += len(issued.notices)
        result.superseded += issued.superseded
        result.notices.extend(issued.notices)
    rows.set_values(_items, "next_reminder_at", "id", advances)
    result.claimed += len(items)
    return len(items)


def sweep(rt: Runtime, *, now: dt.datetime | None = None, batch_size: int | None = None) -> SweepResult:
    """Issue every notice that has fallen due by ``now``, a batch of items per transaction; return the counts."""
    now = now or rt.clock.now()
    limit = batch_size or rt.settings.sweep_batch
    result = SweepResult(batch=f"sweep-{now.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}")
    # Items in the same state with the same deadline share their dates: worked out once per sweep.
    planner = Planner(rt, now, result.batch)
    # Each batch's commit goes to disk while the next batch is built (group commit, engine.store.walsync); the
    # sweep reports nothing, and returns, before the last of them is on disk.
    with rt.store.deferred_sync() as pending:
        try:
            while _sweep_batch_in_transaction(rt, planner, limit, result) == limit:
                pass
        finally:
            rt.store.wait_durable(pending.seq)
    if result.issued or result.superseded:
        log.info("sweep %s: %d items, %d notices issued, %d superseded", result.batch, result.claimed,
                 result.issued, result.superseded)
    return result


def _sweep_batch_in_transaction(rt: Runtime, planner: Planner, limit: int, result: SweepResult) -> int:
    with rt.store.write() as conn:
        return _sweep_batch(conn, planner, limit, result)

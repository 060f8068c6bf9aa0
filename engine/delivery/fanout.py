"""Fan-out: new outbox rows become deliveries, in the same transaction that marks them dispatched.

Which endpoints hear an event: the active ones whose event list names it and whose unit subtree holds the
item. Reminders and escalations also go by e-mail to their recipients who are active and have an address
(when SMTP is configured). Robots and e-mail get one digest per recipient per sweep batch; generic
webhooks get one message per event, because machine consumers process, store and deduplicate events one
by one (a digest would make them split it again and lose the per-event id).
"""
from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass

import orjson
import sqlalchemy as sa

from engine.delivery.models import Delivery, DeliveryEvent, WebhookEndpoint
from engine.models import Outbox, Unit, User
from engine.runtime import Runtime
from engine.store.bulk import Rows

log = logging.getLogger("closeloop.delivery")
_outbox, _endpoints, _units, _users = Outbox.__table__, WebhookEndpoint.__table__, Unit.__table__, User.__table__
_deliveries, _events = Delivery.__table__, DeliveryEvent.__table__
REMINDER_EVENTS = frozenset({"reminder.due_soon", "reminder.overdue", "escalation.issued"})
# Outbox rows one fan-out transaction takes.
FANOUT_BATCH = 1000

_NEW_ROWS = (sa.select(_outbox.c.id, _outbox.c.event, _outbox.c.payload, _outbox.c.batch)
             .where(_outbox.c.dispatched_at.is_(None)).order_by(_outbox.c.id).limit(sa.bindparam("limit")))
_ACTIVE_ENDPOINTS = (sa.select(_endpoints.c.id, _endpoints.c.kind, _endpoints.c.events, _units.c.path)
                     .select_from(_endpoints.outerjoin(_units, _units.c.id == _endpoints.c.unit_id))
                     .where(_endpoints.c.active.is_(True), _endpoints.c.deleted_at.is_(None)))


def new_message_id() -> str:
    """A message id: sent as webhook-id on every attempt and replay of one delivery."""
    return "msg_" + uuid.uuid4().hex


def _load(row: sa.Row) -> dict | None:
    try:
        data = orjson.loads(row.payload)
    except orjson.JSONDecodeError:
        data = None
    if not isinstance(data, dict):
        log.error("outbox row %s: payload is not a JSON object; marked dispatched without sending", row.id)
        return None
    return data


def _emails(conn: sa.Connection, rows: list[tuple[sa.Row, dict]]) -> dict[str, str]:
    names = {u for row, data in rows if row.event in REMINDER_EVENTS
             for u in data.get("recipients") or [] if isinstance(u, str)}
    if not names:
        return {}
    query = sa.select(_users.c.username, _users.c.email).where(
        _users.c.username.in_(sorted(names)), _users.c.active.is_(True), _users.c.email.is_not(None),
        _users.c.email != "")
    return dict(conn.execute(query).all())


@dataclass
class _Planned:
    """What one fan-out batch read and worked out: the outbox rows taken and the deliveries they make."""

    taken: list[int]
    emails: dict[str, str]
    # Group key -> (channel, endpoint id, username, batch, [(outbox id, event, notice id)]).
    groups: dict[tuple, tuple[str, int | None, str | None, str | None, list]]

    def keep_only(self, marked: set[int]) -> None:
        """Drop what another process fanned out between this one's read and its write."""
        if len(marked) == len(self.taken):
            return  # the usual case: nobody else took any
        self.taken = [row_id for row_id in self.taken if row_id in marked]
        for key, group in list(self.groups.items()):
            group[4][:] = [carried for carried in group[4] if carried[0] in marked]
            if not group[4]:
                del self.groups[key]


def _plan(conn: sa.Connection, rt: Runtime, taken: list[sa.Row]) -> _Planned:
    """Which deliveries the outbox rows ``taken`` make: reads endpoints and addresses, writes nothing."""
    rows = [(row, data) for row in taken if (data := _load(row)) is not None]
    endpoints = [(e.id, e.kind, frozenset(orjson.loads(e.events)), e.path)
                 for e in conn.execute(_ACTIVE_ENDPOINTS).all()]
    emails = _emails(conn, rows) if rt.settings.smtp_host else {}
    groups: dict[tuple, tuple[str, int | None, str | None, str | None, list]] = {}
    for row, data in rows:
        notice = data.get("notice") if isinstance(data.get("notice"), int) else None
        carried = (row.id, row.event, notice)
        path = data.get("unit_path") if isinstance(data.get("unit_path"), str) else None
        # Without a sweep batch an event stands alone; within one, robots and e-mail get one digest.
        together = row.batch if row.batch is not None else f"row-{row.id}"
        for endpoint_id, kind, events, scope in endpoints:
            if row.event not in events or (scope is not None and (path is None or not path.startswith(scope))):
                continue
            key = ("endpoint", endpoint_id, row.id if kind == "generic" else together)
            groups.setdefault(key, (kind, endpoint_id, None, row.batch, []))[4].append(carried)
        if row.event in REMINDER_EVENTS:
            named = [u for u in data.get("recipients") or [] if isinstance(u, str) and u in emails]
            for username in dict.fromkeys(named):
                key = ("email", username, together)
                groups.setdefault(key, ("email", None, username, row.batch, []))[4].append(carried)
    return _Planned([row.id for row in taken], emails, groups)


def _insert_deliveries(conn: sa.Connection, rt: Runtime, planned: _Planned, now: dt.datetime) -> None:
    if not planned.groups:
        return
    retry_until = now + dt.timedelta(hours=rt.settings.delivery_retry_hours)
    emails = planned.emails
    new = [{"message_id": new_message_id(), "endpoint_id": endpoint_id, "channel": channel, "username": username,
            "email": emails.get(username) if username else None,
            "event": carried[0][1] if len(carried) == 1 else "digest", "batch": batch, "status": "pending",
            "attempts": 0, "next_attempt_at": now, "retry_until": retry_until, "created_at": now}
           for channel, endpoint_id, username, batch, carried in planned.groups.values()]
    ids = conn.execute(_deliveries.insert().returning(_deliveries.c.id, sort_by_parameter_order=True),
                       new).scalars().all()
    conn.execute(_events.insert(), [{"delivery_id": delivery_id, "outbox_id": outbox_id, "notice_id": notice}
                                    for delivery_id, group in zip(ids, planned.groups.values())
                                    for outbox_id, _event, notice in group[4]])


def _mark_dispatched(conn: sa.Connection, ids: list[int], now: dt.datetime) -> set[int]:
    """Mark the rows of ``ids`` not yet dispatched; the ids of those this call marked."""
    # On the driver's cursor: SQLAlchemy's building of a thousand-key IN list cost more than the update itself.
    rows = Rows(conn)
    return rows.set_where_null(_outbox, "dispatched_at", rows.instant(now), ids)


def fan_out(rt: Runtime, now: dt.datetime, *, limit: int = FANOUT_BATCH) -> int:
    """Turn up to ``limit`` undispatched outbox rows into deliveries and mark them dispatched; return how many.

    On SQLite the rows are read and worked out before the write lock is taken, so requests' writes go on
    meanwhile; under the lock only the rows still undispatched are marked, and only their deliveries made
    (another process may have fanned some out in between). On PostgreSQL one transaction locks the rows it
    takes, and another process skips them rather than waiting or fanning them out twice.
    """
    if rt.store.is_sqlite:
        with rt.store.read() as conn:
            taken = conn.execute(_NEW_ROWS, {"limit": limit}).all()
            if not taken:
                return 0
            planned = _plan(conn, rt, taken)
        with rt.store.write() as conn:
            planned.keep_only(_mark_dispatched(conn, planned.taken, now))
            _insert_deliveries(conn, rt, planned, now)
        return len(planned.taken)
    with rt.store.write() as conn:
        taken = conn.execute(_NEW_ROWS.with_for_update(of=_outbox, skip_locked=True), {"limit": limit}).all()
        if not taken:
            return 0
        planned = _plan(conn, rt, taken)
        _insert_deliveries(conn, rt, planned, now)
        _mark_dispatched(conn, planned.taken, now)
    return len(planned.taken)

"""Reading delivery state: an endpoint's deliveries with their attempts, and what became of each notice."""
from __future__ import annotations

import orjson
import sqlalchemy as sa

from engine import paging
from engine.clock import rfc3339
from engine.delivery.fanout import REMINDER_EVENTS
from engine.delivery.models import Delivery, DeliveryAttempt, DeliveryEvent
from engine.errors import NotFound
from engine.models import Outbox

_deliveries, _attempts, _events, _outbox = (Delivery.__table__, DeliveryAttempt.__table__, DeliveryEvent.__table__,
                                            Outbox.__table__)


def _time(value) -> str | None:
    return rfc3339(value) if value is not None else None


def _attempt_view(row: sa.RowMapping) -> dict:
    return {"started_at": rfc3339(row["started_at"]), "finished_at": _time(row["finished_at"]),
            "outcome": row["outcome"], "status_code": row["status_code"], "latency_ms": row["latency_ms"],
            "error": row["error"]}


def _delivery_views(conn: sa.Connection, rows: list[sa.RowMapping]) -> list[dict]:
    ids = [row["id"] for row in rows]
    attempts: dict[int, list[dict]] = {i: [] for i in ids}
    events: dict[int, list[int]] = {i: [] for i in ids}
    if ids:
        for row in conn.execute(sa.select(_attempts).where(_attempts.c.delivery_id.in_(ids))
                                .order_by(_attempts.c.id)).mappings():
            attempts[row["delivery_id"]].append(_attempt_view(row))
        for delivery_id, outbox_id in conn.execute(sa.select(_events.c.delivery_id, _events.c.outbox_id)
                                                   .where(_events.c.delivery_id.in_(ids))
                                                   .order_by(_events.c.outbox_id)):
            events[delivery_id].append(outbox_id)
    return [{"id": row["id"], "message_id": row["message_id"], "webhook": row["endpoint_id"],
             "channel": row["channel"], "recipient": row["username"], "event": row["event"], "batch": row["batch"],
             "status": row["status"], "attempts": row["attempts"], "next_attempt_at": _time(row["next_attempt_at"]),
             "last_error": row["last_error"], "created_at": rfc3339(row["created_at"]),
             "delivered_at": _time(row["delivered_at"]), "events": events[row["id"]], "log": attempts[row["id"]]}
            for row in rows]


def delivery(conn: sa.Connection, delivery_id: int) -> dict:
    """One delivery with its events and every attempt."""
    row = conn.execute(sa.select(_deliveries).where(_deliveries.c.id == delivery_id)).mappings().first()
    if row is None:
        raise NotFound(f"delivery {delivery_id} not found")
    return _delivery_views(conn, [row])[0]


def list_deliveries(conn: sa.Connection, endpoint_id: int, *, limit: int = 50,
                    cursor: str | None = None) -> tuple[list[dict], str | None]:
    """An endpoint's deliveries, newest first, with their attempts; and the cursor of the next page."""
    fingerprint = paging.query_fingerprint({"webhook": endpoint_id})
    query = sa.select(_deliveries).where(_deliveries.c.endpoint_id == endpoint_id)
    if cursor is not None:
        (before,) = paging.decode(cursor, fingerprint, (int,))
        query = query.where(_deliveries.c.id < before)
    rows = conn.execute(query.order_by(_deliveries.c.id.desc()).limit(limit + 1)).mappings().all()
    more = len(rows) > limit
    rows = rows[:limit]
    return _delivery_views(conn, rows), paging.encode([rows[-1]["id"]], fingerprint) if more else None


def notice_delivery_status(conn: sa.Connection, notice_ids: list[int]) -> dict[int, dict]:
    """For each notice id: ``{"status", "deliveries": [{"channel", "webhook", "recipient", "status", ...}]}``.

    status: ``queued`` (its outbox event is not fanned out yet), ``none`` (no channel took it: no matching
    endpoint or e-mail address, or the notice was never sent, e.g. superseded), ``sending`` (some delivery
    still pending or retrying), ``failed`` (some delivery given up, none pending), ``delivered`` (all).
    """
    wanted = sorted(set(notice_ids))
    out: dict[int, dict] = {n: {"status": "none", "deliveries": []} for n in wanted}
    if not wanted:
        return out
    for start in range(0, len(wanted), 500):
        chunk = wanted[start:start + 500]
        query = (sa.select(_events.c.notice_id, _deliveries).join(_deliveries, _deliveries.c.id == _events.c.delivery_id)
                 .where(_events.c.notice_id.in_(chunk)).order_by(_deliveries.c.id))
        for row in conn.execute(query).mappings():
            out[row["notice_id"]]["deliveries"].append({
                "channel": row["channel"], "webhook": row["endpoint_id"], "recipient": row["username"],
                "message_id": row["message_id"], "status": row["status"], "attempts": row["attempts"],
                "delivered_at": _time(row["delivered_at"]), "last_error": row["last_error"]})
    # Events not fanned out yet are few (the outbox is drained every few seconds) and indexed by dispatched_at.
    undispatched = conn.execute(sa.select(_outbox.c.payload).where(
        _outbox.c.dispatched_at.is_(None), _outbox.c.event.in_(sorted(REMINDER_EVENTS)))).scalars()
    queued = set()
    for payload in undispatched:
        notice = orjson.loads(payload).get("notice")
        if notice in out:
            queued.add(notice)
    for notice, entry in out.items():
        states = {d["status"] for d in entry["deliveries"]}
        if notice in queued:
            entry["status"] = "queued"
        elif "pending" in states:
            entry["status"] = "sending"
        elif "failed" in states:
            entry["status"] = "failed"
        elif states:
            entry["status"] = "delivered"
    return out


def with_delivery(conn: sa.Connection, notices: list[dict]) -> list[dict]:
    """Each notice with ``delivery``: how its sending over webhooks, group robots and e-mail stands."""
    delivery = notice_delivery_status(conn, [n["id"] for n in notices])
    for notice in notices:
        notice["delivery"] = delivery[notice["id"]]
    return notices

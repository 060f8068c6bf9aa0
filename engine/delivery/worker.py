"""The delivery pass: fan the outbox out, claim due deliveries under a lease, send them outside any
transaction, record each attempt and schedule the next.

At least once: a delivery is claimed (lease, attempt row) in one short transaction, sent with no
transaction open, and its result recorded in another. A process that dies between the two leaves the
lease to run out; the next pass takes the delivery again and sends it with the same message id, so the
receiver can drop the repeat. On PostgreSQL ``FOR UPDATE SKIP LOCKED`` on the deliveries and on their
endpoints gives each delivery, and each robot's rate budget, to one process at a time; on SQLite the
store's one writer does. Rate limits are counted from the delivery log in the database, so they hold
across processes.
"""
from __future__ import annotations

import datetime as dt
import functools
import logging
import os
import socket
import ssl
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import httpx
import orjson
import sqlalchemy as sa

from engine.delivery import retry
from engine.delivery.channels import DingTalk, Email, Feishu, Generic, Outcome, Target, WeCom
from engine.delivery.channels.base import Channel, monotonic_ms
from engine.delivery.fanout import FANOUT_BATCH, fan_out
from engine.delivery.messages import TEST_EVENT, Event, Message, test_event
from engine.delivery.models import Delivery, DeliveryAttempt, DeliveryEvent, WebhookEndpoint
from engine.delivery.pinned import CheckedTransport
from engine.delivery.safety import UnsafeURL, check_url
from engine.models import Outbox, Unit
from engine.runtime import Runtime

log = logging.getLogger("closeloop.delivery")
_deliveries, _events, _attempts = Delivery.__table__, DeliveryEvent.__table__, DeliveryAttempt.__table__
_endpoints, _outbox, _units = WebhookEndpoint.__table__, Outbox.__table__, Unit.__table__
# Deliveries one claim takes; they are sent one after another before the next claim.
CLAIM_BATCH = 10
# A lease covers sending the whole claimed batch at the timeout each, plus this margin.
LEASE_MARGIN = dt.timedelta(seconds=60)

_DUE = (sa.select(_deliveries.c.id, _deliveries.c.endpoint_id, _deliveries.c.channel, _deliveries.c.email,
                  _deliveries.c.message_id, _deliveries.c.event, _deliveries.c.attempts, _deliveries.c.retry_until,
                  _deliveries.c.created_at)
        .where(_deliveries.c.status == "pending", _deliveries.c.next_attempt_at <= sa.bindparam("now"),
               sa.or_(_deliveries.c.lease_until.is_(None), _deliveries.c.lease_until <= sa.bindparam("now")))
        .order_by(_deliveries.c.next_attempt_at, _deliveries.c.id).limit(sa.bindparam("limit")))


@dataclass
class DeliveryReport:
    """What one delivery pass did."""

    outbox_rows: int = 0
    attempts: int = 0
    delivered: int = 0
    failed_attempts: int = 0
    given_up: int = 0
    deferred: int = 0


@dataclass(frozen=True)
class Claimed:
    """A delivery this process holds the lease on, with everything needed to send it."""

    delivery_id: int
    attempt_id: int
    attempts: int
    endpoint_id: int | None
    channel: str
    target: Target
    message: Message
    retry_until: dt.datetime


def new_owner() -> str:
    """A name for this pass's leases: host, process and a random part."""
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _when(rt: Runtime, now: dt.datetime | None) -> dt.datetime:
    return now or rt.clock.now()


def _rate_capacity(conn: sa.Connection, kind: str, endpoint_id: int, now: dt.datetime,
                   per_minute: int) -> tuple[int, dt.datetime | None]:
    """(attempts the endpoint may take now, when a full window next frees a slot) from the delivery log."""
    capacity, free_at = CLAIM_BATCH, None
    for window, most in retry.rate_windows(kind, per_minute):
        recent = conn.execute(sa.select(_attempts.c.started_at).where(
            _attempts.c.endpoint_id == endpoint_id, _attempts.c.started_at > now - window)
            .order_by(_attempts.c.started_at)).scalars().all()
        left = most - len(recent)
        if left <= 0:
            # A slot frees when enough of the oldest attempts leave the window.
            frees = recent[-most] + window
            free_at = frees if free_at is None else max(free_at, frees)
        capacity = min(capacity, max(left, 0))
    return capacity, free_at


def _defer(conn: sa.Connection, endpoint_id: int, until: dt.datetime) -> int:
    """Move an over-limit robot's due deliveries to when its window frees, so passes do not spin on them."""
    return conn.execute(_deliveries.update().where(
        _deliveries.c.endpoint_id == endpoint_id, _deliveries.c.status == "pending",
        _deliveries.c.next_attempt_at < until).values(next_attempt_at=until)).rowcount


def _fail_unsendable(conn: sa.Connection, delivery_ids: list[int], reason: str) -> None:
    conn.execute(_deliveries.update().where(_deliveries.c.id.in_(delivery_ids)).values(
        status="failed", next_attempt_at=None, lease_until=None, lease_owner=None, last_error=reason[:500]))


def _messages(conn: sa.Connection, rows: list[sa.Row]) -> dict[int, Message]:
    ids = [row.id for row in rows]
    carried: dict[int, list[Event]] = {i: [] for i in ids}
    query = (sa.select(_events.c.delivery_id, _outbox.c.id, _outbox.c.event, _outbox.c.created_at, _outbox.c.payload)
             .join(_outbox, _outbox.c.id == _events.c.outbox_id).where(_events.c.delivery_id.in_(ids))
             .order_by(_outbox.c.id))
    codes = set()
    for delivery_id, outbox_id, name, created_at, payload in conn.execute(query).all():
        data = orjson.loads(payload)
        codes.add(data.get("unit"))
        carried[delivery_id].append(Event(outbox_id, name, created_at, data))
    names = dict(conn.execute(sa.select(_units.c.code, _units.c.name).where(
        _units.c.code.in_(sorted(c for c in codes if isinstance(c, str))))).all()) if codes else {}
    out = {}
    for row in rows:
        events = (test_event(row.created_at),) if row.event == TEST_EVENT else tuple(carried[row.id])
        out[row.id] = Message(row.message_id, row.event, events, row.created_at, names)
    return out


def claim(rt: Runtime, owner: str, *, now: dt.datetime | None = None, only: int | None = None,
          limit: int = CLAIM_BATCH) -> tuple[list[Claimed], int]:
    """Lease up to ``limit`` due deliveries (within their robots' rate limits); return them and how many rows
    the claim settled otherwise (deferred past a full rate window, or failed for a disabled endpoint)."""
    now = _when(rt, now)
    per_minute = rt.settings.robot_messages_per_minute
    with rt.store.write() as conn:
        query = _DUE if only is None else _DUE.where(_deliveries.c.id == only)
        postgres = conn.dialect.name == "postgresql"
        if postgres:
            query = query.with_for_update(of=_deliveries, skip_locked=True)
        rows = conn.execute(query, {"now": now, "limit": limit}).all()
        if not rows:
            return [], 0
        endpoint_ids = sorted({row.endpoint_id for row in rows if row.endpoint_id is not None})
        endpoint_query = sa.select(_endpoints).where(_endpoints.c.id.in_(endpoint_ids))
        if postgres:
            # A robot's rate budget is counted and spent by one process at a time; the others skip its deliveries.
            endpoint_query = endpoint_query.with_for_update(skip_locked=True)
        endpoints = {e.id: e for e in conn.execute(endpoint_query).all()} if endpoint_ids else {}
        chosen, settled, dead = [], 0, []
        budget: dict[int, int] = {}
        for row in rows:
            if row.endpoint_id is None:
                chosen.append(row)
                continue
            endpoint = endpoints.get(row.endpoint_id)
            if endpoint is None:
                continue  # locked by another process this moment
            if not endpoint.active or endpoint.deleted_at is not None:
                dead.append(row.id)
                continue
            if row.endpoint_id not in budget:
                budget[row.endpoint_id], _free = _rate_capacity(conn, endpoint.kind, endpoint.id, now, per_minute)
            if budget[row.endpoint_id] > 0:
                budget[row.endpoint_id] -= 1
                chosen.append(row)
        if dead:
            _fail_unsendable(conn, dead, "the endpoint was disabled or deleted before this was sent")
            settled += len(dead)
        attempt_ids: list[int] = []
        if chosen:
            lease_until = now + (dt.timedelta(seconds=rt.settings.delivery_timeout_seconds + 5) * len(chosen)
                                 + LEASE_MARGIN)
            ids = [row.id for row in chosen]
            conn.execute(_deliveries.update().where(_deliveries.c.id.in_(ids)).values(
                lease_until=lease_until, lease_owner=owner, attempts=_deliveries.c.attempts + 1))
            # An attempt still "sending" on a delivery claimed again was cut short by a process that died.
            conn.execute(_attempts.update().where(_attempts.c.delivery_id.in_(ids), _attempts.c.outcome == "sending")
                         .values(outcome="interrupted", error="no result recorded: the sending process stopped"))
            attempt_ids = conn.execute(_attempts.insert().returning(_attempts.c.id, sort_by_parameter_order=True), [
                {"delivery_id": row.id, "endpoint_id": row.endpoint_id, "started_at": now, "outcome": "sending"}
                for row in chosen]).scalars().all()
        for endpoint_id, left in budget.items():
            if left > 0:
                continue
            # The robot's window is full (counting what was just claimed): its other due deliveries wait until
            # a slot frees, so that passes end instead of spinning on them.
            capacity, free_at = _rate_capacity(conn, endpoints[endpoint_id].kind, endpoint_id, now, per_minute)
            if capacity == 0 and free_at is not None:
                settled += _defer(conn, endpoint_id, free_at)
        messages = _messages(conn, chosen) if chosen else {}
    claimed = []
    for row, attempt_id in zip(chosen, attempt_ids):
        endpoint = endpoints.get(row.endpoint_id)
        target = Target(email=row.email) if endpoint is None else Target(url=endpoint.url, secret=endpoint.secret)
        claimed.append(Claimed(row.id, attempt_id, row.attempts + 1, row.endpoint_id, row.channel, target,
                               messages[row.id], row.retry_until))
    return claimed, settled


@functools.cache
def _tls() -> ssl.SSLContext:
    # Loading the CA bundle costs ~30 ms: once per process, not once per pass.
    return ssl.create_default_context()


@contextmanager
def open_channels(rt: Runtime) -> Iterator[dict[str, Channel]]:
    """The channels of one pass, sharing one HTTP client (no redirects: they could lead anywhere)."""
    timeout = rt.settings.delivery_timeout_seconds
    # Unless private addresses are allowed, every connection is made to an address checked as it is made.
    transport = None if rt.settings.allow_private_webhooks else CheckedTransport(_tls())
    with httpx.Client(timeout=httpx.Timeout(timeout), follow_redirects=False, verify=_tls(),
                      transport=transport) as client:
        yield {"generic": Generic(client), "dingtalk": DingTalk(client), "wecom": WeCom(client),
               "feishu": Feishu(client), "email": Email(rt.settings)}


def send(rt: Runtime, channels: dict[str, Channel], item: Claimed) -> tuple[Outcome, int]:
    """Send one claimed delivery, with no database transaction open; return the outcome and latency (ms)."""
    start = time.monotonic()
    if item.target.url is not None:
        try:
            # Checked again at send time: the name may resolve elsewhere than when the endpoint was added.
            check_url(item.target.url, allow_private=rt.settings.allow_private_webhooks)
        except UnsafeURL as exc:
            return Outcome(False, None, f"refused: {exc}"[:300]), monotonic_ms(start)
    try:
        outcome = channels[item.channel].send(item.target, item.message, wall=time.time())
    except UnsafeURL as exc:  # the name resolved elsewhere when connected to than when checked just before
        outcome = Outcome(False, None, f"refused: {exc}"[:300])
    except Exception as exc:  # noqa: BLE001 - a bug in one channel must not lose the others' results
        log.exception("delivery %s: the %s channel failed", item.delivery_id, item.channel)
        outcome = Outcome(False, None, f"{type(exc).__name__}: {exc}"[:300])
    return outcome, monotonic_ms(start)


def record(rt: Runtime, owner: str, item: Claimed, outcome: Outcome, latency_ms: int, *,
           now: dt.datetime | None = None) -> str:
    """Log the attempt and settle the delivery: 'delivered', 'retry', 'failed' (given up) or 'lost' (lease gone)."""
    now = _when(rt, now)
    with rt.store.write() as conn:
        conn.execute(_attempts.update().where(_attempts.c.id == item.attempt_id).values(
            finished_at=now, outcome="delivered" if outcome.ok else "failed", status_code=outcome.status_code,
            latency_ms=latency_ms, error=outcome.error[:500] if outcome.error else None))
        mine = _deliveries.update().where(_deliveries.c.id == item.delivery_id, _deliveries.c.lease_owner == owner,
                                          _deliveries.c.status == "pending")
        if outcome.ok:
            done = conn.execute(mine.values(status="delivered", delivered_at=now, next_attempt_at=None,
                                            lease_until=None, lease_owner=None, last_error=None)).rowcount
            return "delivered" if done else "lost"
        if outcome.gone and item.endpoint_id is not None:
            reason = f"disabled after 410 Gone at {now.isoformat()}"
            conn.execute(_endpoints.update().where(_endpoints.c.id == item.endpoint_id).values(
                active=False, disabled_reason=reason, disabled_at=now))
            conn.execute(_deliveries.update().where(_deliveries.c.endpoint_id == item.endpoint_id,
                                                    _deliveries.c.status == "pending").values(
                status="failed", next_attempt_at=None, last_error=f"endpoint {reason}"))
            log.warning("webhook endpoint %s answered 410 Gone and is disabled", item.endpoint_id)
            return "failed"
        later = retry.next_attempt(now, item.attempts, item.retry_until, retry_after=outcome.retry_after)
        if later is None:
            done = conn.execute(mine.values(status="failed", next_attempt_at=None, lease_until=None, lease_owner=None,
                                            last_error=outcome.error)).rowcount
            if done:
                log.warning("delivery %s given up after %d attempts: %s", item.delivery_id, item.attempts,
                            outcome.error)
            return "failed" if done else "lost"
        done = conn.execute(mine.values(next_attempt_at=later, lease_until=None, lease_owner=None,
                                        last_error=outcome.error)).rowcount
        return "retry" if done else "lost"


def unclaim(rt: Runtime, owner: str, item: Claimed) -> None:
    """Give back a claimed delivery that was not sent (its endpoint was disabled meanwhile): no attempt is logged."""
    with rt.store.write() as conn:
        released = conn.execute(_deliveries.update().where(
            _deliveries.c.id == item.delivery_id, _deliveries.c.lease_owner == owner).values(
            lease_until=None, lease_owner=None, attempts=_deliveries.c.attempts - 1)).rowcount
        if released:
            conn.execute(_attempts.delete().where(_attempts.c.id == item.attempt_id))


def deliver(rt: Runtime, *, now: dt.datetime | None = None) -> DeliveryReport:
    """Fan out every new outbox row, then send every delivery due now, until nothing is left to do now.

    Safe to run in several threads and processes at once. Returns when all that is due has been tried once
    (failures wait for their next attempt time; robots past their rate limit wait for their window).
    ``now`` fixes the time (tests); by default the runtime's clock is read at each step.
    """
    report = DeliveryReport()
    while True:
        taken = fan_out(rt, _when(rt, now))
        report.outbox_rows += taken
        # A batch short of full has caught up. Events that arrived meanwhile wait for the next pass: chasing
        # them under steady load would never end and would pay a transaction and a disk sync per handful.
        if taken < FANOUT_BATCH:
            break
    owner = new_owner()
    claimed, settled = claim(rt, owner, now=now)
    if not claimed and not settled:
        return report  # the common case: nothing due, so no HTTP client is made
    with open_channels(rt) as channels:
        while True:
            report.deferred += settled
            if not claimed and not settled:
                return report
            gone: set[int] = set()
            for item in claimed:
                if item.endpoint_id in gone:
                    unclaim(rt, owner, item)
                    continue
                outcome, latency = send(rt, channels, item)
                if outcome.gone and item.endpoint_id is not None:
                    gone.add(item.endpoint_id)
                result = record(rt, owner, item, outcome, latency, now=now)
                report.attempts += 1
                report.delivered += result == "delivered"
                report.failed_attempts += not outcome.ok
                report.given_up += result == "failed"
            claimed, settled = claim(rt, owner, now=now)


def send_now(rt: Runtime, delivery_id: int, *, now: dt.datetime | None = None) -> bool:
    """Try one delivery right away (an admin's test message); False if it is not due or another process has it."""
    owner = new_owner()
    claimed, _settled = claim(rt, owner, now=now, only=delivery_id, limit=1)
    if not claimed:
        return False
    with open_channels(rt) as channels:
        outcome, latency = send(rt, channels, claimed[0])
        record(rt, owner, claimed[0], outcome, latency, now=now)
    return True


def next_due_at(rt: Runtime) -> dt.datetime | None:
    """When the earliest pending delivery is next due (for schedulers and tests that move the clock)."""
    with rt.store.read() as conn:
        return conn.execute(sa.select(sa.func.min(_deliveries.c.next_attempt_at)).where(
            _deliveries.c.status == "pending")).scalar_one()

"""Webhook endpoints and what an admin does with their deliveries: add, list, delete, replay, test."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson
import sqlalchemy as sa

from engine.audit import admin_log
from engine.clock import Clock, rfc3339
from engine.config import Settings
from engine.delivery.channels import WEBHOOK_KINDS
from engine.delivery.channels.generic import new_secret
from engine.delivery.fanout import new_message_id
from engine.delivery.messages import TEST_EVENT
from engine.delivery.models import Delivery, WebhookEndpoint
from engine.delivery.safety import UnsafeURL, check_url
from engine.errors import Conflict, InvalidInput, NotFound
from engine.models import Unit
from engine.text import is_blank

_endpoints, _deliveries, _units = WebhookEndpoint.__table__, Delivery.__table__, Unit.__table__
EVENTS = ("item.created", "item.transitioned", "reminder.due_soon", "reminder.overdue", "escalation.issued",
          "audit.checkpoint")
MAX_URL = 2000


@dataclass(frozen=True)
class NewEndpoint:
    """What an admin gives to add an endpoint."""

    url: str
    kind: str
    events: list[str]
    unit: str | None = None
    secret: str | None = None


def redact_url(url: str, kind: str) -> str:
    """The URL as listed: query values (DingTalk's access_token, WeCom's key) and Feishu's hook token hidden."""
    parts = urlsplit(url)
    query = urlencode([(k, "***") for k, _v in parse_qsl(parts.query, keep_blank_values=True)], safe="*")
    path = parts.path
    if kind == "feishu" and "/" in path.rstrip("/"):
        path = path.rstrip("/").rsplit("/", 1)[0] + "/***"
    return urlunsplit((parts.scheme, parts.netloc, path, query, ""))


def _printable(text: str, field: str) -> None:
    """Refuse control characters and lone surrogates: no store keeps them faithfully, no URL needs them."""
    if any(ord(c) < 32 or ord(c) == 127 or 0xD800 <= ord(c) <= 0xDFFF for c in text):
        raise InvalidInput(f"{field} must not contain control characters or lone surrogates", field=field)


def _view(row: sa.RowMapping, unit_code: str | None) -> dict:
    return {"id": row["id"], "url": redact_url(row["url"], row["kind"]), "kind": row["kind"],
            "events": orjson.loads(row["events"]), "unit": unit_code, "active": row["active"],
            "disabled_reason": row["disabled_reason"], "has_secret": bool(row["secret"]),
            "created_by": row["created_by"], "created_at": rfc3339(row["created_at"])}


def _logged(view: dict) -> dict:
    """An endpoint as the admin log records it: the URL with robot tokens hidden, the secret only as set or not."""
    return {"url": view["url"], "kind": view["kind"], "events": view["events"], "unit": view["unit"],
            "active": view["active"], "secret": "set" if view["has_secret"] else None}


def add_endpoint(conn: sa.Connection, *, clock: Clock, settings: Settings, new: NewEndpoint,
                 created_by: str) -> tuple[dict, str | None]:
    """Add an endpoint; return it and, for a generic one, its whsec_ signing secret (shown only this once).

    ``created_by`` (the actor) is also who the admin log names.
    """
    if new.kind not in WEBHOOK_KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(WEBHOOK_KINDS)}", field="kind")
    if len(new.url) > MAX_URL or is_blank(new.url):
        raise InvalidInput(f"url must be 1-{MAX_URL} characters", field="url")
    _printable(new.url, "url")
    if new.secret is not None:
        _printable(new.secret, "secret")
    try:
        check_url(new.url, allow_private=settings.allow_private_webhooks)
    except UnsafeURL as exc:
        raise InvalidInput(str(exc), field="url") from None
    unknown = sorted(set(new.events) - set(EVENTS))
    if not new.events or unknown:
        raise InvalidInput(f"events must name at least one of {', '.join(EVENTS)}"
                           + (f" (unknown: {', '.join(unknown)})" if unknown else ""), field="events")
    secret = new.secret
    if new.kind == "generic":
        if secret is not None:
            raise InvalidInput("a generic endpoint's whsec_ secret is generated and shown once; do not send one",
                               field="secret")
        secret = new_secret()
    elif new.kind == "wecom" and secret is not None:
        raise InvalidInput("WeCom robots have no signing secret: the key in the URL is the secret", field="secret")
    elif secret is not None and (is_blank(secret) or len(secret) > 200):
        raise InvalidInput("secret must be the robot's signing secret (1-200 characters)", field="secret")
    unit_id, unit_code = None, None
    if new.unit is not None:
        unit = conn.execute(sa.select(_units.c.id, _units.c.code).where(
            sa.func.lower(_units.c.code) == new.unit.lower())).first()
        if unit is None:
            raise InvalidInput(f"unit {new.unit!r} does not exist", field="unit")
        unit_id, unit_code = unit
    row = {"url": new.url, "kind": new.kind, "events": orjson.dumps(sorted(set(new.events))).decode(),
           "unit_id": unit_id, "secret": secret, "active": True, "created_by": created_by, "created_at": clock.now()}
    row["id"] = conn.execute(_endpoints.insert().returning(_endpoints.c.id), row).scalar_one()
    row.update(disabled_reason=None)
    view = _view(row, unit_code)
    admin_log.record(conn, actor=created_by, action="webhook.add", target=f"webhook:{row['id']}", before=None,
                     after=_logged(view), now=clock.now())
    return view, secret if new.kind == "generic" else None


_LIST = (sa.select(_endpoints, _units.c.code.label("unit_code"))
         .select_from(_endpoints.outerjoin(_units, _units.c.id == _endpoints.c.unit_id))
         .where(_endpoints.c.deleted_at.is_(None)))


def list_endpoints(conn: sa.Connection) -> list[dict]:
    """Every endpoint not deleted, oldest first (secrets never listed, robot tokens in URLs hidden)."""
    return [_view(row, row["unit_code"]) for row in conn.execute(_LIST.order_by(_endpoints.c.id)).mappings()]


def get_endpoint(conn: sa.Connection, endpoint_id: int) -> dict:
    """One endpoint as listed; NotFound if missing or deleted."""
    if not 1 <= endpoint_id <= 2**31 - 1:  # beyond PostgreSQL's integer: cannot exist
        raise NotFound(f"webhook {endpoint_id} not found")
    row = conn.execute(_LIST.where(_endpoints.c.id == endpoint_id)).mappings().first()
    if row is None:
        raise NotFound(f"webhook {endpoint_id} not found")
    return _view(row, row["unit_code"])


def delete_endpoint(conn: sa.Connection, *, clock: Clock, actor: str, endpoint_id: int) -> dict:
    """Delete an endpoint: it stops hearing events; what it had pending is marked failed. Its log stays.

    The removal goes into the admin log under ``actor``.
    """
    view = get_endpoint(conn, endpoint_id)
    now = clock.now()
    conn.execute(_endpoints.update().where(_endpoints.c.id == endpoint_id).values(
        active=False, deleted_at=now, disabled_reason="deleted"))
    conn.execute(_deliveries.update().where(_deliveries.c.endpoint_id == endpoint_id,
                                            _deliveries.c.status == "pending").values(
        status="failed", next_attempt_at=None, last_error="the endpoint was deleted"))
    admin_log.record(conn, actor=actor, action="webhook.remove", target=f"webhook:{endpoint_id}",
                     before=_logged(view), after=None, now=now)
    return {**view, "active": False, "disabled_reason": "deleted"}


def _delivery_of(conn: sa.Connection, endpoint_id: int, delivery_id: int) -> sa.RowMapping:
    row = conn.execute(sa.select(_deliveries).where(_deliveries.c.id == delivery_id,
                                                    _deliveries.c.endpoint_id == endpoint_id)).mappings().first()
    if row is None:
        raise NotFound(f"delivery {delivery_id} of webhook {endpoint_id} not found")
    return row


def replay(conn: sa.Connection, *, clock: Clock, settings: Settings, endpoint_id: int, delivery_id: int) -> int:
    """Queue a delivery again, due now, with the same message id and a fresh retry window; return its id."""
    endpoint = get_endpoint(conn, endpoint_id)
    row = _delivery_of(conn, endpoint_id, delivery_id)
    if not endpoint["active"]:
        raise Conflict(f"webhook {endpoint_id} is disabled ({endpoint['disabled_reason']}); add it again to use it")
    now = clock.now()
    if row["status"] == "pending" and row["lease_until"] is not None and row["lease_until"] > now:
        raise Conflict(f"delivery {delivery_id} is being sent right now; replay it once that attempt is logged")
    conn.execute(_deliveries.update().where(_deliveries.c.id == delivery_id).values(
        status="pending", next_attempt_at=now, lease_until=None, lease_owner=None, delivered_at=None,
        retry_until=now + dt.timedelta(hours=settings.delivery_retry_hours)))
    return delivery_id


def queue_test(conn: sa.Connection, *, clock: Clock, endpoint_id: int) -> int:
    """Queue a test message to an endpoint, due now and tried once (a test is not retried for days)."""
    endpoint = get_endpoint(conn, endpoint_id)
    if not endpoint["active"]:
        raise Conflict(f"webhook {endpoint_id} is disabled ({endpoint['disabled_reason']})")
    now = clock.now()
    return conn.execute(_deliveries.insert().returning(_deliveries.c.id), {
        "message_id": new_message_id(), "endpoint_id": endpoint_id, "channel": endpoint["kind"],
        "event": TEST_EVENT, "status": "pending", "attempts": 0, "next_attempt_at": now, "retry_until": now,
        "created_at": now}).scalar_one()

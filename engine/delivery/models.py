"""The tables of delivery: endpoints, deliveries (one message each), the events they carry, every attempt."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from engine.models import _utc_column


class WebhookEndpoint(SQLModel, table=True):
    """Where messages go: a generic Standard Webhooks receiver or a DingTalk, WeCom or Feishu group robot."""

    __tablename__ = "webhook_endpoints"
    id: int | None = Field(default=None, primary_key=True)
    url: str = Field(max_length=2000)
    kind: str = Field(max_length=16)  # generic, dingtalk, wecom, feishu
    events: str = Field(default="[]")  # JSON list of event names
    # Only events of items in this unit's subtree reach the endpoint (a district's robot hears its district).
    unit_id: int | None = Field(default=None, foreign_key="units.id")
    # A generic endpoint's whsec_ key, or the robot's own signing secret (加签); needed in clear to sign.
    secret: str | None = Field(default=None, max_length=200)
    active: bool = True
    disabled_reason: str | None = Field(default=None, max_length=500)
    disabled_at: dt.datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    deleted_at: dt.datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    created_by: str = Field(max_length=64)
    created_at: dt.datetime = Field(sa_column=_utc_column())


class Delivery(SQLModel, table=True):
    """One message to one endpoint or one e-mail recipient, tried until delivered or given up."""

    __tablename__ = "deliveries"
    __table_args__ = (sa.Index("ix_deliveries_due", "status", "next_attempt_at"),
                      sa.Index("ix_deliveries_endpoint", "endpoint_id", "id"))
    id: int | None = Field(default=None, primary_key=True)
    # Sent as webhook-id on every attempt and replay, so receivers can drop repeats.
    message_id: str = Field(max_length=64, unique=True)
    endpoint_id: int | None = Field(default=None, foreign_key="webhook_endpoints.id")
    channel: str = Field(max_length=16)  # generic, dingtalk, wecom, feishu, email
    username: str | None = Field(default=None, max_length=64)  # e-mail: the recipient
    email: str | None = Field(default=None, max_length=254)
    event: str = Field(max_length=64)  # the event name, "digest" or "webhook.test"
    batch: str | None = Field(default=None, max_length=64)
    status: str = Field(default="pending", max_length=16)  # pending, delivered, failed
    attempts: int = 0
    next_attempt_at: dt.datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    # A claimed delivery belongs to one process until the lease ends; if that process dies, another takes it.
    lease_until: dt.datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    lease_owner: str | None = Field(default=None, max_length=64)
    # Failures after this instant give the delivery up; a replay moves it.
    retry_until: dt.datetime = Field(sa_column=_utc_column())
    last_error: str | None = Field(default=None, max_length=500)
    created_at: dt.datetime = Field(sa_column=_utc_column())
    delivered_at: dt.datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))


class DeliveryEvent(SQLModel, table=True):
    """An outbox event carried by a delivery (a digest carries several)."""

    __tablename__ = "delivery_events"
    delivery_id: int = Field(foreign_key="deliveries.id", primary_key=True)
    outbox_id: int = Field(foreign_key="outbox.id", primary_key=True)
    # The notice behind a reminder event, so an item's reminders can show their delivery status. Copied from
    # the payload without a foreign key: an outbox row naming a missing notice must not stall all delivery.
    notice_id: int | None = Field(default=None, index=True)


class DeliveryAttempt(SQLModel, table=True):
    """One try at sending a delivery: the delivery log. Also what robots' rate limits are counted from."""

    __tablename__ = "delivery_attempts"
    __table_args__ = (sa.Index("ix_delivery_attempts_rate", "endpoint_id", "started_at"),)
    id: int | None = Field(default=None, primary_key=True)
    delivery_id: int = Field(foreign_key="deliveries.id", index=True)
    endpoint_id: int | None = Field(default=None)
    started_at: dt.datetime = Field(sa_column=_utc_column())
    finished_at: dt.datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    # sending (claimed, no answer yet), delivered, failed, or interrupted (its process died mid-send).
    outcome: str = Field(default="sending", max_length=16)
    status_code: int | None = None
    latency_ms: int | None = None
    error: str | None = Field(default=None, max_length=500)

"""Shapes of the webhook routes: the request to add one, and the responses, for the OpenAPI document."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from engine.inputs import Name, Text

WebhookKind = Literal["generic", "dingtalk", "wecom", "feishu"]
EventName = Literal["item.created", "item.transitioned", "reminder.due_soon", "reminder.overdue",
                    "escalation.issued", "audit.checkpoint"]


class NewWebhook(BaseModel):
    """An endpoint to add: a generic receiver (its whsec_ secret is made and answered once) or a group robot."""

    model_config = ConfigDict(extra="forbid", strict=True)
    url: Text = Field(min_length=1, max_length=2000)
    kind: WebhookKind = "generic"
    events: list[EventName] = Field(min_length=1, max_length=6)
    unit: Name | None = Field(default=None, max_length=64,
                              description="Only events of items in this unit's subtree reach the endpoint.")
    secret: Text | None = Field(default=None, min_length=1, max_length=200,
                                description="The DingTalk or Feishu robot's own signing secret (加签); "
                                            "not for generic (generated) or WeCom (no signing) endpoints.")


class WebhookOut(BaseModel):
    """An endpoint as listed: the URL with robot tokens hidden, never the secret."""

    id: int
    url: str
    kind: WebhookKind
    events: list[str]
    unit: str | None
    active: bool
    disabled_reason: str | None
    has_secret: bool
    created_by: str
    created_at: str


class WebhookCreated(WebhookOut):
    """A new endpoint; a generic one's signing secret is in ``secret`` this once (null on an idempotent replay)."""

    secret: str | None = None
    secret_note: str | None = None


class WebhookList(BaseModel):
    """Every endpoint not deleted."""

    data: list[WebhookOut]


class AttemptOut(BaseModel):
    """One attempt in the delivery log. ``outcome``: sending, delivered, failed, or interrupted (its sender stopped)."""

    started_at: str
    finished_at: str | None
    outcome: str
    status_code: int | None
    latency_ms: int | None
    error: str | None


class DeliveryOut(BaseModel):
    """One message to one endpoint: ``message_id`` is its webhook-id on every attempt and replay."""

    id: int
    message_id: str
    webhook: int | None
    channel: str
    recipient: str | None
    event: str
    batch: str | None
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    next_attempt_at: str | None
    last_error: str | None
    created_at: str
    delivered_at: str | None
    events: list[int] = Field(description="The outbox events the message carries (a digest carries several).")
    log: list[AttemptOut]


class DeliveryPage(BaseModel):
    """One page of an endpoint's deliveries, newest first."""

    data: list[DeliveryOut]
    next_cursor: str | None

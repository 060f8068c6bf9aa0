"""Response shapes of reminders and escalations: a person's inbox and an item's notices."""
from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel

from api.problem_shapes import StateName

NoticeKind = Literal["reminder.due_soon", "reminder.overdue", "escalation.issued"]
Level = Literal["blue", "orange", "red"]


class _NoticeFields(BaseModel):
    kind: NoticeKind
    level: Level | None
    state: StateName
    deadline: dt.date
    overdue_days: int
    due_at: dt.datetime
    issued_at: dt.datetime


class InboxEntry(_NoticeFields):
    """One notice in the caller's inbox."""

    id: int
    notice: int
    item: str
    number: str
    title: str
    read: bool
    read_at: dt.datetime | None


class Inbox(BaseModel):
    """A page of the caller's inbox, unread first; ``unread`` counts all unread entries."""

    data: list[InboxEntry]
    next_cursor: str | None
    unread: int


class ReadReceipt(BaseModel):
    """An inbox entry marked read."""

    id: int
    read: bool
    read_at: dt.datetime


class NoticeDelivery(BaseModel):
    """One message that carries the notice: to a webhook or robot, or by e-mail to a recipient."""

    channel: str
    webhook: int | None
    recipient: str | None
    message_id: str
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    delivered_at: dt.datetime | None
    last_error: str | None


class DeliveryStatus(BaseModel):
    """Where the notice's delivery stands: queued (not fanned out yet), none (no channel takes it; superseded
    notices are never sent), sending, failed (given up), delivered."""

    status: Literal["queued", "none", "sending", "failed", "delivered"]
    deliveries: list[NoticeDelivery]


class ItemNotice(_NoticeFields):
    """A notice issued for an item: issued, or superseded by a higher escalation level due at the same time."""

    id: int
    rule: str
    status: Literal["issued", "superseded"]
    recipients: list[str]
    delivery: DeliveryStatus


class ItemNotices(BaseModel):
    """Every notice of an item, oldest first."""

    data: list[ItemNotice]

"""Generic receivers, per the Standard Webhooks spec: webhook-id, webhook-timestamp, webhook-signature (v1)."""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

import httpx
import orjson

from engine.delivery.channels.base import Outcome, Target, post
from engine.delivery.messages import Message, webhook_body

SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    """A fresh signing secret: ``whsec_`` and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: v1 HMAC-SHA256 of ``id.timestamp.body`` under the decoded secret."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    digest = hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


class Generic:
    """One event per message (machine consumers process and deduplicate events one by one)."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def send(self, target: Target, message: Message, *, wall: float) -> Outcome:
        """POST the event's body, signed."""
        body = orjson.dumps(webhook_body(message.events[0]))
        timestamp = int(wall)
        headers = {"webhook-id": message.message_id, "webhook-timestamp": str(timestamp),
                   "webhook-signature": sign(target.secret or "", message.message_id, timestamp, body)}
        return post(self.client, target.url or "", body, headers=headers)

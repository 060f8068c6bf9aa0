"""Feishu (飞书) custom bots: rich-text posts, 加签 in the body with a second timestamp, code answers."""
from __future__ import annotations

import base64
import hashlib
import hmac

import httpx
import orjson

from engine.delivery.channels.base import Outcome, Target, json_field_check, post
from engine.delivery.messages import FOOTER, Message

# Feishu refuses bodies past 20 KB; the text leaves room for the JSON around it.
TEXT_BUDGET = 15000


def sign(secret: str, timestamp_s: int) -> str:
    """base64(HMAC-SHA256(key=f"{timestamp}\\n{secret}", msg=b"")): the reverse of DingTalk's scheme."""
    digest = hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def body(message: Message) -> dict:
    """A ``post`` message: the title, then one paragraph per event, then the footer."""
    rows = [[{"tag": "text", "text": line}] for line in message.fitted_lines(TEXT_BUDGET)]
    rows.append([{"tag": "text", "text": FOOTER}])
    return {"msg_type": "post", "content": {"post": {"zh_cn": {"title": message.title(), "content": rows}}}}


class Feishu:
    """A Feishu group bot."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def send(self, target: Target, message: Message, *, wall: float) -> Outcome:
        """POST the post message, with timestamp and sign in the body when the bot has a secret."""
        payload = body(message)
        if target.secret:
            timestamp = int(wall)
            payload = {"timestamp": str(timestamp), "sign": sign(target.secret, timestamp), **payload}
        return post(self.client, target.url or "", orjson.dumps(payload), check=json_field_check("code"))

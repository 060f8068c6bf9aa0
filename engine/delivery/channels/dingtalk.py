"""DingTalk (钉钉) custom robots: markdown messages, 加签 with a millisecond timestamp, errcode answers."""
from __future__ import annotations

import base64
import hashlib
import hmac

import httpx
import orjson

from engine.delivery.channels.base import Outcome, Target, json_field_check, post
from engine.delivery.messages import FOOTER, Message

# DingTalk refuses messages past about 20,000 bytes; keep well inside it.
TEXT_BUDGET = 15000


def sign(secret: str, timestamp_ms: int) -> str:
    """base64(HMAC-SHA256(key=secret, msg=f"{timestamp}\\n{secret}")); httpx URL-encodes it as a parameter."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def body(message: Message) -> dict:
    """The markdown message: a heading, one list line per event, the footer (it carries a usable keyword)."""
    title = message.title()
    lines = "\n".join(f"- {line}" for line in message.fitted_lines(TEXT_BUDGET))
    return {"msgtype": "markdown", "markdown": {"title": title, "text": f"### {title}\n\n{lines}\n\n> {FOOTER}"},
            "at": {"atMobiles": [], "isAtAll": False}}


class DingTalk:
    """A DingTalk group robot."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def send(self, target: Target, message: Message, *, wall: float) -> Outcome:
        """POST the markdown, signed in the query string when the robot has a secret."""
        params = None
        if target.secret:
            timestamp = int(wall * 1000)
            params = {"timestamp": str(timestamp), "sign": sign(target.secret, timestamp)}
        return post(self.client, target.url or "", orjson.dumps(body(message)), params=params,
                    check=json_field_check("errcode"))

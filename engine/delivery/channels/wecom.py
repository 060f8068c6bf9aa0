"""WeCom (企业微信) group robots: markdown of at most 4,096 UTF-8 bytes, the key in the URL, errcode answers."""
from __future__ import annotations

import httpx
import orjson

from engine.delivery.channels.base import Outcome, Target, json_field_check, post
from engine.delivery.messages import FOOTER, Message

MAX_CONTENT_BYTES = 4096


def body(message: Message) -> dict:
    """The markdown message, its content cut to fit WeCom's 4,096 bytes."""
    title = f"**{message.title()}**"
    footer = f"> {FOOTER}"
    budget = MAX_CONTENT_BYTES - len(title.encode()) - len(footer.encode()) - 8
    lines = "\n".join(f"> {line}" for line in message.fitted_lines(budget - 2 * len(message.events) - 2))
    content = f"{title}\n{lines}\n{footer}"
    # The per-line "> " prefixes were budgeted above; this is a last guard, cutting at a character boundary.
    while len(content.encode()) > MAX_CONTENT_BYTES:
        content = content[:-1]
    return {"msgtype": "markdown", "markdown": {"content": content}}


class WeCom:
    """A WeCom group robot (no signing: the key in its URL is the secret)."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def send(self, target: Target, message: Message, *, wall: float) -> Outcome:
        """POST the markdown."""
        return post(self.client, target.url or "", orjson.dumps(body(message)), check=json_field_check("errcode"))

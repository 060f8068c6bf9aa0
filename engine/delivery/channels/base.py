"""The interface every channel implements, and the HTTP post that the webhook channels share."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Protocol

import httpx

from engine.delivery.messages import Message
from engine.text import plain_int

# How much of an error or response body the delivery log keeps.
EXCERPT = 300


@dataclass(frozen=True)
class Target:
    """Where one delivery goes: a webhook URL and its secret, or an e-mail address."""

    url: str | None = None
    secret: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class Outcome:
    """What one attempt came to."""

    ok: bool
    status_code: int | None = None
    error: str | None = None
    # 410 Gone: the receiver says the endpoint no longer exists, so it is disabled.
    gone: bool = False
    # Seconds the receiver asked us to wait (Retry-After), if it did.
    retry_after: float | None = None


class Channel(Protocol):
    """Sends a message to a target; never raises for a failed send, it answers an Outcome."""

    def send(self, target: Target, message: Message, *, wall: float) -> Outcome:
        """Send ``message``; ``wall`` is the real Unix time, which receivers check signatures against."""
        ...


def excerpt(text: str) -> str:
    """The start of a response or error, for the log."""
    text = " ".join(text.split())
    return text if len(text) <= EXCERPT else text[:EXCERPT - 1] + "…"


def _retry_after(response: httpx.Response) -> int | None:
    return plain_int(response.headers.get("retry-after", "").strip())


def post(client: httpx.Client, url: str, content: bytes, *, headers: dict[str, str] | None = None,
         params: dict[str, str] | None = None, check: Callable[[httpx.Response], str | None] | None = None) -> Outcome:
    """POST JSON bytes; 2xx is success unless ``check`` finds an error in the answer (robots answer 200 + errcode)."""
    try:
        # Merged, not passed as params=, which would replace the URL's own query (DingTalk's access_token).
        target = httpx.URL(url).copy_merge_params(params) if params else url
        response = client.post(target, content=content,
                               headers={"content-type": "application/json; charset=utf-8", **(headers or {})})
    except httpx.HTTPError as exc:
        return Outcome(False, None, excerpt(f"{type(exc).__name__}: {exc}"))
    if response.status_code == 410:
        return Outcome(False, 410, excerpt(f"410 Gone: {response.text}"), gone=True)
    if not 200 <= response.status_code < 300:
        # Redirects are not followed (they could lead anywhere), so a 3xx is a failure like a 5xx.
        return Outcome(False, response.status_code, excerpt(f"HTTP {response.status_code}: {response.text}"),
                       retry_after=_retry_after(response))
    problem = check(response) if check else None
    if problem:
        return Outcome(False, response.status_code, excerpt(problem))
    return Outcome(True, response.status_code)


def json_field_check(field_name: str) -> Callable[[httpx.Response], str | None]:
    """A check for robots that answer 200 with ``{field: 0, ...}`` on success and a non-zero code on failure."""

    def check(response: httpx.Response) -> str | None:
        try:
            body = response.json()
        except ValueError:
            return f"answer is not JSON: {response.text}"
        if not isinstance(body, dict):
            return f"unexpected answer: {response.text}"
        # Older Feishu bots answer StatusCode instead of code.
        code = body.get(field_name, body.get("StatusCode", 0) if field_name == "code" else None)
        if code is None:
            return f"answer without {field_name}: {response.text}"
        if code != 0:
            return f"{field_name} {code}: {response.text}"
        return None

    return check


def monotonic_ms(start: float) -> int:
    """Milliseconds since ``start`` (a time.monotonic() value)."""
    return int((time.monotonic() - start) * 1000)

"""ASGI guards that refuse oversized requests before the app reads them: bodies (413), headers (431)."""
from __future__ import annotations

from typing import Callable

import orjson
from starlette.exceptions import HTTPException

from api.problems import PROBLEM, TYPE_BASE, problem

# Headers the API reads as one value: sent twice, which one the client meant is unknowable.
SINGLE_VALUED = frozenset({b"if-match", b"idempotency-key", b"authorization"})
# What h11 may buffer besides the header fields themselves: the request line (method, target, version).
REQUEST_LINE_ALLOWANCE = 16 * 1024


class BodyTooLarge(HTTPException):
    """Raised inside ``receive`` when the streamed body passes the limit; the app answers it as 413 of the
    problem type ``code``, the one the refusal by Content-Length has."""

    def __init__(self, detail: str, code: str) -> None:
        super().__init__(413, detail)
        self.problem_code = code


class BodyLimit:
    """Refuse bodies larger than ``max_bytes``: by Content-Length at once, or while streaming.

    ``wider(scope)`` may name another limit, the refusal's detail and its problem type for a route that takes
    files: the same answer whether the size was declared or found while streaming.
    """

    def __init__(self, app, max_bytes: int,
                 wider: Callable[[dict], tuple[int, str, str] | None] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.wider = wider

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        special = self.wider(scope) if self.wider is not None else None
        max_bytes, detail, code = special or (self.max_bytes, f"request bodies are limited to {self.max_bytes} bytes",
                                              "body-too-large")
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    too_big = int(value) > max_bytes
                except ValueError:
                    too_big = False
                if too_big:
                    await self._refuse(send, detail, code)
                    return
        seen = 0
        started = False

        async def limited_receive():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > max_bytes:
                    raise BodyTooLarge(detail, code)
            return message

        async def tracking_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._refuse(send, detail, code)

    @staticmethod
    async def _refuse(send, detail: str, code: str) -> None:
        body = orjson.dumps({"type": TYPE_BASE + code, "title": "Request body too large", "status": 413,
                             "detail": detail})
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", PROBLEM.encode()), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


class HeaderLimit:
    """Refuse requests whose header fields pass ``max_bytes`` (431) or repeat a single-valued header (400).

    The server has parsed the headers by the time the app runs; uvicorn's own h11 limit (see
    :func:`server_options`) bounds what it buffers first, and this guard gives every server the same answer.
    """

    def __init__(self, app, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            size = 0
            seen: set[bytes] = set()
            for name, value in scope["headers"]:
                size += len(name) + len(value) + 4  # as on the wire: "name: value\r\n"
                if name in SINGLE_VALUED:
                    if name in seen:
                        await problem(400, f"send the {name.decode()} header once, not several times",
                                      code="repeated-header", header=name.decode())(scope, receive, send)
                        return
                    seen.add(name)
            if size > self.max_bytes:
                await problem(431, f"request headers are limited to {self.max_bytes} bytes in all",
                              code="headers-too-large")(scope, receive, send)
                return
        await self.app(scope, receive, send)


def server_options(max_header_bytes: int) -> dict:
    """uvicorn settings that bound what the server itself buffers, used by `closeloop serve` and the tests.

    uvicorn has a limit only for its h11 parser (httptools, the default when installed, has none), so the
    ASGI guard above is what refuses oversized headers on every parser; this caps h11's buffer just past it.
    """
    return {"h11_max_incomplete_event_size": max_header_bytes + REQUEST_LINE_ALLOWANCE}

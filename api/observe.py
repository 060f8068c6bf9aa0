"""Every request gets an id, a line in the structured access log, a place in the Prometheus figures, and the
security headers every response carries.

The id is the client's ``X-Request-ID`` when it is a sane token (so a proxy's id follows the request through),
else a new random one; it comes back in the response's ``X-Request-ID`` and names the request in the log, so
a user's complaint, the proxy's log and ours can be matched. The access log is one JSON object per line on
the ``closeloop.access`` logger: time, id, method, path, route, status, duration, client address, the
authenticated user and the serving process (one of several workers), never a header's or body's content.
"""
from __future__ import annotations

import datetime as dt
import logging
import os
import re
import time
import uuid

import orjson

from engine.metrics.counters import HTTP_REQUESTS, HTTP_SECONDS

log = logging.getLogger("closeloop.access")
SANE_ID = re.compile(rb"[A-Za-z0-9._:-]{1,64}")
# On every response: browsers must not guess a type other than the one sent (an uploaded file served as
# HTML), and no page's address (item numbers) leaks to another site through the Referer header.
ALWAYS = ((b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"))
UNMATCHED = "unmatched"  # requests no route took: one label, whatever the path, so the figures stay bounded


class Observe:
    """ASGI middleware: request id, access log line and HTTP metrics for each HTTP request."""

    def __init__(self, app, access_log: bool = True) -> None:
        self.app = app
        self.access_log = access_log

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _request_id(scope["headers"])
        scope.setdefault("state", {})["request_id"] = request_id
        added = [(b"x-request-id", request_id.encode()), *ALWAYS]
        status = 500  # what the client gets if the app fails before answering (the server's own 500)

        async def send_with_id(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), *added]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", None) or UNMATCHED
            method = scope["method"]
            HTTP_REQUESTS.labels(method, route, str(status)).inc()
            HTTP_SECONDS.labels(method, route).observe(elapsed)
            if self.access_log and log.isEnabledFor(logging.INFO):
                client = scope.get("client")
                log.info(orjson.dumps({
                    "time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds"),
                    "request_id": request_id,
                    "method": method, "path": scope["path"], "route": route, "status": status,
                    "ms": round(elapsed * 1000, 2), "client": client[0] if client else None,
                    "user": scope["state"].get("user"), "pid": os.getpid()}).decode())


def _request_id(headers) -> str:
    for name, value in headers:
        if name == b"x-request-id" and SANE_ID.fullmatch(value):
            return value.decode()
    return uuid.uuid4().hex

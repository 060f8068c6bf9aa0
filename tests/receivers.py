"""Real HTTP receivers on 127.0.0.1 for delivery tests: they record every request and answer as told."""
from __future__ import annotations

import json
import ssl
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Iterator
from urllib.parse import parse_qs, urlsplit

from engine.clock import Clock

# (status, JSON body, extra headers) for the n-th request (0-based) a receiver gets.
Responder = Callable[[int, "Received"], tuple[int, dict, dict]]


@dataclass
class Received:
    """One request as the receiver saw it, with the test clock's time when it arrived."""

    path: str
    raw_query: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    at: object

    def json(self) -> dict:
        """The body as JSON."""
        return json.loads(self.body)


def ok(_n: int, _r: Received) -> tuple[int, dict, dict]:
    """Answer as every robot does on success."""
    return 200, {"errcode": 0, "errmsg": "ok", "code": 0, "msg": "success"}, {}


@dataclass
class Receiver:
    """A running receiver: its base URL and what it got."""

    url: str
    got: list[Received] = field(default_factory=list)
    respond: Responder = ok


@contextmanager
def receiver(clock: Clock, respond: Responder = ok, *, tls: ssl.SSLContext | None = None) -> Iterator[Receiver]:
    """Serve on 127.0.0.1 (a free port) until the block ends, over TLS with ``tls``; stop the server thread after."""
    lock = threading.Lock()
    state = Receiver(url="")
    state.respond = respond

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server naming
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length)
            if len(body) < length:  # the sender went away mid-request (killed): nothing was delivered
                self.close_connection = True
                return
            parts = urlsplit(self.path)
            received = Received(parts.path, parts.query, {k: v[0] for k, v in parse_qs(parts.query).items()},
                                {k.lower(): v for k, v in self.headers.items()}, body, clock.now())
            with lock:
                index = len(state.got)
                state.got.append(received)
            status, answer, headers = state.respond(index, received)
            data = json.dumps(answer).encode()
            self.send_response(status)
            for name, value in {"content-type": "application/json", **headers}.items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    state.url = f"{'https' if tls else 'http'}://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="receiver", daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
    assert not thread.is_alive(), "the receiver did not stop"

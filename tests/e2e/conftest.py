"""End-to-end fixtures: the app served by a real uvicorn server on 127.0.0.1, in a background thread."""
from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager
from typing import Iterator

import httpx
import pytest
import uvicorn

from api.app import create_app
from api.limits import server_options

START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0


@pytest.fixture
def live_server(rt):
    """Base URL of a uvicorn server running the app on ``rt`` (same database and clock as the test)."""
    with serve(rt) as base:
        yield base


@contextmanager
def serve(rt, **options) -> Iterator[str]:
    """Run the app on ``rt`` in uvicorn, configured as `closeloop serve` does (plus ``options``); yield its URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))  # bound here and handed over, so no other process can take the port
    port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(rt), log_level="warning", access_log=False, lifespan="off",
                            **{**server_options(rt.settings.max_header_bytes), **options})
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="uvicorn", daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=1.0).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or not thread.is_alive():
            server.should_exit = True
            thread.join(STOP_TIMEOUT_S)
            sock.close()
            pytest.fail("the uvicorn server did not answer /healthz")
        time.sleep(0.02)
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(STOP_TIMEOUT_S)
        sock.close()
    assert not thread.is_alive(), "the uvicorn server did not stop"

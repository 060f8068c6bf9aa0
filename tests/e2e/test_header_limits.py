"""Request headers are bounded: over the limit answers 431 problem+json, in-process and through uvicorn.

Through a real uvicorn on 127.0.0.1 with each of its HTTP parsers (httptools, the default when installed,
and h11), configured as `closeloop serve` configures it. Both stores.
"""
from __future__ import annotations

import json
import socket

import pytest

from tests.e2e.conftest import serve
from tests.helpers import assert_problem

KIB = 1024
HUGE = 32 * KIB * KIB


def raw_get(base: str, path: str, headers: list[tuple[str, str]], value_bytes: int) -> tuple[int, dict, bytes]:
    """GET ``path`` with ``headers`` plus an X-Padding header of ``value_bytes``; (status, headers, body).

    Written on a bare socket so that a server refusing part-way through the headers is seen as it answers:
    status 0 when it closed the connection without an answer.
    """
    host, port = base.removeprefix("http://").split(":")
    head = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers)
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        try:
            sock.sendall(head.encode() + b"X-Padding: ")
            chunk = b"a" * (1024 * KIB)
            left = value_bytes
            while left > 0:
                sock.sendall(chunk[:left])
                left -= len(chunk)
            sock.sendall(b"\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server stopped reading: its answer, if any, is already on the way
        data = b""
        try:
            while part := sock.recv(65536):
                data += part
        except ConnectionResetError:
            pass
    if not data:
        return 0, {}, b""
    head_bytes, _, body = data.partition(b"\r\n\r\n")
    lines = head_bytes.decode("latin-1").split("\r\n")
    fields = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split()[1]), {k.lower(): v for k, v in fields.items()}, body


def check_431(status: int, headers: dict, body: bytes, limit: int) -> None:
    assert status == 431, (status, body[:300])
    assert headers["content-type"] == "application/problem+json", headers
    problem = json.loads(body)
    assert problem["status"] == 431 and problem["type"].endswith("/headers-too-large"), problem
    assert str(limit) in problem["detail"]


def test_headers_over_the_limit_are_431_in_process(client, world, rt):
    limit = rt.settings.max_header_bytes
    assert limit == 32 * KIB
    fits = client.get("/api/v1/me", headers={**world.h("reg"), "X-Padding": "a" * (limit - 1024)})
    assert fits.status_code == 200, fits.text
    for size in (limit + 1, 4 * limit, HUGE):
        response = client.get("/api/v1/me", headers={**world.h("reg"), "X-Padding": "a" * size})
        assert "headers" in assert_problem(response, 431)["detail"]
    many = {f"X-Padding-{n}": "a" * 1000 for n in range(40)}  # many fields together count, not each one
    assert_problem(client.get("/healthz", headers=many), 431)


@pytest.mark.parametrize("parser", ["httptools", "h11"])
def test_headers_over_the_limit_are_431_through_uvicorn(rt, world, parser):
    limit = rt.settings.max_header_bytes
    auth = list(world.h("reg").items())
    with serve(rt, http=parser) as base:
        status, _, body = raw_get(base, "/api/v1/me", auth, limit - 1024)
        assert status == 200 and json.loads(body)["username"] == "reg", (status, body[:300])
        for size in (limit + 1, limit + 8 * KIB):  # within what h11 buffers: the guard answers on both parsers
            check_431(*raw_get(base, "/api/v1/me", auth, size), limit)
        status, headers, body = raw_get(base, "/api/v1/me", auth, HUGE)
        if parser == "httptools":  # no limit of its own: it reads the whole header and the guard refuses it
            check_431(status, headers, body, limit)
        else:  # h11 stops buffering just past the limit and refuses the request itself
            assert status in (0, 400), (status, body[:300])
        status, _, body = raw_get(base, "/api/v1/me", auth, 10)  # and the server goes on serving
        assert status == 200, (status, body[:300])

"""A client that closes its connection before its upload has arrived is no server error: nothing is stored,
nothing is logged as a crash, and the server goes on serving. Through a real uvicorn on 127.0.0.1, both stores."""
from __future__ import annotations

import logging
import socket
import time

import httpx

from tests.e2e.conftest import serve
from tests.evidence_samples import PDF
from tests.helpers import new_item, table_counts


def _cut_off_upload(base: str, path: str, token: str) -> None:
    """Send a multipart upload's head and half its body, then close the connection."""
    host, port = base.removeprefix("http://").split(":")
    boundary = "cut-off-boundary"
    part = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.pdf\"\r\n"
            f"Content-Type: application/pdf\r\n\r\n").encode() + PDF
    head = (f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {len(part) + 100_000}\r\n\r\n")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head.encode() + part)
        time.sleep(0.2)  # the server has begun reading the form


def test_an_upload_cut_off_by_its_client_is_logged_as_such_and_changes_nothing(client, world, rt, caplog, tmp_path):
    rt.settings.evidence_dir = tmp_path / "evidence"
    item = new_item(client, world)
    before = table_counts(rt)
    with caplog.at_level(logging.INFO, logger="closeloop.api"), serve(rt) as base:
        _cut_off_upload(base, f"/api/v1/items/{item['id']}/evidence", world.tokens["asg_a"])
        deadline = time.monotonic() + 10
        while not any("closed the connection" in r.getMessage() for r in caplog.records):
            assert time.monotonic() < deadline, [r.getMessage() for r in caplog.records]
            time.sleep(0.05)
        assert httpx.get(f"{base}/healthz", timeout=10).status_code == 200
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], [r.getMessage() for r in caplog.records]
    assert table_counts(rt) == before
    stored = [p for p in (tmp_path / "evidence").rglob("*") if p.is_file()] if (tmp_path / "evidence").exists() else []
    assert stored == []

"""Where an HTTP transition's CPU goes, layer by layer: the app driven through ASGI in this process, no sockets.

Prints CPU microseconds a request (this process's threads together, the log-sync thread included) for:
  transition    POST /api/v1/items/{id}/transitions through the whole app (16 at a time)
  healthz       GET /healthz through the same middleware: the framework's floor
  item          GET /api/v1/items/{id}
  token         the bearer-token lookup alone, and right after another connection's commit (SQLite drops a
                reader connection's page cache whenever another connection commits)
  fire()        the engine's transition inside its write transaction, without waiting for the disk
No load generator and no server sockets share the CPU, so the figures hold on a busy machine better than
transitions per second do. bench/http_profile.py measures the served path with 32 clients.
Run: .venv/bin/python bench/http_layers.py [--requests N]
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import importlib.util
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Awaitable, Callable

# This folder holds transitions.py, which shares its name with the `transitions` library: keep it off the path.
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(HERE.parent))
_spec = importlib.util.spec_from_file_location("bench_transitions", HERE / "transitions.py")
bench = sys.modules["bench_transitions"] = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)

from api.app import create_app  # noqa: E402
from engine import accounts, service  # noqa: E402
from engine.inputs import TransitionRequest  # noqa: E402

BODY = json.dumps({"trigger": "report_progress", "comment": "本周完成 3 所幼儿园扩班"}).encode()


def asgi_caller(app, token: str) -> Callable[[str, str], Awaitable[int]]:
    """A function sending one request straight into the ASGI app; it returns the status."""
    headers = [(b"host", b"127.0.0.1"), (b"authorization", f"Bearer {token}".encode()),
               (b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]

    async def call(method: str, path: str) -> int:
        sent, status = False, []

        async def receive():
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": BODY if method == "POST" else b"", "more_body": False}
            await asyncio.sleep(3600)  # the app never reads past the body

        async def send(message):
            if message["type"] == "http.response.start":
                status.append(message["status"])

        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
                 "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
                 "headers": headers, "client": ("127.0.0.1", 5555), "server": ("127.0.0.1", 8000)}
        await app(scope, receive, send)
        return status[0]

    return call


def cpu_per_call(count: int, concurrency: int, one: Callable[[int], Awaitable[int]]) -> float:
    """CPU microseconds a call of ``one`` (0..count-1, ``concurrency`` at a time), each answering 200."""
    numbers = iter(range(count))

    async def worker():
        for n in numbers:
            status = await one(n)
            assert status == 200, status

    async def run():
        await asyncio.gather(*(worker() for _ in range(concurrency)))

    gc.collect()
    started = time.process_time()
    asyncio.run(run())
    return 1e6 * (time.process_time() - started) / count


def main() -> None:
    """Prepare a SQLite file as bench/transitions.py does, then time each layer."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="closeloop-bench-") as folder:
        rt, doer, token, ids = bench.prepare(Path(folder) / "bench.db", 500)
        call = asgi_caller(create_app(rt), token)
        request = TransitionRequest(trigger="report_progress", comment="本周完成 3 所幼儿园扩班")

        async def lookup(_n: int) -> int:
            with rt.store.single() as conn:
                accounts.authenticate(conn, token)
            return 200

        async def fire(n: int) -> int:
            with rt.store.deferred_sync(), rt.store.write() as conn:
                service.fire(conn, rt, item_ref=ids[n % len(ids)], actor=doer, request=request)
            return 200

        async def fire_then_lookup(n: int) -> int:
            await fire(n)
            return await lookup(n)

        def transition(n: int) -> Awaitable[int]:
            return call("POST", f"/api/v1/items/{ids[n % len(ids)]}/transitions")

        cpu_per_call(500, 16, transition)  # warm up
        n = args.requests
        fired = cpu_per_call(n, 1, fire)
        rows = [("transition, whole app", cpu_per_call(n, 16, transition)),
                ("GET /healthz (framework floor)", cpu_per_call(n, 16, lambda _n: call("GET", "/healthz"))),
                ("GET item", cpu_per_call(n, 16, lambda i: call("GET", f"/api/v1/items/{ids[i % len(ids)]}"))),
                ("token lookup alone", cpu_per_call(n, 1, lookup)),
                ("token lookup after a commit", cpu_per_call(n, 1, fire_then_lookup) - fired),
                ("fire() in its write", fired)]
        rt.store.dispose()
    for label, micros in rows:
        print(f"{label:32s} {micros:7.0f} us CPU a request")


if __name__ == "__main__":
    main()

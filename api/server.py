"""How `closeloop serve` runs the app: one process, or several workers on one port.

With ``--workers N`` uvicorn starts N processes that each import :func:`worker_app` and build their own app,
runtime and database pool; the kernel spreads connections over them. Each worker runs the sweep and delivery
too unless told not to (they are safe to run in several processes at once: SKIP LOCKED on PostgreSQL, the
write lock on SQLite). Their Prometheus counters go to files in a folder made for this run, so that /metrics
of any worker answers for all of them.
"""
from __future__ import annotations

import gc
import logging
import os
import shutil
import sys
import tempfile

from fastapi import FastAPI

from api.limits import server_options
from engine.runtime import Runtime

# The setting a parent passes to its workers: whether they run the background jobs.
SCHEDULER_ENV = "CLOSELOOP_SERVE_SCHEDULER"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def build_app(rt: Runtime, *, with_scheduler: bool) -> FastAPI:
    """The app of one serving process, with its background jobs when asked, and its access log printed."""
    from api.app import create_app

    application = create_app(rt)
    if with_scheduler:
        from engine.jobs import scheduler

        application.state.scheduler = scheduler(rt)
        application.router.on_startup.append(application.state.scheduler.start)
        application.router.on_shutdown.append(lambda: application.state.scheduler.shutdown(wait=False))
    _print_access_log()
    # Everything loaded so far lives as long as the process: keep the collector from scanning it again and
    # again, which otherwise shows up as tens-of-milliseconds pauses in the latency tail.
    gc.collect()
    gc.freeze()
    return application


def worker_app() -> FastAPI:
    """uvicorn's factory in each worker process: the runtime from the environment, as the parent's."""
    return build_app(Runtime.open(), with_scheduler=os.environ.get(SCHEDULER_ENV) == "1")


def run(rt: Runtime, *, host: str, port: int, workers: int, with_scheduler: bool) -> None:
    """Serve until stopped: in this process, or in ``workers`` processes sharing the port."""
    import uvicorn

    options = {"host": host, "port": port, "log_level": "info", "access_log": False,
               **server_options(rt.settings.max_header_bytes)}
    if workers <= 1:
        uvicorn.run(build_app(rt, with_scheduler=with_scheduler), **options)
        return
    rt.store.dispose()  # the workers open their own; this process only watches them
    metrics_dir = tempfile.mkdtemp(prefix="closeloop-metrics-")
    os.environ[MULTIPROC_ENV] = metrics_dir
    os.environ[SCHEDULER_ENV] = "1" if with_scheduler else "0"
    try:
        uvicorn.run("api.server:worker_app", factory=True, workers=workers, **options)
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


def _print_access_log() -> None:
    """Send the closeloop.access lines (one JSON object each) to standard output, unless already configured."""
    access = logging.getLogger("closeloop.access")
    if access.handlers:
        return
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s"))
    access.addHandler(handler)
    access.setLevel(logging.INFO)
    access.propagate = False

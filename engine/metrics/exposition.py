"""The Prometheus text of a scrape: this process's counters (or every worker's) and the backlog."""
from __future__ import annotations

import os

import sqlalchemy as sa
from prometheus_client import GC_COLLECTOR, PLATFORM_COLLECTOR, PROCESS_COLLECTOR, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from engine.clock import Clock
from engine.metrics.backlog import BacklogCollector
from engine.metrics.counters import (
    DELIVERIES,
    HTTP_REQUESTS,
    HTTP_SECONDS,
    SWEEP_ITEMS,
    SWEEP_NOTICES,
    SWEEP_SECONDS,
    TRANSITIONS,
)


def exposition(engine: sa.Engine, clock: Clock) -> bytes:
    """The Prometheus text of this process (or of all workers, in multiprocess mode) and of the backlog."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)
    else:
        # One process: its own counters, and its memory, CPU and collector figures (flat memory under load is
        # something an operator watches for). Multiprocess mode reads every worker's counters from the files.
        for collector in (TRANSITIONS, SWEEP_ITEMS, SWEEP_NOTICES, SWEEP_SECONDS, DELIVERIES, HTTP_REQUESTS,
                          HTTP_SECONDS, PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
            registry.register(collector)
    registry.register(BacklogCollector(engine, clock))
    return generate_latest(registry)

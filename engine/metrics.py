"""What a process reports to Prometheus: its own counters, and gauges read from the database at each scrape.

Counters live in the process that counts them. Under ``closeloop serve --workers N`` every worker writes its
counters to files in ``PROMETHEUS_MULTIPROC_DIR`` (prometheus_client's multiprocess mode, set up before the
workers start), and a scrape of any worker adds them up. The backlog gauges (outbox depth, delivery and sweep
lag) are not counted anywhere: they are read from the database when scraped, so every process, and every
number of processes, reports the same figure.
"""
from __future__ import annotations

import datetime as dt
import os
from typing import Iterator

import sqlalchemy as sa
from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from engine.clock import Clock

TRANSITIONS = Counter("closeloop_transitions", "Transitions committed by this process, by trigger.", ["trigger"])
SWEEP_ITEMS = Counter("closeloop_sweep_items", "Items the reminder sweep claimed.")
SWEEP_NOTICES = Counter("closeloop_sweep_notices", "Reminders and escalations the sweep issued or superseded.",
                        ["outcome"])
SWEEP_SECONDS = Histogram("closeloop_sweep_duration_seconds", "How long one sweep took.")
DELIVERIES = Counter("closeloop_deliveries", "Delivery attempts of the outbox, by outcome.", ["outcome"])
HTTP_REQUESTS = Counter("closeloop_http_requests", "HTTP requests answered, by method, route and status.",
                        ["method", "route", "status"])
HTTP_SECONDS = Histogram("closeloop_http_request_duration_seconds", "Time to answer an HTTP request, by route.",
                         ["method", "route"],
                         buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))

_outbox = sa.table("outbox", sa.column("created_at"), sa.column("dispatched_at"))
_items = sa.table("items", sa.column("next_reminder_at"))


class BacklogCollector(Collector):
    """Outbox depth, delivery lag and sweep lag, read from the database when Prometheus scrapes."""

    def __init__(self, engine: sa.Engine, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """The three gauges (each an indexed read), or none if the database cannot be read now."""
        now = self.clock.now().replace(tzinfo=None)  # stored times are naive UTC
        try:
            with self.engine.connect() as conn:
                depth, oldest = conn.execute(sa.select(sa.func.count(), sa.func.min(_outbox.c.created_at))
                                             .where(_outbox.c.dispatched_at.is_(None))).one()
                due = conn.execute(sa.select(sa.func.min(_items.c.next_reminder_at))
                                   .where(_items.c.next_reminder_at.is_not(None))).scalar()
        except sa.exc.SQLAlchemyError:
            return  # /readyz says why; a scrape still gets the process's own counters
        yield GaugeMetricFamily("closeloop_outbox_pending", "Outbox rows not yet dispatched.", value=depth)
        yield GaugeMetricFamily("closeloop_delivery_lag_seconds", "Age of the oldest undispatched outbox row.",
                                value=_age(now, oldest))
        yield GaugeMetricFamily("closeloop_sweep_lag_seconds",
                                "How long the most overdue reminder check has been waiting for a sweep.",
                                value=_age(now, due))


def _age(now: dt.datetime, since: dt.datetime | str | None) -> float:
    if since is None:
        return 0.0
    if isinstance(since, str):  # SQLite hands back text from an aggregate
        since = dt.datetime.fromisoformat(since)
    return max(0.0, (now - since.replace(tzinfo=None)).total_seconds())


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


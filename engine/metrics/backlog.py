"""Outbox depth, delivery lag and sweep lag: gauges read from the database at each scrape, so every process
(and every number of processes) reports the same figure."""
from __future__ import annotations

import datetime as dt
from typing import Iterator

import sqlalchemy as sa
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from engine.clock import Clock

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

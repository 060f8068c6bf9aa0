"""The process's own Prometheus counters and histograms: requests, transitions, sweeps, deliveries."""
from __future__ import annotations

from prometheus_client import Counter, Histogram

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

"""The background work of a process: APScheduler interval jobs that sweep for due notices and deliver
the outbox, a daily job that makes the signed audit checkpoint, and a nightly count of the text search's
common trigrams (engine.listing.termstats). Business deadlines never live in APScheduler (its job store is
per process and its timers die with it): they live in ``items.next_reminder_at``, and the sweep only looks at it.
"""
from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass
from typing import Callable

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler

from engine.audit.checkpoint import daily_checkpoint
from engine.delivery.worker import DeliveryReport, deliver
from engine.listing import termstats
from engine.metrics import counters
from engine.reminders.sweep import SweepResult, sweep
from engine.runtime import Runtime

log = logging.getLogger("closeloop.jobs")
SWEEP_JOB, DELIVERY_JOB = "closeloop-sweep", "closeloop-deliver"
CHECKPOINT_JOB_ID = "closeloop-audit-checkpoint"
SEARCH_TERMS_JOB = "closeloop-search-terms"
# Local time of the nightly count of the text search's trigrams (SQLite: a read of the whole index, 4 s at
# 1,000,000 items; PostgreSQL: of a sample of the items), when few search.
SEARCH_TERMS_AT = (3, 30)


@dataclass
class PassResult:
    """What one pass of the background work did."""

    sweep: SweepResult
    delivery: DeliveryReport


def run_pass(rt: Runtime) -> PassResult:
    """One sweep, then delivery until nothing more is due now (what the sweep issued included)."""
    swept = sweep(rt)
    return PassResult(sweep=swept, delivery=deliver(rt))


def _count(result: object, seconds: float) -> None:
    """Add what a background pass did to the process's Prometheus counters (engine.metrics.counters)."""
    if isinstance(result, SweepResult):
        counters.SWEEP_SECONDS.observe(seconds)
        counters.SWEEP_ITEMS.inc(result.claimed)
        counters.SWEEP_NOTICES.labels("issued").inc(result.issued)
        counters.SWEEP_NOTICES.labels("superseded").inc(result.superseded)
    elif isinstance(result, DeliveryReport):
        counters.DELIVERIES.labels("delivered").inc(result.delivered)
        counters.DELIVERIES.labels("failed").inc(result.failed_attempts)
        counters.DELIVERIES.labels("given_up").inc(result.given_up)


def _logged(job: Callable[[Runtime], object]) -> Callable[[Runtime], None]:
    def run(rt: Runtime) -> None:
        try:
            started = time.perf_counter()
            with rt.store.background():  # requests' writes go between the job's batches
                _count(job(rt), time.perf_counter() - started)
        except Exception:  # noqa: BLE001 - a failed pass must not end the scheduler; the next one retries
            log.exception("background %s failed; it runs again at the next interval", job.__name__)

    return run


def _checkpoint_job(rt: Runtime) -> None:
    try:
        made = daily_checkpoint(rt)
    except Exception:  # noqa: BLE001 - logged (a refused checkpoint means tampering); tomorrow's run tries again
        log.exception("the daily audit checkpoint failed")
        return
    if made is not None:
        log.info("audit checkpoint %s made (%s items)", made["checkpoint"]["number"], made["checkpoint"]["items"])


def search_terms(rt: Runtime) -> int:
    """Count the text search's common trigrams again (engine.listing.termstats); how many there are."""
    return termstats.refresh(rt.store)


def scheduler(rt: Runtime, *, blocking: bool = False) -> BaseScheduler:
    """A scheduler (not started) with two interval jobs, the sweep and delivery, the daily checkpoint and the
    nightly count of the text search's trigrams: at most one instance of each at a time, missed runs coalesced;
    the sweep and delivery run once at start-up (what fell due while the process was down goes out at once), and
    so does the count when it was never made."""
    chosen = BlockingScheduler if blocking else BackgroundScheduler
    made = chosen(timezone=rt.settings.timezone)
    now = dt.datetime.now(dt.timezone.utc)
    made.add_job(_logged(sweep), "interval", args=[rt], id=SWEEP_JOB, seconds=rt.settings.sweep_interval_seconds,
                 max_instances=1, coalesce=True, next_run_time=now)
    made.add_job(_logged(deliver), "interval", args=[rt], id=DELIVERY_JOB,
                 seconds=rt.settings.delivery_interval_seconds, max_instances=1, coalesce=True, next_run_time=now)
    # Once a day at the configured local hour; a process down at that hour makes it when it starts again
    # (misfire grace of a day), and daily_checkpoint makes only one a day whichever process runs first.
    made.add_job(_checkpoint_job, "cron", args=[rt], id=CHECKPOINT_JOB_ID, hour=rt.settings.audit_checkpoint_hour,
                 minute=0, max_instances=1, coalesce=True, misfire_grace_time=24 * 3600)
    hour, minute = SEARCH_TERMS_AT
    first = {"next_run_time": now} if termstats.missing(rt.store) else {}
    made.add_job(_logged(search_terms), "cron", args=[rt], id=SEARCH_TERMS_JOB, hour=hour, minute=minute,
                 max_instances=1, coalesce=True, misfire_grace_time=24 * 3600, **first)
    return made

"""The background work of a process: APScheduler interval jobs that sweep for due notices and deliver
the outbox. Business deadlines never live in APScheduler (its job store is per process and
its timers die with it): they live in ``items.next_reminder_at``, and this job only looks at it.
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Callable

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler

from engine.delivery.worker import DeliveryReport, deliver
from engine.reminders.sweep import SweepResult, sweep
from engine.runtime import Runtime

log = logging.getLogger("closeloop.jobs")
SWEEP_JOB, DELIVERY_JOB = "closeloop-sweep", "closeloop-deliver"


@dataclass
class PassResult:
    """What one pass of the background work did."""

    sweep: SweepResult
    delivery: DeliveryReport


def run_pass(rt: Runtime) -> PassResult:
    """One sweep, then delivery until nothing more is due now (what the sweep issued included)."""
    swept = sweep(rt)
    return PassResult(sweep=swept, delivery=deliver(rt))


def _logged(job: Callable[[Runtime], object]) -> Callable[[Runtime], None]:
    def run(rt: Runtime) -> None:
        try:
            job(rt)
        except Exception:  # noqa: BLE001 - a failed pass must not end the scheduler; the next one retries
            log.exception("background %s failed; it runs again at the next interval", job.__name__)

    return run


def scheduler(rt: Runtime, *, blocking: bool = False) -> BaseScheduler:
    """A scheduler (not started) with two interval jobs, the sweep and delivery: at most one instance of
    each at a time, missed runs coalesced, both run once at start-up (what fell due while the process
    was down goes out at once)."""
    chosen = BlockingScheduler if blocking else BackgroundScheduler
    made = chosen(timezone=rt.settings.timezone)
    now = dt.datetime.now(dt.timezone.utc)
    made.add_job(_logged(sweep), "interval", args=[rt], id=SWEEP_JOB, seconds=rt.settings.sweep_interval_seconds,
                 max_instances=1, coalesce=True, next_run_time=now)
    made.add_job(_logged(deliver), "interval", args=[rt], id=DELIVERY_JOB,
                 seconds=rt.settings.delivery_interval_seconds, max_instances=1, coalesce=True, next_run_time=now)
    return made

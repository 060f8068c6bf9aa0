"""The background work of a process: one APScheduler interval job that sweeps for due notices and
delivers the outbox. Business deadlines never live in APScheduler (its job store is per process and
its timers die with it): they live in ``items.next_reminder_at``, and this job only looks at it.
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler

from engine.reminders.sweep import SweepResult, sweep
from engine.runtime import Runtime

log = logging.getLogger("closeloop.jobs")
JOB_ID = "closeloop-sweep-and-deliver"


@dataclass
class PassResult:
    """What one pass of the background job did."""

    sweep: SweepResult


def run_pass(rt: Runtime) -> PassResult:
    """One sweep, then one delivery pass; errors are logged and the next interval tries again."""
    return PassResult(sweep=sweep(rt))


def _job(rt: Runtime) -> None:
    try:
        run_pass(rt)
    except Exception:  # noqa: BLE001 - a failed pass must not end the scheduler; the next one retries
        log.exception("background pass failed; it runs again at the next interval")


def scheduler(rt: Runtime, *, blocking: bool = False) -> BaseScheduler:
    """A scheduler with the one interval job (not started): at most one instance at a time, missed runs coalesced."""
    chosen = BlockingScheduler if blocking else BackgroundScheduler
    made = chosen(timezone=rt.settings.timezone)
    made.add_job(_job, "interval", args=[rt], id=JOB_ID, seconds=rt.settings.sweep_interval_seconds,
                 max_instances=1, coalesce=True,
                 # The first pass at start-up: what fell due while the process was down goes out at once.
                 next_run_time=dt.datetime.now(dt.timezone.utc))
    return made

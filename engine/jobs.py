"""The background work of a process: one APScheduler interval job that sweeps for due notices and
delivers the outbox, and a daily job that makes the signed audit checkpoint. Business deadlines never live in APScheduler (its job store is per process and
its timers die with it): they live in ``items.next_reminder_at``, and this job only looks at it.
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler

from engine.audit.checkpoint import daily_checkpoint
from engine.reminders.sweep import SweepResult, sweep
from engine.runtime import Runtime

log = logging.getLogger("closeloop.jobs")
JOB_ID = "closeloop-sweep-and-deliver"
CHECKPOINT_JOB_ID = "closeloop-audit-checkpoint"


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


def _checkpoint_job(rt: Runtime) -> None:
    try:
        made = daily_checkpoint(rt)
    except Exception:  # noqa: BLE001 - logged (a refused checkpoint means tampering); tomorrow's run tries again
        log.exception("the daily audit checkpoint failed")
        return
    if made is not None:
        log.info("audit checkpoint %s made (%s items)", made["checkpoint"]["number"], made["checkpoint"]["items"])


def scheduler(rt: Runtime, *, blocking: bool = False) -> BaseScheduler:
    """A scheduler with the interval job and the daily checkpoint (not started): at most one instance of each at a
    time, missed runs coalesced."""
    chosen = BlockingScheduler if blocking else BackgroundScheduler
    made = chosen(timezone=rt.settings.timezone)
    made.add_job(_job, "interval", args=[rt], id=JOB_ID, seconds=rt.settings.sweep_interval_seconds,
                 max_instances=1, coalesce=True,
                 # The first pass at start-up: what fell due while the process was down goes out at once.
                 next_run_time=dt.datetime.now(dt.timezone.utc))
    # Once a day at the configured local hour; a process down at that hour makes it when it starts again
    # (misfire grace of a day), and daily_checkpoint makes only one a day whichever process runs first.
    made.add_job(_checkpoint_job, "cron", args=[rt], id=CHECKPOINT_JOB_ID, hour=rt.settings.audit_checkpoint_hour,
                 minute=0, max_instances=1, coalesce=True, misfire_grace_time=24 * 3600)
    return made

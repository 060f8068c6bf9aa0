"""Everything a service call needs besides the connection: store, workflows, clock, settings."""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from engine import workdays
from engine.calendars.coverage import warning_for, years_without_official_schedule
from engine.clock import Clock, SystemClock, local_today
from engine.config import Settings
from engine.dbroles.grants import require_app_privileges
from engine.errors import WorkflowError
from engine.registry import WorkflowRegistry, sync_workflows
from engine.reports import kept
from engine.store import Store
from engine.store.revisions import require_schema_at_head

log = logging.getLogger("closeloop.calendar")


@dataclass
class Runtime:
    """One process's view of the deployment."""

    store: Store
    registry: WorkflowRegistry
    clock: Clock
    settings: Settings

    @classmethod
    def open(cls, settings: Settings | None = None, *, clock: Clock | None = None, store: Store | None = None) -> "Runtime":
        """Connect, refuse an unmigrated database or a role lacking privileges, load the calendar, then load and
        check the workflows."""
        settings = settings or Settings()
        workdays.configure(settings.calendar_file)  # a bad calendar file stops start-up (CalendarError)
        clock = clock or SystemClock()
        store = store or Store.for_settings(settings)
        require_schema_at_head(store)
        if not store.is_sqlite:
            with store.read() as conn:
                require_app_privileges(conn)  # a clear refusal now, not "permission denied" mid-request
        registry = sync_workflows(store, clock, settings.workflows_dir)
        kept.ensure(store, settings.tz)  # the report's kept counts, reckoned in this deployment's zone
        if settings.default_workflow not in registry.names():
            raise WorkflowError([f"CLOSELOOP_DEFAULT_WORKFLOW: no workflow named {settings.default_workflow!r} "
                                 f"(known: {', '.join(registry.names())})"])
        with store.read() as conn:
            warning = warning_for(years_without_official_schedule(conn))
        if warning:
            log.warning(warning)
        return cls(store, registry, clock, settings)

    def today(self) -> dt.date:
        """Today's date in the deployment's time zone."""
        return local_today(self.clock, self.settings.tz)

    def local_date(self, when: dt.datetime) -> dt.date:
        """The deployment-local date of an instant."""
        return when.astimezone(self.settings.tz).date()

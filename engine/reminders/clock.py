"""When an item's next notice falls due, as fire() and registration store it in ``items.next_reminder_at``."""
from __future__ import annotations

import datetime as dt

from engine.definitions import WorkflowDef
from engine.reminders.rules import Clock, first_due


def reminder_clock(rt, definition: WorkflowDef, item: dict) -> dt.datetime | None:
    """The first notice of the item's current state entry (the sweep takes it from there), or None."""
    clock = Clock(item["id"], item["state"], item["state_entered_at"], item["deadline"])
    return first_due(definition, clock, tz=rt.settings.tz, hour=rt.settings.notify_hour)

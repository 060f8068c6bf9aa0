"""What needs a person's action now: items in their scope where they may fire a trigger, found by a bounded read.

The item list narrows to the states from which some transition names one of the person's roles; each row
read is then asked engine.views.allowed_triggers, the same check the item page and fire() make, so the
answer never disagrees with what the person can actually do. Items in a final state wait on nobody (reopening
a closed item is a choice, not a task), so they are left out. At most ``scan`` rows are read, newest first.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa

from engine import queries
from engine.accounts import Actor
from engine.registry import WorkflowRegistry
from engine.views import allowed_triggers

PAGE = 50


@dataclass(frozen=True)
class Actionable:
    """The items found (each row with the triggers the person may fire), the states searched, and whether
    more may exist beyond what was read."""

    rows: list[tuple[dict, list[str]]]
    states: tuple[str, ...]
    more: bool


def acting_states(registry: WorkflowRegistry, actor: Actor) -> tuple[str, ...]:
    """The states that are not final and that some transition open to one of ``actor``'s roles leaves, over
    every known workflow version."""
    found = {state for name in registry.known_names() for version in registry.versions(name)
             for state, transitions in version.triggers_by_state.items()
             if not version.definition.state(state).final and any(actor.roles & t.role_set for t in transitions)}
    return tuple(sorted(found))


def needing_action(conn: sa.Connection, registry: WorkflowRegistry, actor: Actor, *, today: dt.date,
                   yellow_days: int, limit: int = 20, scan: int = 200) -> Actionable:
    """Up to ``limit`` items, newest first, on which ``actor`` may fire a trigger now (reading at most ``scan``)."""
    states = acting_states(registry, actor)
    if not states:
        return Actionable([], states, False)
    filters = queries.ItemFilters(state=states)
    found: list[tuple[dict, list[str]]] = []
    cursor, read = None, 0
    while read < scan:
        page, cursor = queries.list_items(conn, actor, filters, limit=min(PAGE, scan - read), cursor=cursor,
                                          today=today, yellow_days=yellow_days)
        read += len(page)
        for row in page:
            triggers = allowed_triggers(registry.by_hash(row["workflow_hash"]), row, actor, today)
            if triggers:
                found.append((row, triggers))
                if len(found) == limit:
                    return Actionable(found, states, True)
        if cursor is None:
            return Actionable(found, states, False)
    return Actionable(found, states, True)

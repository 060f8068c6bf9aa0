"""Effects: named changes a transition makes to the item besides its state, listed in workflow files.

Each takes the item as it was, the request's fields and the actor, and returns the columns to change (or
refuses, GuardFailed, a request it cannot apply).
They are pure: no I/O, no commit (the engine writes the result in the transition's one transaction).
"""
from __future__ import annotations

from typing import Callable, Mapping

from engine.errors import GuardFailed

Effect = Callable[[dict, Mapping, str], dict]
REGISTRY: dict[str, Effect] = {}
# Effects after which the item has no assignee unless the request names one (engine.service reads this
# before the effects run, so that the old assignee is not checked against the new unit).
RELEASE_ASSIGNEE = frozenset({"hand_over"})


def effect(name: str) -> Callable[[Effect], Effect]:
    """Register an effect under the name workflow files use."""

    def register(fn: Effect) -> Effect:
        REGISTRY[name] = fn
        return fn

    return register


@effect("record_submitter")
def record_submitter(item: dict, fields: Mapping, actor: str) -> dict:
    """Remember who submitted the fix, so that person cannot verify it."""
    return {"submitted_by": actor}


@effect("store_extension_request")
def store_extension_request(item: dict, fields: Mapping, actor: str) -> dict:
    """Keep the requested date until a supervisor decides."""
    return {"requested_due_date": fields["new_due_date"]}


@effect("apply_extension")
def apply_extension(item: dict, fields: Mapping, actor: str) -> dict:
    """Granting moves the deadline to the requested date (or the date the supervisor sets)."""
    due = fields.get("due_date") or item["requested_due_date"]
    if due is None:
        # A request that came in with a ledger (延期审批中) names no date; granting it must not erase the deadline.
        raise GuardFailed("the extension request names no new due date; give it in fields.due_date", guard="fields")
    return {"due_date": due, "requested_due_date": None}


@effect("clear_extension")
def clear_extension(item: dict, fields: Mapping, actor: str) -> dict:
    """A denied request leaves the deadline as it was."""
    return {"requested_due_date": None}


@effect("count_reopen")
def count_reopen(item: dict, fields: Mapping, actor: str) -> dict:
    """Reopened items are counted: a closure that did not hold is something auditors look for."""
    return {"reopened_count": (item.get("reopened_count") or 0) + 1, "submitted_by": None}


@effect("hand_over")
def hand_over(item: dict, fields: Mapping, actor: str) -> dict:
    """A transfer (转办) leaves the old unit's pending extension request behind; the new unit starts afresh."""
    return {"requested_due_date": None} if item.get("requested_due_date") else {}

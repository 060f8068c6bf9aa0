"""Who acts on an item's rectification steps: its named assignee (责任人), or whoever of its unit takes it on.

A transition that the caller may fire only through the assignee role is the assignee's own work: with an
assignee named, only that person fires it; with none named, a member of the item's own unit may, and by
doing so becomes the assignee (recorded in the history). Holding another role the transition lists (a
workflow may let the unit's supervisors act too) is not affected.
"""
from __future__ import annotations

from engine.accounts import Actor
from engine.definitions.workflow import TransitionDef


def acts_only_as_assignee(actor: Actor, tdef: TransitionDef) -> bool:
    """Whether the assignee role is the only one of the actor's roles that grants ``tdef``."""
    granting = actor.roles & tdef.role_set
    return granting == {"assignee"}


def assignee_refusal(actor: Actor, tdef: TransitionDef, item: dict) -> str | None:
    """Why ``actor`` may not do the assignee's work on ``item``, or None."""
    if not acts_only_as_assignee(actor, tdef):
        return None
    named = item["assignee"]
    if named is None:
        if actor.unit_path != item["unit_path"]:
            return (f"item {item['number']} has no named assignee; only a member of its unit {item['unit_code']} "
                    f"can take it on, and {actor.username} is not one")
        return None
    if named != actor.username:
        return f"{named} is the named assignee of item {item['number']}; only they act on its rectification steps"
    return None


def takes_on(actor: Actor, tdef: TransitionDef, item: dict) -> bool:
    """Whether firing ``tdef`` makes ``actor`` the item's assignee (an unnamed item taken on by its unit)."""
    return item["assignee"] is None and acts_only_as_assignee(actor, tdef)

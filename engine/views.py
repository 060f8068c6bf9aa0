"""How an item looks to a caller: its fields, its traffic light, and what the caller may fire now."""
from __future__ import annotations

import datetime as dt
import json

from engine.accounts import Actor
from engine.clock import rfc3339
from engine.deadlines import light
from engine.guards import GuardContext
from engine.machine import CompiledWorkflow
from engine.responsibility import assignee_refusal


def allowed_triggers(wf: CompiledWorkflow, item: dict, actor: Actor, today: dt.date) -> list[str]:
    """Triggers from the item's state that the actor may fire: what fire() checks before the request's content.

    Roles, unit scope, the named assignee and the access guards: the same checks, in the same order.
    """
    out = []
    ctx = None
    for tdef in wf.triggers_by_state.get(item["state"], ()):
        if not (actor.roles & tdef.role_set) or not actor.can_act(tdef.role_set, item["unit_path"]):
            continue
        if assignee_refusal(actor, tdef, item) is not None:
            continue
        access = wf.access_guards(tdef)
        if access:
            ctx = ctx or GuardContext(actor=actor.username, roles=actor.roles, item=item, comment=None,
                                      evidence=[], fields={}, today=today)
            if any(g.check(ctx) is not None for g in access):
                continue
        out.append(tdef.trigger)
    return out


def item_view(item: dict, wf: CompiledWorkflow, actor: Actor, today: dt.date, yellow_days: int) -> dict:
    """The API's item object (``item`` is a row mapping with ``unit_code`` joined in)."""
    colour, overdue = light(item["deadline"], today, yellow_days)
    state_def = wf.definition.state(item["state"])
    return {
        "id": item["id"],
        "number": item["number"],
        "workflow": item["workflow"],
        "workflow_version": wf.definition.version,
        "workflow_hash": item["workflow_hash"],
        "state": item["state"],
        "state_title": state_def.title.zh,
        "state_title_en": state_def.title.en,
        "version": item["version"],
        "title": item["title"],
        "description": item["description"],
        "source": item["source"],
        "severity": item["severity"],
        "unit": item["unit_code"],
        "assignee": item["assignee"],
        "due_date": _date(item["due_date"]),
        "requested_due_date": _date(item["requested_due_date"]),
        "deadline": _date(item["deadline"]),
        "light": colour,
        "overdue_days": overdue,
        "measures": item["measures"],
        "external_ref": item["external_ref"],
        "campaign": item["campaign"],
        "tags": json.loads(item["tags"]),
        "created_by": item["created_by"],
        "submitted_by": item["submitted_by"],
        "reopened_count": item["reopened_count"],
        "allowed_triggers": allowed_triggers(wf, item, actor, today),
        "closed_at": rfc3339(item["closed_at"]) if item["closed_at"] else None,
        "created_at": rfc3339(item["created_at"]),
        "updated_at": rfc3339(item["updated_at"]),
    }


def _date(value: dt.date | None) -> str | None:
    return value.isoformat() if value else None

"""fire(): the only code that changes an item's state.

In the caller's one write transaction it locks the item row, checks the version, the actor's role, unit
scope and separation of duties, lets the shared machine run the guards, then writes the item, one history
record and one outbox row. Every refusal is a typed DomainError and leaves the database untouched
(the transaction is rolled back by ``Store.write``).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from types import MappingProxyType

import sqlalchemy as sa

from engine import effects, history, itemrows
from engine.accounts import Actor
from engine.audit.head import require_agreement
from engine.clock import rfc3339
from engine.deadlines import implausible_day, restarts_clock, state_deadline
from engine.definitions.workflow import TransitionDef
from engine.errors import (
    Forbidden,
    GuardFailed,
    IntegrityViolation,
    InvalidInput,
    InvalidTransition,
    NotFound,
    UnknownTrigger,
    VersionConflict,
)
from engine.evidence.references import recorded_evidence
from engine.guards import GuardContext
from engine.inputs import TransitionRequest
from engine.items import check_assignee, outbox_row, resolve_unit, unfit_assignee
from engine.machine import CompiledWorkflow, Refusal
from engine.metrics.counters import TRANSITIONS
from engine.registry import UnknownWorkflow
from engine.reminders.clock import reminder_clock
from engine.responsibility import assignee_refusal, takes_on
from engine.runtime import Runtime
from engine.store.commit_hooks import after_commit
from engine.views import allowed_triggers
from engine.workdays import add_duration, add_working_days, working_days_between

# Item columns a transition can change besides state bookkeeping, as the history names them.
RECORDED_FIELDS = ("unit", "assignee", "due_date", "requested_due_date", "measures")


@dataclass
class FireResult:
    """The item after the transition and the history record it appended."""

    item: dict
    record: dict
    workflow: CompiledWorkflow


def fire(conn: sa.Connection, rt: Runtime, *, item_ref: str, actor: Actor, request: TransitionRequest,
         expected_version: int | None = None) -> FireResult:
    """Fire ``request.trigger`` on an item on behalf of ``actor``, inside the caller's write transaction."""
    item = itemrows.load_item(conn, item_ref, lock=True)
    if item is None or not actor.can_see(item["unit_path"]):
        raise NotFound(f"item {item_ref} not found")
    require_agreement(conn, item)
    if expected_version is not None and expected_version != item["version"]:
        raise VersionConflict(f"item is at version {item['version']}, not {expected_version}",
                              current_version=item["version"])
    try:
        wf = rt.registry.by_hash(item["workflow_hash"])
    except UnknownWorkflow:
        raise IntegrityViolation(f"item {item['number']} names workflow version {item['workflow_hash'][:12]}, "
                                 f"which is not stored; run `closeloop audit verify`") from None
    now = rt.clock.now()
    today = rt.local_date(now)
    trigger = request.trigger
    tdef = wf.definition.transition(trigger, item["state"])
    if tdef is None:
        if trigger not in wf.triggers:  # only on the refusal path: the accepted path pays nothing for it
            raise UnknownTrigger(f"the workflow '{wf.definition.name}' has no trigger '{trigger}'",
                                 triggers=list(wf.triggers))
        raise InvalidTransition(f"'{trigger}' is not allowed from state '{item['state']}'", state=item["state"],
                                allowed_triggers=allowed_triggers(wf, item, actor, today))
    if not actor.roles & tdef.role_set:
        raise Forbidden(f"'{trigger}' needs one of the roles {', '.join(tdef.roles)}", reason="role")
    if not actor.can_act(tdef.role_set, item["unit_path"]):
        raise Forbidden(f"item {item['number']} is outside the unit scope in which {actor.username} may "
                        f"'{trigger}'", reason="unit_scope")
    not_theirs = assignee_refusal(actor, tdef, item)
    if not_theirs is not None:
        raise Forbidden(not_theirs, reason="not_assignee")
    fields = _with_defaults(request.fields.model_dump(exclude_none=True), wf, tdef, item, today)
    # The guards see the request as it will be applied, and a read-only view of it: nothing changes it after.
    ctx = GuardContext(actor=actor.username, roles=actor.roles, item=item, comment=request.comment,
                       evidence=recorded_evidence(conn, item["id"], request.evidence),
                       fields=MappingProxyType(fields), today=today, max_due=wf.definition.due_date.max)
    for spec in wf.access_guards(tdef):
        reason = spec.check(ctx)
        if reason is not None:
            raise Forbidden(reason, reason="separation_of_duties" if spec.name == "not_submitter" else spec.name)
    changes = _field_changes(conn, actor, tdef, item, fields)
    for name in ("due_date", "new_due_date"):
        slip = implausible_day(name, fields.get(name), today)
        if slip is not None:
            raise InvalidInput(slip, field=f"fields.{name}")
    if "assignee" not in changes and takes_on(actor, tdef, item):
        changes["assignee"] = actor.username  # 签收 by a unit member: they are now the one responsible
    dest = wf.fire(item["state"], trigger, ctx)
    if isinstance(dest, Refusal):
        raise GuardFailed(dest.reason, guard=dest.guard)
    for name in tdef.effects:
        changes.update(effects.REGISTRY[name](item, ctx.fields, actor.username))
    changes.update(_resumed_due_date(rt, wf, item, dest, changes, today))
    return _apply(conn, rt, Decision(wf, item, actor, request, ctx, dest, changes, now))


def _with_defaults(fields: dict, wf: CompiledWorkflow, tdef: TransitionDef, item: dict, today: dt.date) -> dict:
    """The request's fields with the workflow's defaults for what it leaves out (a first due date)."""
    default = wf.definition.due_date.default
    if default and "due_date" not in fields and "due_date" in tdef.accepted_fields and item["due_date"] is None:
        return {**fields, "due_date": add_duration(today, default)}
    return fields


def _field_changes(conn: sa.Connection, actor: Actor, tdef: TransitionDef, item: dict, fields: dict) -> dict:
    """Validate the request's fields for this trigger and turn them into column changes."""
    accepted = tdef.accepted_fields
    for name in fields:
        if name not in accepted:
            allowed = ", ".join(sorted(accepted)) or "none"
            raise GuardFailed(f"'{tdef.trigger}' does not set fields.{name} (it accepts: {allowed})", guard="fields")
    changes: dict = {}
    unit_path = item["unit_path"]
    if "unit" in fields and fields["unit"].lower() != item["unit_code"].lower():
        unit = resolve_unit(conn, actor, fields["unit"], tdef.role_set, field="fields.unit")
        changes.update(unit_id=unit.id, unit_code=unit.code, unit_path=unit.path)
        unit_path = unit.path
    # A transfer releases the assignee: the new unit names its own, or takes the item on when it accepts.
    kept = None if effects.RELEASE_ASSIGNEE.intersection(tdef.effects) else item["assignee"]
    if kept is not None and "unit_id" in changes and "assignee" not in fields and \
            unfit_assignee(conn, kept, unit_path) is not None:
        kept = None  # any other move to a unit the one named does not belong to releases them just the same
    assignee = fields.get("assignee", kept)
    if assignee is not None and (assignee != item["assignee"] or "unit_id" in changes):
        check_assignee(conn, assignee, unit_path, field="fields.assignee")
        changes["assignee"] = assignee
    elif assignee is None and item["assignee"] is not None:
        changes["assignee"] = None
    for name in ("due_date", "measures"):
        if name in fields and fields[name] != item[name]:
            changes[name] = fields[name]
    return changes


def _resumed_due_date(rt: Runtime, wf: CompiledWorkflow, item: dict, dest: str, changes: dict, today) -> dict:
    """Leaving a paused clock for a state due by the due date: the unit keeps the working days it had left.

    Time spent waiting on a decision (an extension request) is not the unit's to lose. A transition that
    sets the due date itself (a granted extension) decides instead.
    """
    definition = wf.definition
    if (definition.state(item["state"]).clock != "paused" or "due_date" in changes or item["due_date"] is None
            or definition.state(dest).due is None or definition.state(dest).due.field != "due_date"):
        return {}
    remaining = working_days_between(rt.local_date(item["state_entered_at"]), item["due_date"])
    resumed = add_working_days(today, remaining) if remaining > 0 else item["due_date"]
    return {"due_date": resumed} if resumed > item["due_date"] else {}


@dataclass(frozen=True)
class Decision:
    """What fire() decided, every check passed: the item goes to ``dest`` with ``changes``; nothing written yet."""

    wf: CompiledWorkflow
    item: dict
    actor: Actor
    request: TransitionRequest
    ctx: GuardContext
    dest: str
    changes: dict
    now: dt.datetime


def _apply(conn, rt: Runtime, decision: Decision) -> FireResult:
    """Write the new item row, the history record and the outbox row."""
    wf, item, changes, dest, now = decision.wf, decision.item, decision.changes, decision.dest, decision.now
    request = decision.request
    source = item["state"]
    after = {**item, **changes}
    if restarts_clock(wf.definition, source, dest):
        after["state_entered_at"] = now
    entered = rt.local_date(after["state_entered_at"])
    after["deadline"] = state_deadline(wf.definition, dest, entered=entered, due_date=after["due_date"])
    after["state"] = dest  # before the reminder clock, which reads the rules of the state the item is now in
    if (dest, after["state_entered_at"], after["deadline"]) != (source, item["state_entered_at"], item["deadline"]):
        # A new state entry or a new deadline: what was pending is dropped, the new rules take over.
        after["next_reminder_at"] = reminder_clock(rt, wf.definition, after)
    after["version"] = item["version"] + 1
    after["updated_at"] = now
    after["closed_at"] = now if wf.definition.state(dest).final else None
    # The row has no "unit" column (it is unit_id/unit_code): "unit" is recorded from unit_code just below.
    recorded = {k: after[k] for k in RECORDED_FIELDS if k in changes}
    if "unit_code" in changes:
        recorded["unit"] = after["unit_code"]
    record, record_params = history.new_record(
        item_id=item["id"], seq=item["history_seq"] + 1, trigger=request.trigger, from_state=source, to_state=dest,
        actor=decision.actor.username, at=rfc3339(now), comment=request.comment, evidence=decision.ctx.evidence,
        fields=recorded, prev_hash=item["history_hash"])
    after["history_seq"], after["history_hash"] = record["seq"], record["hash"]
    # SET only what changed: SQLite rewrites every index on a SET column, changed or not.
    changed = tuple(k for k in _UPDATED if after[k] != item[k])
    updated = itemrows.write_transition(conn, {k: after[k] for k in changed}, item, record_params,
                                        outbox_row("item.transitioned", after, record, now))
    if updated != 1:  # the row lock makes this impossible; refuse rather than fork the chain
        raise VersionConflict("item changed while the transition ran", current_version=item["version"] + 1)
    after_commit(conn, TRANSITIONS.labels(request.trigger).inc)
    return FireResult(after, record, wf)


_UPDATED = ("state", "version", "unit_id", "assignee", "due_date", "requested_due_date", "deadline", "next_reminder_at",
            "state_entered_at", "measures", "submitted_by", "reopened_count", "history_seq", "history_hash",
            "closed_at", "updated_at")


def fire_once(rt: Runtime, *, item_ref: str, actor: Actor, request: TransitionRequest,
              expected_version: int | None = None) -> FireResult:
    """fire() in a transaction of its own: for the command line, jobs and benchmarks."""
    with rt.store.write() as conn:
        return fire(conn, rt, item_ref=item_ref, actor=actor, request=request, expected_version=expected_version)

"""One shared ``transitions`` machine per workflow version, fired on a small carrier per call.

The machine is built once from validated definitions (never per item, never ``add_model`` per row).
Guards run as its conditions; a refusing condition leaves its reason on the carrier. Conditions are
pure: ``transitions`` does not roll back a state change when a callback raises, so nothing here does I/O.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from transitions import Machine

from engine import guards
from engine.definitions.workflow import TransitionDef, WorkflowDef
from engine.guards import GuardContext
from engine.text import is_blank

# Requirements satisfied by a value the item already has (the others must come with the request).
ITEM_VALUED = {"unit": "unit_code", "due_date": "due_date", "assignee": "assignee", "measures": "measures"}


class Refusal(NamedTuple):
    """Why a transition's conditions refused it: the guard (or "requires") and a reason for the caller."""

    guard: str
    reason: str


class Carrier:
    """The per-call stand-in the machine moves: a state, the guard context and any refusal."""

    __slots__ = ("state", "ctx", "refusal")

    def __init__(self, state: str, ctx: GuardContext) -> None:
        self.state = state
        self.ctx = ctx
        self.refusal: Refusal | None = None


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, str) and is_blank(value))


def _requirements(tdef: TransitionDef):
    def check(event) -> bool:
        carrier: Carrier = event.model
        ctx = carrier.ctx
        for name in tdef.requires:
            if name == "comment":
                present = not is_blank(ctx.comment)
            elif name == "evidence":
                present = bool(ctx.evidence)
            else:
                value = ctx.fields.get(name)
                if _missing(value) and name in ITEM_VALUED:
                    value = ctx.item.get(ITEM_VALUED[name])
                present = not _missing(value)
            if not present:
                carrier.refusal = Refusal("requires", f"'{tdef.trigger}' requires {name}")
                return False
        return True

    return check


def _rule_guard(spec: guards.GuardSpec):
    def check(event) -> bool:
        carrier: Carrier = event.model
        reason = spec.check(carrier.ctx)
        if reason is not None:
            carrier.refusal = Refusal(spec.name, reason)
            return False
        return True

    return check


@dataclass
class CompiledWorkflow:
    """A validated definition, its content hash and its machine."""

    hash: str
    definition: WorkflowDef
    machine: Machine
    triggers_by_state: dict[str, list[TransitionDef]] = field(default_factory=dict)
    # Every trigger the workflow defines, in file order: what an unknown trigger's refusal lists.
    triggers: tuple[str, ...] = ()

    def access_guards(self, tdef: TransitionDef) -> list[guards.GuardSpec]:
        """The guards of ``tdef`` that decide who may act (refusals are 403)."""
        return [guards.REGISTRY[g] for g in tdef.guards if guards.REGISTRY[g].kind == "access"]

    def fire(self, state: str, trigger: str, ctx: GuardContext) -> str | Refusal:
        """Run ``trigger`` from ``state``: the new state, or the Refusal of the condition that stopped it."""
        carrier = Carrier(state, ctx)
        if self.machine.events[trigger].trigger(carrier):
            return carrier.state
        return carrier.refusal or Refusal("guard", "the transition was refused")


def compile_workflow(definition: WorkflowDef, content_hash: str | None = None) -> CompiledWorkflow:
    """Build the shared machine for one workflow version."""
    machine = Machine(model=None, states=[s.name for s in definition.states], initial=definition.initial,
                      auto_transitions=False, send_event=True, ignore_invalid_triggers=False)
    by_state: dict[str, list[TransitionDef]] = {s.name: [] for s in definition.states}
    for tdef in definition.transitions:
        conditions = [_requirements(tdef)] + [
            _rule_guard(guards.REGISTRY[g]) for g in tdef.guards if guards.REGISTRY[g].kind == "rule"
        ]
        machine.add_transition(tdef.trigger, source=list(tdef.source), dest=tdef.dest, conditions=conditions)
        for source in tdef.source:
            by_state[source].append(tdef)
    triggers = tuple(dict.fromkeys(t.trigger for t in definition.transitions))
    return CompiledWorkflow(content_hash or definition.content_hash(), definition, machine, by_state, triggers)

"""Guards: small named pure functions that may refuse a transition, each saying why the rule exists.

A guard returns ``None`` to allow, or a sentence for the caller saying what is wrong. Access guards
refuse with 403 (who may act); rule guards refuse with 422 (what the request lacks).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Callable, Literal, Mapping

from engine.durations import Duration
from engine.workdays import add_duration


@dataclass(frozen=True)
class GuardContext:
    """Everything a guard may look at; built once per fire() call."""

    actor: str
    roles: frozenset[str]
    item: dict
    comment: str | None
    evidence: list[dict]
    fields: Mapping  # the request's fields, read-only: the same for every guard that looks
    today: dt.date
    max_due: Duration | None = None
    extra: dict = field(default_factory=dict)


Guard = Callable[[GuardContext], str | None]
GuardKind = Literal["access", "rule"]


@dataclass(frozen=True)
class GuardSpec:
    """A registered guard and whether its refusal is about who acts (403) or what is asked (422)."""

    name: str
    kind: GuardKind
    check: Guard


REGISTRY: dict[str, GuardSpec] = {}


def guard(name: str, kind: GuardKind = "rule") -> Callable[[Guard], Guard]:
    """Register a guard under the name workflow files use."""

    def register(fn: Guard) -> Guard:
        REGISTRY[name] = GuardSpec(name, kind, fn)
        return fn

    return register


@guard("not_submitter", kind="access")
def not_submitter(ctx: GuardContext) -> str | None:
    """Verification must be independent: whoever submitted the fix may not verify it (separation of duties)."""
    if ctx.item.get("submitted_by") and ctx.item["submitted_by"] == ctx.actor:
        return f"{ctx.actor} submitted this fix and so may not verify it"
    return None


@guard("before_deadline")
def before_deadline(ctx: GuardContext) -> str | None:
    """An extension must be asked for before the deadline passes, not after (延期须在期限届满前申请)."""
    due = ctx.item.get("due_date")
    if due is not None and ctx.today > due:
        return f"the deadline {due.isoformat()} has passed; an extension can only be requested before it"
    return None


@guard("later_due_date")
def later_due_date(ctx: GuardContext) -> str | None:
    """An extension that does not move the deadline later is not an extension (asked or granted)."""
    due = ctx.item.get("due_date")
    for name in ("new_due_date", "due_date"):
        new = ctx.fields.get(name)
        if new is not None and due is not None and new <= due:
            return f"{name} {new.isoformat()} must be later than the current due date {due.isoformat()}"
    return None


@guard("within_max_due")
def within_max_due(ctx: GuardContext) -> str | None:
    """Immediate fixes (立行立改) are due within days: a far-off deadline defeats the point of the workflow."""
    return past_max_due(ctx.fields.get("due_date", ctx.item.get("due_date")), ctx.max_due, ctx.today)


def past_max_due(due: dt.date | None, max_due: Duration | None, today: dt.date) -> str | None:
    """Why ``due`` is later than a workflow's maximum allows from ``today``, or None (registration shares it)."""
    if max_due is None or due is None:
        return None
    limit = add_duration(today, max_due)
    if due > limit:
        return f"due_date {due.isoformat()} is later than this workflow allows ({max_due} from today: {limit})"
    return None


@guard("has_assignee")
def has_assignee(ctx: GuardContext) -> str | None:
    """Work handed to a unit needs a named person responsible (责任人) before it can be accepted."""
    if not (ctx.fields.get("assignee") or ctx.item.get("assignee")):
        return "the item has no assignee; name one in fields.assignee"
    return None


@guard("changes_hands")
def changes_hands(ctx: GuardContext) -> str | None:
    """A transfer (转办) hands the item to another unit, or within its unit to another named assignee (改派:
    the way out when the one named has left or moved); the same hands again is no transfer."""
    target = ctx.fields.get("unit")
    if target is None:
        return "name the unit to transfer the item to in fields.unit"
    if target.lower() == (ctx.item.get("unit_code") or "").lower():  # unit codes ignore case
        new = ctx.fields.get("assignee")
        if new is None or new == ctx.item.get("assignee"):
            return (f"the item is already with {target}; a transfer names another unit, or another assignee "
                    f"within it in fields.assignee")
    return None

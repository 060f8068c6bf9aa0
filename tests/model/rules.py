"""The model of what the API should do, as plain rules: people and units, items, and who may fire what.

It reads the workflow files for states, transitions, roles, required inputs, guards and effects, and says
the rest in a few lines each (API.md and DESIGN.md are the source): a caller outside an item's read scope
gets 404; a stale If-Match 412; a trigger the workflow lacks 422; one not defined from the state 409; then
role, unit scope, the named assignee and separation of duties 403; then the request's own content 422.
Nothing here imports the code under test except the workflow loader and the official working-day calendar.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from engine.definitions.workflow import TransitionDef, WorkflowDef
from engine.workdays import is_working_day  # the official calendar, as data
from tests.helpers import SHA, UNITS, USERS

# auditor and admin read everything (API.md) and act everywhere their role allows (DESIGN.md pitfalls).
EVERYWHERE = frozenset({"auditor", "admin"})
# Guards that say who may act (403) rather than what the request lacks (422): separation of duties.
ACCESS_GUARDS = frozenset({"not_submitter"})


def _paths() -> dict[str, str]:
    paths: dict[str, str] = {}
    for code, _name, parent in UNITS:  # parents come first in the list
        paths[code] = (paths[parent] if parent else "/") + code + "/"
    return paths


UNIT_PATHS = _paths()


@dataclass(frozen=True)
class Person:
    """A user of the test world: name, roles and unit."""

    name: str
    roles: frozenset[str]
    unit: str

    def covers(self, unit: str) -> bool:
        """Whether ``unit`` is the person's own unit or below it."""
        return UNIT_PATHS[unit].startswith(UNIT_PATHS[self.unit])

    def sees(self, unit: str) -> bool:
        """Read scope."""
        return bool(self.roles & EVERYWHERE) or self.covers(unit)

    def acts(self, granting: frozenset[str], unit: str) -> bool:
        """Write scope for an action granted by ``granting``: only the granting roles' reach counts."""
        return bool(self.roles & granting & EVERYWHERE) or self.covers(unit)


PEOPLE = {name: Person(name, frozenset(roles), unit) for name, (roles, unit) in USERS.items()}


@dataclass
class Item:
    """What the model believes about one item."""

    id: str
    workflow: WorkflowDef
    state: str
    unit: str
    assignee: str | None
    due_date: dt.date | None = None
    requested_due_date: dt.date | None = None
    submitted_by: str | None = None
    version: int = 1
    entered_at: dt.datetime | None = None  # when the state's clock last (re)started: part of a notice's identity
    triggers: list[str] = field(default_factory=lambda: ["create"])
    notices: set | None = field(default_factory=set)  # None: the model does not know this state's notices

    def transitions_from_here(self) -> list[TransitionDef]:
        return [t for t in self.workflow.transitions if self.state in t.source]


def only_as_assignee(person: Person, tdef: TransitionDef) -> bool:
    """The person may fire ``tdef`` only through the assignee role: it is then the assignee's own work."""
    return person.roles & frozenset(tdef.roles) == {"assignee"}


def who_refuses(item: Item, person: Person, tdef: TransitionDef) -> str | None:
    """Why ``person`` may not fire ``tdef`` on ``item`` whatever the request says (a 403 reason), or None."""
    granting = frozenset(tdef.roles)
    if not person.roles & granting:
        return "role"
    if not person.acts(granting, item.unit):
        return "unit_scope"
    if only_as_assignee(person, tdef):
        # A named assignee does their own steps; with none named, a member of the item's very unit may.
        if item.assignee is not None and item.assignee != person.name:
            return "not_assignee"
        if item.assignee is None and person.unit != item.unit:
            return "not_assignee"
    if "not_submitter" in tdef.guards and item.submitted_by == person.name:
        return "separation_of_duties"
    return None


def allowed_triggers(item: Item, person: Person) -> list[str]:
    """What the item's view offers ``person`` now (sorted)."""
    return sorted({t.trigger for t in item.transitions_from_here() if who_refuses(item, person, t) is None})


def transfer_target(item: Item, person: Person) -> str | None:
    """Another unit within the person's reach to hand the item to, or None when there is none."""
    return next((code for code in UNIT_PATHS if code != item.unit and person.covers(code)), None)


def valid_body(item: Item, tdef: TransitionDef, person: Person, today: dt.date, due_in: int = 12) -> dict:
    """A request that gives ``tdef`` everything its workflow requires and its guards want."""
    body: dict = {"trigger": tdef.trigger}
    fields: dict = {}
    if "comment" in tdef.requires:
        body["comment"] = f"{tdef.trigger}：情况说明"
    if "evidence" in tdef.requires:
        body["evidence"] = [{"name": "整改报告.pdf", "sha256": SHA}]
    if tdef.trigger == "assign":
        fields["due_date"] = (today + dt.timedelta(days=due_in)).isoformat()
    if "measures" in tdef.requires:
        fields["measures"] = "制定整改方案"
    if "new_due_date" in tdef.requires:
        fields["new_due_date"] = ((item.due_date or today) + dt.timedelta(days=due_in)).isoformat()
    if "changes_hands" in tdef.guards:
        target = transfer_target(item, person)
        fields["unit"] = target or item.unit  # no other unit within reach: a refusal the model predicts
    if fields:
        body["fields"] = fields
    return body


SETTABLE = ("unit", "due_date", "new_due_date", "assignee", "measures")


def spoil(body: dict, tdef: TransitionDef, how: str) -> dict:
    """``body`` spoiled: without its comment or evidence, or with a field ``tdef`` does not set."""
    spoiled = {k: v for k, v in body.items() if not (how == "no_comment" and k == "comment")
               and not (how == "no_evidence" and k == "evidence")}
    if how == "foreign_field":
        foreign = next(name for name in SETTABLE if name not in accepted(tdef))
        spoiled["fields"] = {**body.get("fields", {}), foreign: "2030-01-01" if "date" in foreign else "DEPT-B"}
    return spoiled


def accepted(tdef: TransitionDef) -> set[str]:
    """The fields a request for ``tdef`` may set: those it lists and those it requires."""
    return set(tdef.fields) | {name for name in tdef.requires if name in SETTABLE}


def content_refusal(item: Item, tdef: TransitionDef, body: dict, today: dt.date, max_due: dt.date | None) -> str | None:
    """Why the request's content is refused (422 guard-failed), or None: fields, requirements, rule guards."""
    fields = {k: v for k, v in body.get("fields", {}).items()}
    if any(name not in accepted(tdef) for name in fields):
        return "fields"
    for need in tdef.requires:
        if need == "comment" and not (body.get("comment") or "").strip():
            return "requires"
        if need == "evidence" and not body.get("evidence"):
            return "requires"
        if need in ("new_due_date", "measures") and need not in fields:
            return "requires"
        if need == "due_date" and "due_date" not in fields and item.due_date is None:
            return "requires"
        if need == "unit" and "unit" not in fields and tdef.trigger == "transfer":
            return "requires"
    due = item.due_date
    new_due = dt.date.fromisoformat(fields["due_date"]) if "due_date" in fields else None
    for guard in tdef.guards:
        if guard == "before_deadline" and due is not None and today > due:
            return guard
        if guard == "later_due_date":
            asked = fields.get("new_due_date") or fields.get("due_date")
            if asked is not None and due is not None and dt.date.fromisoformat(asked) <= due:
                return guard
        if guard == "within_max_due" and max_due is not None and (new_due or due) and (new_due or due) > max_due:
            return guard
        if guard == "changes_hands" and fields.get("unit") in (None, item.unit) and fields.get("assignee") is None:
            return guard
    return None


@dataclass(frozen=True)
class Expected:
    """The answer the model predicts: status, and what the problem names (403 reason or 422 guard)."""

    status: int
    why: str | None = None
    tdef: TransitionDef | None = None


def expect_transition(item: Item, person: Person, body: dict, if_match: int | None, today: dt.date,
                      max_due: dt.date | None) -> Expected:
    """The answer to POST /items/{id}/transitions, checked in the order API.md's table implies."""
    if not person.sees(item.unit):
        return Expected(404)
    if if_match is not None and if_match != item.version:
        return Expected(412)
    trigger = body["trigger"]
    if trigger not in {t.trigger for t in item.workflow.transitions}:
        return Expected(422, "unknown-trigger")
    tdef = next((t for t in item.transitions_from_here() if t.trigger == trigger), None)
    if tdef is None:
        return Expected(409, "invalid-transition")
    refusal = who_refuses(item, person, tdef)
    if refusal is not None:
        return Expected(403, refusal)
    reason = content_refusal(item, tdef, body, today, max_due)
    if reason is not None:
        return Expected(422, reason)
    return Expected(200, None, tdef)


def working_days_after(start: dt.date, end: dt.date) -> int:
    """Working days after ``start`` up to and including ``end`` (0 when ``end`` is not later)."""
    return sum(1 for n in range(1, (end - start).days + 1) if is_working_day(start + dt.timedelta(days=n)))


def add_working_days(start: dt.date, count: int) -> dt.date:
    """The date ``count`` working days after ``start``."""
    day = start
    while count > 0:
        day += dt.timedelta(days=1)
        count -= is_working_day(day)
    return day


def apply(item: Item, person: Person, tdef: TransitionDef, body: dict, now: dt.datetime) -> None:
    """Move the model's item as an accepted transition does: state, version, history, and the fields the
    workflow's effects change (DESIGN.md and the effects' own words in engine/effects.py)."""
    fields = body.get("fields", {})
    source, wf, today = item.state, item.workflow, now.date()
    if "unit" in fields and fields["unit"] != item.unit:
        item.unit = fields["unit"]
    if "hand_over" in tdef.effects:  # 转办 releases the assignee and any pending extension request
        item.assignee, item.requested_due_date = fields.get("assignee"), None
    elif item.assignee is None and only_as_assignee(person, tdef):
        item.assignee = person.name  # an unnamed item is taken on by whoever of its unit does the step
    if "due_date" in fields:
        item.due_date = dt.date.fromisoformat(fields["due_date"])
    for effect in tdef.effects:
        if effect == "record_submitter":
            item.submitted_by = person.name
        elif effect == "store_extension_request":
            item.requested_due_date = dt.date.fromisoformat(fields["new_due_date"])
        elif effect == "apply_extension":
            item.due_date = dt.date.fromisoformat(fields["due_date"]) if "due_date" in fields else item.requested_due_date
            item.requested_due_date = None
        elif effect == "clear_extension":
            item.requested_due_date = None
        elif effect == "count_reopen":
            item.submitted_by = None
    dest_due = wf.state(tdef.dest).due
    if (wf.state(source).clock == "paused" and "due_date" not in fields and "apply_extension" not in tdef.effects
            and item.due_date is not None and dest_due is not None and dest_due.field == "due_date"):
        # Waiting on a decision costs the unit nothing: it keeps the working days it had left when it asked.
        left = working_days_after(item.entered_at.date(), item.due_date)
        if left > 0:
            item.due_date = max(item.due_date, add_working_days(today, left))
    if source != tdef.dest or (dest_due is not None and dest_due.every is not None):
        item.entered_at = now  # a new state entry, or a rhythm state's clock restarting
    item.state = tdef.dest
    item.version += 1
    item.triggers.append(tdef.trigger)

"""The shape of a workflow file, as pydantic models that refuse unknown keys."""
from __future__ import annotations

import hashlib
import json
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from engine.durations import Duration, parse_duration

ROLES = ("registrar", "supervisor", "assignee", "verifier", "auditor", "admin")
# Item fields a transition may set through the request's "fields" object.
SETTABLE_FIELDS = ("unit", "due_date", "assignee", "measures", "new_due_date")
# What a transition may require: the comment, evidence, or one of the settable fields.
REQUIREMENTS = ("comment", "evidence", *SETTABLE_FIELDS)
IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]{0,62}$")

Role = Literal["registrar", "supervisor", "assignee", "verifier", "auditor", "admin"]
# Who a reminder or escalation goes to, in words engine.reminders.recipients defines.
Recipient = Literal["assignee", "leader", "supervisor", "verifier", "auditor"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _duration(value: object) -> Duration:
    if isinstance(value, Duration):
        return value
    if isinstance(value, dict):  # the stored (canonical JSON) form of a definition
        return Duration(int(value["amount"]), value["unit"])
    return parse_duration(str(value))


def _identifier(value: str) -> str:
    if not IDENTIFIER.match(value):
        raise ValueError(f"{value!r} is not a lower-case identifier (a-z, 0-9, _)")
    return value


class Title(_Strict):
    """A name shown to people, in Chinese and English."""

    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)


class Due(_Strict):
    """When the work in a state is due: a span from entering it, the item's due date, or a rhythm."""

    within: Duration | None = None
    field: Literal["due_date"] | None = None
    every: Duration | None = None

    _parse = field_validator("within", "every", mode="before")(lambda v: None if v is None else _duration(v))

    @model_validator(mode="after")
    def _exactly_one(self) -> "Due":
        given = [k for k in ("within", "field", "every") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of 'within', 'field' or 'every'")
        return self


class Reminder(_Strict):
    """A reminder rule: some time before the deadline, or repeatedly once overdue."""

    before: Duration | None = None
    overdue_every: Duration | None = None
    notify: list[Recipient] = Field(min_length=1)

    _parse = field_validator("before", "overdue_every", mode="before")(
        lambda v: None if v is None else _duration(v)
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> "Reminder":
        if (self.before is None) == (self.overdue_every is None):
            raise ValueError("give exactly one of 'before' or 'overdue_every'")
        return self


def _all_known(names: list[str], known, kind: str, listed_as: str) -> list[str]:
    """``names`` when each is one of ``known``; ValueError naming the first that is not, and the known ones."""
    for name in names:
        if name not in known:
            raise ValueError(f"unknown {kind} {name!r} ({listed_as}: {', '.join(known)})")
    return names


class Escalation(_Strict):
    """A 督办 notice level issued once the deadline has passed by a given span."""

    after_overdue: Duration
    level: Literal["blue", "orange", "red"]
    # Empty: the level climbs the unit tree (engine.reminders.recipients); given: exactly these people.
    notify: list[Recipient] = []

    _parse = field_validator("after_overdue", mode="before")(_duration)


class DueDatePolicy(_Strict):
    """Workflow-wide rules for the item's due date: a default when none is given, and a maximum."""

    default: Duration | None = None
    max: Duration | None = None

    _parse = field_validator("default", "max", mode="before")(lambda v: None if v is None else _duration(v))


class StateDef(_Strict):
    """One state of the workflow."""

    name: str
    title: Title
    due: Due | None = None
    reminders: list[Reminder] = []
    escalation: list[Escalation] = []
    clock: Literal["running", "paused"] = "running"
    final: bool = False

    _name = field_validator("name")(_identifier)


class TransitionDef(_Strict):
    """One allowed move: trigger, from where, to where, who may fire it and what it needs."""

    trigger: str
    source: list[str]
    dest: str
    roles: list[Role] = Field(min_length=1)
    requires: list[str] = []
    fields: list[str] = []
    guards: list[str] = []
    effects: list[str] = []
    title: Title | None = None

    _trigger = field_validator("trigger")(_identifier)

    @field_validator("source", mode="before")
    @classmethod
    def _listify(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    _requirements = field_validator("requires")(lambda value: _all_known(value, REQUIREMENTS, "requirement", "known"))
    _fields = field_validator("fields")(lambda value: _all_known(value, SETTABLE_FIELDS, "field", "settable"))

    @property
    def role_set(self) -> frozenset[str]:
        """The roles that may fire this transition, as a set."""
        return frozenset(self.roles)

    @property
    def accepted_fields(self) -> frozenset[str]:
        """Fields the request may set: the listed ones plus the required ones."""
        return frozenset(self.fields) | frozenset(r for r in self.requires if r in SETTABLE_FIELDS)


class WorkflowDef(_Strict):
    """A whole workflow file."""

    name: str
    version: str
    title: Title
    description: str | None = None
    initial: str
    due_date: DueDatePolicy = DueDatePolicy()
    states: list[StateDef] = Field(min_length=2)
    transitions: list[TransitionDef] = Field(min_length=1)

    _name = field_validator("name")(_identifier)

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, value: object) -> object:
        if isinstance(value, float):  # only from a file: a stored version is JSON text
            raise ValueError(f'write the version {value} in quotes ("{value}"): YAML reads 2026.10 as the number '
                             f"2026.1")
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    def state(self, name: str) -> StateDef:
        """The state called ``name`` (KeyError if none)."""
        for state in self.states:
            if state.name == name:
                return state
        raise KeyError(name)

    def transition(self, trigger: str, source: str) -> TransitionDef | None:
        """The transition fired by ``trigger`` from ``source``, if any."""
        for transition in self.transitions:
            if transition.trigger == trigger and source in transition.source:
                return transition
        return None

    def canonical(self) -> str:
        """The definition as canonical JSON: what is stored and hashed for each version."""
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    def content_hash(self) -> str:
        """SHA-256 of the canonical definition: the identity of this exact rule set."""
        return hashlib.sha256(self.canonical().encode()).hexdigest()

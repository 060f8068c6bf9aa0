"""The quick check of one bundle item: the common case, an intact item, in one pass without copying records.

It answers only "intact, with this many records" or "not sure" (None). Anything unusual — a type, a key
order, a float, a text that is not canonical, a mismatch of any kind — is "not sure", and the item goes to
the reference check (engine.audit.verify.check_item), which alone names findings. So the quick check can
make verification faster but never different: every item it passes, the reference passes too
(tests/engine/test_quick_check.py holds it to that on thousands of altered items).

It relies on its input being parsed by orjson (exact ``str``, ``int``, ``list``, ``dict``; never a subclass).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from operator import itemgetter

import orjson

from engine.audit.replay import _PLAIN_KINDS, _REPLAYED_SET, NUMBER, REPLAYED, _apply_effects, _has_float, _instant
from engine.definitions import WorkflowDef
from engine.definitions.workflow import TransitionDef
from engine.history import GENESIS

# A record as the exporter writes it, in this key order; any other shape goes to the reference check.
_RECORD_KEYS = ("item_id", "seq", "trigger", "from_state", "to_state", "actor", "at", "comment", "evidence",
                "fields", "prev_hash", "hash")
# An item row as the exporter writes it (engine.audit.bundle), in this column order.
_ROW_COLUMNS = ("id", "number", "workflow", "workflow_hash", "state", "version", "title", "description", "source",
                "severity", "unit", "assignee", "due_date", "requested_due_date", "measures", "external_ref",
                "campaign", "tags", "submitted_by", "reopened_count", "history_seq", "history_hash", "closed_at",
                "created_at")
_CREATIONS = ("create", "import")
_SORT_KEYS = orjson.OPT_SORT_KEYS
_sha256 = hashlib.sha256
_dumps = orjson.dumps
_loads = orjson.loads
# The replayed columns compared as they are, in the order _row_agrees lists them; tags and the two texts
# whose null is stored as "" are compared on their own.
_as_compared = itemgetter("workflow", "workflow_hash", "title", "source", "severity", "unit", "assignee", "due_date",
                          "requested_due_date", "external_ref", "campaign", "submitted_by", "reopened_count")


@dataclass(frozen=True)
class Plan:
    """What the quick check needs of one workflow version, looked up by key instead of searched."""

    initial: str
    # (trigger, from_state) -> the transition the reference would pick: the first in the list that matches.
    steps: dict[tuple[str, str], TransitionDef]
    final: dict[str, bool]


def plans_of(workflows: dict[str, WorkflowDef], bad_workflows: dict[str, str]) -> dict[str, Plan]:
    """A plan for each workflow version that verified (items on any other are left to the reference check)."""
    plans = {}
    for content_hash, definition in workflows.items():
        if content_hash in bad_workflows:  # a second, altered copy in the bundle: the reference names it
            continue
        steps: dict[tuple[str, str], TransitionDef] = {}
        for transition in definition.transitions:
            for source in transition.source:
                steps.setdefault((transition.trigger, source), transition)
        final: dict[str, bool] = {}
        for state in definition.states:
            final.setdefault(state.name, state.final)  # WorkflowDef.state() answers with the first of a name
        plans[content_hash] = Plan(definition.initial, steps, final)
    return plans


def intact_records(entry: object, plans: dict[str, Plan], claims: dict[str, list[tuple[int, str, int]]]
                   ) -> int | None:
    """The number of records of an item that passes every check, or None when the reference check must decide."""
    if type(entry) is not dict:
        return None
    item_id, row, history = entry.get("id"), entry.get("item"), entry.get("history")
    if type(item_id) is not str or type(row) is not dict or type(history) is not list or not history:
        return None
    prev, prev_to, plan, state, closing = GENESIS, None, None, {}, None
    try:  # a text orjson will not read, or a record it will not write (a lone surrogate): the reference decides
        for seq, record in enumerate(history, start=1):
            if type(record) is not dict or tuple(record) != _RECORD_KEYS:
                return None
            (owner, number, trigger, from_state, to_state, actor, at, comment, evidence, fields, prev_hash,
             stated) = record.values()
            # A value found equal to text is text (orjson makes exact types, and no other type equals a str):
            # owner, prev_hash and from_state by these comparisons; trigger and to_state by the workflow's look-up
            # below, the stated hash by the computed one. A whole number may be a bool (True == 1): typed here.
            if (owner != item_id or number != seq or type(number) is not int or prev_hash != prev
                    or from_state != prev_to or type(actor) is not str or type(at) is not str
                    or not (comment is None or type(comment) is str)):
                return None
            listed = [] if evidence == "[]" else _loads(evidence)  # most records carry no evidence
            named = {} if fields == "{}" else _loads(fields)
            if type(listed) is not list or type(named) is not dict:
                return None
            # Floats are looked for only under what holds more than text, numbers and null (a set made in C).
            if ((listed and not set(map(type, listed)) <= _PLAIN_KINDS and _has_float(listed))
                    or (named and not set(map(type, named.values())) <= _PLAIN_KINDS and _has_float(named))):
                return None
            hashed = {"item": owner, "seq": number, "trigger": trigger, "from_state": from_state,
                      "to_state": to_state, "actor": actor, "at": at, "comment": comment, "evidence": listed,
                      "fields": named, "prev_hash": prev_hash}
            if _sha256(_dumps(hashed, option=_SORT_KEYS)).hexdigest() != stated:
                return None
            if seq == 1:
                workflow_hash = named.get("workflow_hash")
                plan = plans.get(workflow_hash) if type(workflow_hash) is str else None
                if plan is None or trigger not in _CREATIONS or to_state != plan.initial:
                    return None
                state = dict(zip(REPLAYED, map(named.get, REPLAYED)))
                state["submitted_by"], state["reopened_count"] = None, 0
                if NUMBER in named:
                    state[NUMBER] = named[NUMBER]
            else:
                step = plan.steps.get((trigger, from_state))
                if step is None or step.dest != to_state:
                    return None
                if step.effects:
                    _apply_effects(step, hashed, state)
                if named:
                    if named.keys() <= _REPLAYED_SET:
                        state.update(named)
                    elif NUMBER in named:  # only the creation record names the number
                        return None
                    else:
                        state.update({k: v for k, v in named.items() if k in _REPLAYED_SET})
            if not plan.final.get(to_state):
                closing = None
            elif from_state != to_state:
                closing = at  # the record that brought the item into its final state dates its closed_at
            prev, prev_to = stated, to_state
    except (orjson.JSONDecodeError, TypeError):
        return None
    if not _row_agrees(row, state, len(history), prev, prev_to, plan, history[0]["at"], closing):
        return None
    for seq, head, _number in claims.get(item_id, ()):
        if not 1 <= seq <= len(history) or history[seq - 1]["hash"] != head:
            return None
    return len(history)


def _row_agrees(row: dict, state: dict, head: int, head_hash: str, head_state: str, plan: Plan,
                created: str, closing: str | None) -> bool:
    """Whether the item row says what the replay says (engine.audit.replay.check_row, for plain JSON rows)."""
    if tuple(row) != _ROW_COLUMNS:
        return False
    (_id, number, workflow, workflow_hash, state_now, version, title, description, source, severity, unit,
     assignee, due_date, requested_due_date, measures, external_ref, campaign, tags, submitted_by,
     reopened_count, history_seq, history_hash, closed_at, created_at) = row.values()
    if ((history_seq, history_hash, version, state_now) != (head, head_hash, head, head_state)
            or (NUMBER in state and number != state[NUMBER])
            or (workflow, workflow_hash, title, source, severity, unit, assignee, due_date, requested_due_date,
                external_ref, campaign, submitted_by, reopened_count) != _as_compared(state)
            or description != ("" if state["description"] is None else state["description"])
            or measures != ("" if state["measures"] is None else state["measures"])):
        return False
    final = plan.final.get(head_state)
    if final is None or (closed_at is not None) != final or not _tags_agree(tags, state["tags"]):
        return False
    return _same_instant(created_at, created) and (not final or _same_instant(closed_at, closing))


def _same_instant(stored: object, at: str | None) -> bool:
    """Whether a stored time is the record's ``at`` (its RFC 3339 text)."""
    try:
        when = dt.datetime.fromisoformat(stored)
    except (TypeError, ValueError):
        return False
    # A time without a zone is UTC: its RFC 3339 form is its ISO form with a "Z" (what _instant writes).
    return (when.isoformat("T", "microseconds") + "Z" if when.tzinfo is None else _instant(stored)) == at


def _tags_agree(stored: object, tags: object) -> bool:
    """The stored tags text read as JSON equals the replayed tags (canonical text is compared as it is)."""
    if stored == _dumps(tags, option=_SORT_KEYS).decode():
        return True
    try:
        return type(stored) is str and json.loads(stored) == tags
    except (ValueError, RecursionError):
        return False

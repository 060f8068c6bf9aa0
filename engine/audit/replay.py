"""Replaying one item's history: each record against its own hash, the record before it, its workflow and,
at the end, the item row that claims to be where the history led.

Everything read here may be malformed on purpose (that is what a verifier exists to find), so every value
is checked for its type before it is used, and a problem is a ``Finding``, never an exception.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass

import orjson

from engine import effects
from engine.clock import UTC, rfc3339
from engine.definitions import WorkflowDef
from engine.definitions.workflow import TransitionDef
from engine.history import GENESIS
from engine.lookback.schemas import RECHECK_FIELDS, RECHECK_TRIGGER

# Item columns whose current value the history fixes: the creation record registers them all, and each
# later record names those its transition changed ("unit" is the unit's code).
REPLAYED = ("title", "description", "source", "severity", "unit", "assignee", "due_date", "requested_due_date",
            "measures", "external_ref", "campaign", "tags", "workflow", "workflow_hash", "submitted_by",
            "reopened_count")
_REPLAYED_SET = frozenset(REPLAYED)
# The item's number (编号) is named by its creation record alone (one made before closeloop recorded it names
# none): never replayed, so that no later record can change what offices and the ledger know the item by.
NUMBER = "number"
# A history row as the database and the bundle give it: the hashed columns (``item_id`` for ``item``) and ``hash``.
_ROW_KEYS = frozenset({"item_id", "seq", "trigger", "from_state", "to_state", "actor", "at", "comment", "evidence",
                       "fields", "prev_hash", "hash"})
_STRINGS = ("trigger", "to_state", "actor", "at", "prev_hash", "hash")
_OPTIONAL_STRINGS = ("from_state", "comment")
_TEXT_KEYS = _STRINGS + _OPTIONAL_STRINGS


class _FloatFound(ValueError):
    """A number with a fraction or an exponent: canonical JSON has none, so no genuine record holds one."""


def _no_float(text: str) -> None:
    raise _FloatFound(text)


# What a record's JSON text parses to is already plain JSON (str, int, bool, None, lists, dicts with text keys)
# once floats are refused while parsing, so it is hashed with the canonical encoder directly: the same bytes as
# engine.canonical.canonical_bytes, without walking every value again (this loop runs once per record).
_parse = json.JSONDecoder(parse_float=_no_float, parse_constant=_no_float).decode
_canonical = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode


@dataclass(frozen=True)
class Finding:
    """The first problem of one item: the record it was found at (None: the item row itself) and why."""

    seq: int | None
    reason: str


# What a parsed JSON value holds that needs no closer look for floats.
_PLAIN_KINDS = frozenset({str, int, bool, type(None)})


def _has_float(value: object) -> bool:
    """Whether a parsed JSON value holds a float anywhere (orjson also reads integers past 64 bits as floats).

    Walked with a list of the containers still to look into, not by recursion: a value nests as deep as the
    parser allows (orjson: 1,024 levels), deeper than Python's recursion limit.
    """
    pending = [value]
    while pending:
        value = pending.pop()
        kind = type(value)
        if kind is dict:
            values = value.values()
        elif kind is list:
            values = value
        elif kind is float:
            return True
        else:
            continue
        kinds = set(map(type, values))  # one pass in C: most records hold only text, numbers and null
        if kinds <= _PLAIN_KINDS:
            continue
        if float in kinds:
            return True
        pending.extend(v for v in values if type(v) is dict or type(v) is list)
    return False


def _loads_fast(text: object, kind: type) -> object:
    """``text`` read by orjson as a ``kind`` holding no float, or None when the reference parser must decide."""
    if type(text) is not str:
        return None
    if text == "[]" and kind is list:  # most records carry no evidence
        return []
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return value if type(value) is kind and not _has_float(value) else None


def _hash_fast(record: dict, evidence: object, fields: object) -> str | None:
    """The record's hash by orjson, or None when only the reference encoder can answer for it.

    orjson writes the same bytes as the canonical encoder for text, booleans, null, 64-bit integers, lists and
    objects with sorted text keys (checked against every code point in the tests), and refuses what it cannot
    encode that way (lone surrogates, larger integers). What it would read differently (floats, integers past
    64 bits, lone surrogates, NaN) is sent to the reference path, so the two paths never disagree.
    """
    evidence_value = _loads_fast(evidence, list)
    fields_value = _loads_fast(fields, dict) if evidence_value is not None else None
    if fields_value is None:
        return None
    record["evidence"], record["fields"] = evidence_value, fields_value
    try:
        return hashlib.sha256(orjson.dumps(record, option=orjson.OPT_SORT_KEYS)).hexdigest()
    except TypeError:
        return None


def _malformed(row: dict) -> str | None:
    """What makes a row's plain columns unusable (it has already failed the quick type check)."""
    seq = row.get("seq")
    if type(seq) is not int:
        return f"seq {seq!r} is not a whole number"
    for key in _STRINGS:
        if not isinstance(row.get(key), str):
            return f"{key} is not text"
    for key in _OPTIONAL_STRINGS:
        if row.get(key) is not None and not isinstance(row[key], str):
            return f"{key} is not text"
    return None  # only subclasses of str, which are text too


def _columns(row: dict) -> dict | None:
    """The hashed columns of a well-typed row as a record (``item`` for ``item_id``), else None."""
    if row.keys() == _ROW_KEYS:  # a row as read: copied in one step
        record = dict(row)
        record["item"] = record.pop("item_id")
        del record["hash"]
    else:
        get = row.get
        record = {"item": get("item_id"), "seq": get("seq"), "trigger": get("trigger"),
                  "from_state": get("from_state"), "to_state": get("to_state"), "actor": get("actor"),
                  "at": get("at"), "comment": get("comment"), "prev_hash": get("prev_hash"),
                  "evidence": get("evidence"), "fields": get("fields")}
    from_state, comment = record["from_state"], record["comment"]
    if (type(record["seq"]) is int and type(record["trigger"]) is str and type(record["to_state"]) is str
            and type(record["actor"]) is str and type(record["at"]) is str and type(record["prev_hash"]) is str
            and type(row.get("hash")) is str and (from_state is None or type(from_state) is str)
            and (comment is None or type(comment) is str)):
        return record
    return None


def decode_record(row: dict) -> tuple[dict | None, str | None]:
    """A stored history row as the record that was hashed, or (None, what is malformed about it)."""
    record = _columns(row)
    if record is None:
        problem = _malformed(row)
        if problem is not None:
            return None, problem
        record = _columns(dict(row, **{k: str(row[k]) for k in _TEXT_KEYS if isinstance(row.get(k), str)}))
    computed = _hash_fast(record, record["evidence"], record["fields"])
    if computed is None:
        computed, problem = _hash_reference(record, row)
        if computed is None:
            return None, problem
    record["hash"] = row["hash"]
    record["_computed"] = computed
    return record, None


def _hash_reference(record: dict, row: dict) -> tuple[str | None, str | None]:
    """The record's hash by the standard library's encoder (the documented formula), or (None, why not)."""
    for key, kind in (("evidence", list), ("fields", dict)):
        text = row.get(key)
        try:
            value = _parse(text) if isinstance(text, str) else None
        except _FloatFound as exc:
            return None, f"the record cannot be hashed: its {key} holds the number {exc} (canonical JSON has no floats)"
        except ValueError:
            return None, f"{key} is not valid JSON"
        except RecursionError:  # a parser that recurses cannot follow it; a genuine record never nests so
            return None, f"{key} nests too deeply to be read"
        if not isinstance(value, kind):
            return None, f"{key} is not a JSON {'list' if kind is list else 'object'}"
        record[key] = value
    try:
        return hashlib.sha256(_canonical(record).encode("utf-8")).hexdigest(), None
    except (TypeError, ValueError) as exc:  # text canonical JSON cannot hold (a lone surrogate)
        return None, f"the record cannot be hashed: {exc}"


def _initial_state(fields: dict) -> dict:
    state = {k: fields.get(k) for k in REPLAYED}
    state.update(submitted_by=None, reopened_count=0)
    return state


def _apply_effects(tdef: TransitionDef, record: dict, state: dict) -> None:
    """Columns a transition's effects set that its record does not name (who submitted, how often reopened)."""
    recorded = record["fields"]
    for name in tdef.effects:
        try:
            changes = effects.REGISTRY[name](state, {"new_due_date": recorded.get("requested_due_date"), **recorded},
                                             record["actor"])
        except (KeyError, TypeError):
            continue
        state.update({k: v for k, v in changes.items() if k in ("submitted_by", "reopened_count")})


def _recheck_problem(record: dict, definition: WorkflowDef) -> str | None:
    """A look-back re-check (engine/lookback/recheck.py) records a result on a closed item and moves nothing."""
    final = {s.name for s in definition.states if s.final}
    if record["to_state"] != record["from_state"] or record["from_state"] not in final:
        return (f"a look-back re-check from {record['from_state']!r} to {record['to_state']!r}: it is recorded only "
                f"on a closed item, which it leaves where it is")
    if set(record["fields"]) != RECHECK_FIELDS or record["fields"].get("result") not in ("passed", "failed"):
        return "a look-back re-check names its look-back and a result (passed or failed), and nothing else"
    return None


def _opens_chain(record: dict, definition: WorkflowDef) -> bool:
    """A chain opens with a creation into the initial state, or an import into the state its ledger row named."""
    if record["trigger"] == "create":
        return record["to_state"] == definition.initial
    if record["trigger"] == "import":
        return record["to_state"] in {s.name for s in definition.states}
    return False


def check_records(records: list[dict], workflows: dict[str, WorkflowDef], bad_workflows: dict[str, str]
                  ) -> tuple[int, Finding | None, dict | None]:
    """Check one item's decoded records in seq order: (records intact, first finding, replayed state).

    The replayed state (REPLAYED columns plus ``state``, ``seq``, ``hash``, ``created_at``, and ``number`` when
    the creation record names it) is what the item row must say; it is None when the chain is broken before its end.
    """
    prev_hash, prev_to, definition, state, closing = GENESIS, None, None, None, None
    for expected, record in enumerate(records, start=1):
        seq = record["seq"]
        if seq != expected:
            return expected - 1, Finding(seq, f"expected seq {expected}: a record is missing or out of place"), None
        if record["prev_hash"] != prev_hash:
            return expected - 1, Finding(seq, "prev_hash does not match the hash of the record before"), None
        if record["_computed"] != record["hash"]:
            return expected - 1, Finding(seq, "hash does not match the record's content: it was altered"), None
        if record["from_state"] != prev_to:
            return expected - 1, Finding(seq, f"from_state {record['from_state']!r} is not where the record before "
                                              f"left the item ({prev_to!r})"), None
        fields = record["fields"]
        if seq == 1:
            workflow_hash = fields.get("workflow_hash")
            if isinstance(workflow_hash, str) and workflow_hash in bad_workflows:
                return 0, Finding(1, f"the item's workflow version {str(workflow_hash)[:12]}: "
                                     f"{bad_workflows[workflow_hash]}"), None
            definition = workflows.get(workflow_hash) if isinstance(workflow_hash, str) else None
            if definition is None:
                return 0, Finding(1, f"the creation record names workflow version {workflow_hash!r}, "
                                     f"which is not stored"), None
            if not _opens_chain(record, definition):
                return 0, Finding(1, f"the first record must be a creation into {definition.initial!r}, or an "
                                     f"import into a state of the workflow"), None
            state = _initial_state(fields)
            if NUMBER in fields:
                state[NUMBER] = fields[NUMBER]
        elif record["trigger"] == RECHECK_TRIGGER:
            problem = _recheck_problem(record, definition)
            if problem is not None:
                return expected - 1, Finding(seq, problem), None
        else:
            tdef = definition.transition(record["trigger"], record["from_state"])
            if tdef is None or tdef.dest != record["to_state"]:
                return expected - 1, Finding(seq, f"'{record['trigger']}' from {record['from_state']!r} to "
                                                  f"{record['to_state']!r} is not a transition of the item's "
                                                  f"workflow"), None
            if NUMBER in fields:
                return expected - 1, Finding(seq, f"the record names the number {fields[NUMBER]!r}: only the creation "
                                                  f"record names an item's number"), None
            if tdef.effects:
                _apply_effects(tdef, record, state)
            if fields:
                state.update({k: v for k, v in fields.items() if k in _REPLAYED_SET})
        if not definition.state(record["to_state"]).final:
            closing = None
        elif seq == 1 or record["from_state"] != record["to_state"]:
            closing = record  # the record that brought the item into its final state: it dates closed_at
        prev_hash, prev_to = record["hash"], record["to_state"]
    if state is None:
        return 0, Finding(None, "item has no history records"), None
    state.update(state=prev_to, seq=len(records), hash=prev_hash, created_at=records[0]["at"],
                 final=definition.state(prev_to).final,
                 closing=None if closing is None else (closing["at"], closing["fields"].get("closed_on")
                                                       if closing["trigger"] == "import" else None))
    return len(records), None, state


def _as_text(value: object) -> object:
    """A raw column value as the history writes it: dates as YYYY-MM-DD, everything else unchanged."""
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _instant(value: object) -> str | None:
    """A stored UTC time (SQLite text or a PostgreSQL timestamp) as the history's RFC 3339 text."""
    try:
        when = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return rfc3339(when.replace(tzinfo=UTC) if when.tzinfo is None else when)


def check_row(row: dict, replayed: dict) -> Finding | None:
    """Compare an item row with the state its history replays to; name the first column that disagrees."""
    head = replayed["seq"]
    if row["history_seq"] != head:
        return Finding(head, f"item's recorded head is seq {row['history_seq']} but its history ends at seq {head}")
    if row["history_hash"] != replayed["hash"]:
        return Finding(head, "item's recorded head hash does not match its last record")
    if row["version"] != head:
        return Finding(head, f"item's version is {row['version']} but its history has {head} records")
    if row["state"] != replayed["state"]:
        return Finding(head, f"item's state is {row['state']!r} but its history leaves it in {replayed['state']!r}")
    for column in REPLAYED:
        stored = row.get(column)
        if column == "tags":
            try:
                stored = json.loads(stored)
            except (TypeError, ValueError):
                return Finding(head, "item's tags are not valid JSON")
            except RecursionError:
                return Finding(head, "item's tags nest too deeply to be read")
        expected = replayed[column]
        if expected is None and column in ("description", "measures"):
            expected = ""
        # Equal as read means equal as text too: a date or time never equals a JSON value.
        if stored != expected and _as_text(stored) != expected:
            return Finding(head, f"item's {column} is {_as_text(stored)!r} but its history says {expected!r}")
    if NUMBER in replayed and row.get(NUMBER) != replayed[NUMBER]:
        return Finding(head, f"item's number is {row.get(NUMBER)!r} but its history says {replayed[NUMBER]!r}")
    created = _instant(row.get("created_at"))
    if created is None:
        return Finding(1, f"item's created_at {row.get('created_at')!r} is not a valid time")
    if created != replayed["created_at"]:
        return Finding(1, "item's created_at does not match the time of its creation record")
    if (row.get("closed_at") is not None) != replayed["final"]:
        return Finding(head, "item's closed_at does not agree with whether its state is final")
    if replayed.get("closing") is not None:
        problem = _closing_problem(row["closed_at"], *replayed["closing"])
        if problem is not None:
            return Finding(head, problem)
    return None


def _closing_problem(stored: object, at: str, closed_on: object) -> str | None:
    """Why a final item's closed_at is not when its history closed it: the ``at`` of the record that brought it
    into its final state, or, for a ledger's import naming a 销号日期, noon of that day in the deployment's zone
    (which the history does not name: any zone's noon, from 22:00 UTC the day before to 00:00 UTC the day after)."""
    closed = _instant(stored)
    if closed is None:
        return f"item's closed_at {stored!r} is not a valid time"
    if closed_on is None:
        return None if closed == at else f"item's closed_at {closed} is not the time of the record that closed it ({at})"
    try:
        day = dt.date.fromisoformat(closed_on) if isinstance(closed_on, str) else None
    except ValueError:
        day = None
    if day is None:
        return f"the import record's closed_on {closed_on!r} is not a date"
    when = dt.datetime.fromisoformat(closed.replace("Z", "+00:00"))
    earliest = dt.datetime.combine(day, dt.time(22), UTC) - dt.timedelta(days=1)
    if not earliest <= when <= earliest + dt.timedelta(hours=26):
        return f"item's closed_at {closed} is not noon of its 销号日期 {closed_on} in any time zone"
    return None

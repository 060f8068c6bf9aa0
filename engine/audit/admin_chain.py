"""Checking the admin log's chain, entry by entry as it streams past, and against what checkpoints said of it.

Used by the database verifier and the bundle verifier alike, so the two cannot disagree. Every value read
may be malformed on purpose: types are checked before use and a problem is a finding, never an exception.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from engine.audit.admin_log import HASHED_KEYS
from engine.canonical import sha256_hex
from engine.history import GENESIS

_TEXT = ("at", "actor", "action", "target", "prev_hash", "hash")


class _Float(ValueError):
    """Canonical JSON has no floats, so no genuine entry holds one."""


def _no_float(text: str) -> None:
    raise _Float(text)


_parse = json.JSONDecoder(parse_float=_no_float, parse_constant=_no_float).decode
_canonical = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode


def decode_entry(raw: object) -> tuple[dict | None, str | None]:
    """A stored entry (``before``/``after`` as JSON text or null) as hashed, or (None, what is malformed)."""
    if not isinstance(raw, dict):
        return None, "the entry is not an object"
    if type(raw.get("seq")) is not int:
        return None, f"seq {raw.get('seq')!r} is not a whole number"
    for key in _TEXT:
        if not isinstance(raw.get(key), str):
            return None, f"{key} is not text"
    entry = {k: raw[k] for k in HASHED_KEYS if k not in ("before", "after")}
    for key in ("before", "after"):
        text = raw.get(key)
        if text is None:
            entry[key] = None
            continue
        try:
            value = _parse(text) if isinstance(text, str) else None
        except _Float:
            return None, f"{key} holds a number with a fraction (canonical JSON has none)"
        except ValueError:
            return None, f"{key} is not valid JSON"
        except RecursionError:  # a parser that recurses cannot follow it; a genuine entry never nests so
            return None, f"{key} nests too deeply to be read"
        if not isinstance(value, dict):
            return None, f"{key} is not a JSON object or null"
        entry[key] = value
    try:
        entry["_computed"] = sha256_hex(_canonical({k: entry[k] for k in HASHED_KEYS}).encode("utf-8"))
    except (TypeError, ValueError) as exc:  # text canonical JSON cannot hold (a lone surrogate)
        return None, f"the entry cannot be hashed: {exc}"
    entry["hash"] = raw["hash"]
    return entry, None


@dataclass
class Claim:
    """What one checkpoint said of the admin log: how many entries it held and the last one's hash."""

    checkpoint: int
    entries: int
    head: str


@dataclass
class AdminChain:
    """Feed entries in stored order with ``add``, then ``finish``: the count, the head and the first bad entry."""

    claims: list[Claim] = field(default_factory=list)
    entries: int = 0
    head: str = GENESIS
    first_bad: dict | None = None

    def __post_init__(self) -> None:
        self._claims: dict[int, list[Claim]] = {}
        for claim in self.claims:
            self._claims.setdefault(claim.entries, []).append(claim)

    def _bad(self, seq: int | None, reason: str) -> None:
        if self.first_bad is None:
            self.first_bad = {"seq": seq, "reason": reason}

    def add(self, raw: object) -> None:
        """Check the next stored entry against its own hash, the entry before it and any checkpoint's claim."""
        self.entries += 1
        if self.first_bad is not None:
            return
        expected = self.entries
        entry, problem = decode_entry(raw)
        if entry is None:
            self._bad(raw.get("seq") if isinstance(raw, dict) and type(raw.get("seq")) is int else expected, problem)
            return
        if entry["seq"] != expected:
            self._bad(expected, f"expected entry {expected} but found entry {entry['seq']}: an entry is missing, "
                                f"inserted or out of place")
        elif entry["prev_hash"] != self.head:
            self._bad(expected, "prev_hash does not match the hash of the entry before")
        elif entry["_computed"] != entry["hash"]:
            self._bad(expected, "hash does not match the entry's content: it was altered")
        else:
            for claim in self._claims.get(expected, []):
                if claim.head != entry["hash"]:
                    self._bad(expected, f"the entry differs from the one checkpoint {claim.checkpoint} covered: the "
                                        f"admin log was rewritten")
                    break
        self.head = entry["hash"]

    def finish(self) -> dict:
        """``{"ok", "entries", "head", "first_bad"}``: what a checkpoint covered beyond the end is a cut-off tail."""
        for claim in sorted(self.claims, key=lambda c: c.entries):
            if self.first_bad is not None:
                break
            if claim.entries > self.entries:
                self._bad(self.entries + 1, f"checkpoint {claim.checkpoint} covered the admin log up to entry "
                                            f"{claim.entries}, but it ends at entry {self.entries}: entries were "
                                            f"removed")
            elif claim.entries == 0 and claim.head != GENESIS:
                self._bad(None, f"checkpoint {claim.checkpoint} says the admin log was empty but names a head")
        return {"ok": self.first_bad is None, "entries": self.entries,
                "head": self.head if self.first_bad is None else None, "first_bad": self.first_bad}


def claim_of(body: object) -> Claim | None:
    """The admin-log claim of a checkpoint body (format 2 states one; format 1 predates the log: None)."""
    if not isinstance(body, dict) or type(body.get("number")) is not int:
        return None
    entries, head = body.get("admin_log_entries"), body.get("admin_log_head")
    if type(entries) is not int or not isinstance(head, str):
        return None
    return Claim(body["number"], entries, head)

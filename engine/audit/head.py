"""The check fire() makes before acting: does the item row agree with the head of its own chain?

It costs no extra statement (the chain's side is read in the statement that locks the row, see
engine.itemrows) and stops the engine from building new history on a state that was set by an edit
outside closeloop. The full proof (every record, every column) is engine.audit.verify's.
"""
from __future__ import annotations

import logging

import sqlalchemy as sa

from engine import itemrows
from engine.errors import IntegrityViolation

log = logging.getLogger("closeloop.integrity")
_CHAIN_KEYS = ("head_seq", "head_to_state", "head_hash", "created_on_hash", "created_as_number")


def disagreement(item: dict) -> str | None:
    """Why the locked item row disagrees with its chain head, or None when it agrees."""
    if item["head_seq"] is None:
        return f"its last record (seq {item['history_seq']}) is missing"
    if item["head_hash"] != item["history_hash"]:
        return "its recorded head hash does not match its last record"
    if item["version"] != item["head_seq"]:
        return f"its version is {item['version']} but its history has {item['head_seq']} records"
    if item["head_to_state"] != item["state"]:
        return f"its state is {item['state']!r} but its history leaves it in {item['head_to_state']!r}"
    if not item["created_on_hash"]:
        return "its workflow version is not the one its creation record names"
    if not item["created_as_number"]:
        return f"its number {item['number']!r} is not the one its creation record names"
    return None


def require_agreement(conn: sa.Connection, item: dict) -> dict:
    """Refuse (IntegrityViolation, logged) an item whose row disagrees with its chain; return the plain row."""
    problem = disagreement(item)
    if problem is not None:
        # On PostgreSQL a lock that waited for another transition returns the row as that one committed it,
        # but the history rows joined to it come from the statement's older snapshot. A new statement sees
        # what the other committed; only a disagreement that survives it is real.
        item.update(itemrows.CHAIN_OF_ITEM.first(conn, {"id": item["id"]}) or {})
        problem = disagreement(item)
    if problem is not None:
        log.error("refusing to act on item %s: %s", item["number"], problem)
        raise IntegrityViolation(f"item {item['number']} disagrees with its history: {problem}. Nothing was "
                                 f"changed; an administrator must investigate (`closeloop audit verify`)")
    for key in _CHAIN_KEYS:
        del item[key]
    return item

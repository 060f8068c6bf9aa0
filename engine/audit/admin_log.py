"""The admin log: every administrative action, written in the transaction of the action, in one hash chain.

Each entry's ``hash`` is SHA-256 over the canonical JSON of the object with keys
``seq, at, actor, action, target, before, after, prev_hash`` (``before``/``after`` JSON objects or null;
canonical JSON as in engine/canonical.py); entry 1 has ``prev_hash`` = 64 zeros and the entries have seq
1, 2, 3, ... with no gap across the whole deployment. docs/AUDIT.md says the same.

Who acted (``actor``): an API user's username (as in item history); ``cli:<os user>`` for a ``closeloop``
command an operator ran; ``system:<os user>`` for what a process does by itself as it starts (recording a
workflow version found in the workflow folder); engine/audit/actors.py makes the last two.
Secrets never enter an entry: a token appears as its id and a fingerprint, a webhook secret as "set".
"""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from engine.audit.models import AdminLogEntry
from engine.canonical import canonical_bytes, canonical_text, plain, sha256_hex
from engine.clock import rfc3339
from engine.history import GENESIS

HASHED_KEYS = ("seq", "at", "actor", "action", "target", "before", "after", "prev_hash")
# One arbitrary constant: the transaction-scoped PostgreSQL advisory lock that makes appends take turns.
_LOCK_KEY = 0x636C_6164_6D6C_6F67  # "cladmlog"
_log = AdminLogEntry.__table__


def entry_hash(entry: dict) -> str:
    """The hash of an entry given as a dict with the hashed keys (``before``/``after`` as values)."""
    return sha256_hex(canonical_bytes({k: entry[k] for k in HASHED_KEYS}))


def fingerprint(token_hash: str) -> str:
    """A token as the log names it: the first 16 hex digits of its stored SHA-256 (never the token)."""
    return token_hash[:16]


def _head(conn: sa.Connection) -> tuple[int, str]:
    if conn.dialect.name == "postgresql":
        # Appends take turns: two admins acting at once must not both take the same seq and prev_hash. The lock
        # is held to commit; the SELECT below runs after it is granted, so it sees the entry the last holder wrote.
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
    # SQLite: the write transaction (BEGIN IMMEDIATE) already serialises every writer.
    return last_entry(conn)


def record(conn: sa.Connection, *, actor: str, action: str, target: str, before: dict | None, after: dict | None,
           now: dt.datetime) -> dict:
    """Append one entry in ``conn``'s transaction (so it commits or rolls back with the action); return it."""
    seq, prev = _head(conn)
    entry = {"seq": seq + 1, "at": rfc3339(now), "actor": actor, "action": action, "target": target,
             "before": plain(before), "after": plain(after), "prev_hash": prev}
    entry["hash"] = entry_hash(entry)
    conn.execute(_log.insert().values(
        **{**entry, "before": None if before is None else canonical_text(entry["before"]),
           "after": None if after is None else canonical_text(entry["after"])}))
    return entry


def last_entry(conn: sa.Connection) -> tuple[int, str]:
    """The last entry's seq and hash as stored, read in one statement ((0, 64 zeros) when the log is empty)."""
    last = conn.execute(sa.select(_log.c.seq, _log.c.hash).order_by(_log.c.seq.desc()).limit(1)).first()
    return (0, GENESIS) if last is None else (last.seq, last.hash)


def hash_at(conn: sa.Connection, seq: int) -> str | None:
    """The stored hash of entry ``seq`` (64 zeros for seq 0), or None when there is no such entry."""
    if seq == 0:
        return GENESIS
    return conn.execute(sa.select(_log.c.hash).where(_log.c.seq == seq)).scalar()

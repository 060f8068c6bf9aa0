"""The tables closeloop only ever appends to: the one list the database protections are made from.

On PostgreSQL the application role gets SELECT and INSERT on these and nothing more (engine.dbroles.grants).
``history`` and ``admin_log`` also carry triggers refusing UPDATE, DELETE and TRUNCATE (migrations 0001 and
0006), which are SQLite's only protection beside the hash chains and checkpoints. A table added here is
covered the next time the migrations run.
"""
from __future__ import annotations

APPEND_ONLY_TABLES: tuple[str, ...] = (
    "history",                 # every accepted step of every item, hash-chained (migration 0001)
    "audit_keys",              # the checkpoint signing keys' public halves (migration 0005)
    "audit_checkpoints",       # the signed checkpoints, a chain of their own (migration 0005)
    "audit_checkpoint_heads",  # the chain heads each checkpoint covered (migration 0005)
    "admin_log",               # the administrators' own hash-chained log (migration 0006)
    "evidence_files",          # who uploaded which stored file for which item, when (migration 0007)
    "lookbacks",               # each look-back draw: seed, population, who (migration 0011)
    "lookback_items",          # the sample of each draw, in order (migration 0011)
    "lookback_checks",         # each re-check's result and note (migration 0011)
)

"""The hash-chained history: building records and reading them (engine.audit checks the chains).

Each record's ``hash`` is SHA-256 over the canonical JSON of the object with keys
``item, seq, trigger, from_state, to_state, actor, at, comment, evidence, fields, prev_hash``
(``item`` is the item's id, not its number; canonical JSON as in engine/canonical.py);
the first record of an item has ``prev_hash`` = 64 zeros. Records are only ever inserted.
"""
from __future__ import annotations

import json

import sqlalchemy as sa

from engine.canonical import canonical_bytes, canonical_text, plain, sha256_hex
from engine.errors import IntegrityViolation
from engine.models import HistoryRecord

GENESIS = "0" * 64
HASHED_KEYS = ("item", "seq", "trigger", "from_state", "to_state", "actor", "at", "comment", "evidence",
               "fields", "prev_hash")

_history = HistoryRecord.__table__


def record_hash(record: dict) -> str:
    """The hash of a record given as a dict with the hashed keys (``evidence``/``fields`` as values)."""
    return sha256_hex(canonical_bytes({k: record[k] for k in HASHED_KEYS}))


def new_record(*, item_id: str, seq: int, trigger: str, from_state: str | None, to_state: str, actor: str,
               at: str, comment: str | None, evidence: list[dict], fields: dict, prev_hash: str) -> tuple[dict, dict]:
    """Build the next record of a chain: (the record as the API shows it, hash included; its insert values)."""
    record = {"item": item_id, "seq": seq, "trigger": trigger, "from_state": from_state, "to_state": to_state,
              "actor": actor, "at": at, "comment": comment, "evidence": plain(evidence),
              "fields": plain(fields), "prev_hash": prev_hash}
    record["hash"] = record_hash(record)
    params = {"item_id": item_id, "seq": seq, "trigger": trigger, "from_state": from_state, "to_state": to_state,
              "actor": actor, "at": at, "comment": comment, "evidence": canonical_text(record["evidence"]),
              "fields": canonical_text(record["fields"]), "prev_hash": prev_hash, "hash": record["hash"]}
    return record, params


def row_to_record(row: sa.RowMapping) -> dict:
    """A stored history row as the API and the hash see it; a malformed one is an IntegrityViolation."""
    try:
        evidence, fields = json.loads(row["evidence"]), json.loads(row["fields"])
    except (TypeError, ValueError):
        raise IntegrityViolation(f"history record {row['seq']} of item {row['item_id']} is malformed (its evidence "
                                 f"or fields are not valid JSON); run `closeloop audit verify`") from None
    return {"item": row["item_id"], "seq": row["seq"], "trigger": row["trigger"], "from_state": row["from_state"],
            "to_state": row["to_state"], "actor": row["actor"], "at": row["at"], "comment": row["comment"],
            "evidence": evidence, "fields": fields, "prev_hash": row["prev_hash"], "hash": row["hash"]}


def item_history(conn: sa.Connection, item_id: str) -> list[dict]:
    """All records of one item, oldest first."""
    rows = conn.execute(sa.select(_history).where(_history.c.item_id == item_id).order_by(_history.c.seq))
    return [row_to_record(r) for r in rows.mappings()]

"""The hash-chained history: appending a record and checking every chain.

Each record's ``hash`` is SHA-256 over the canonical JSON of the object with keys
``item, seq, trigger, from_state, to_state, actor, at, comment, evidence, fields, prev_hash``
(``item`` is the item's id, not its number; canonical JSON as in engine/canonical.py);
the first record of an item has ``prev_hash`` = 64 zeros. Records are only ever inserted.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Iterator

import sqlalchemy as sa

from engine.canonical import canonical_bytes, canonical_text, plain, sha256_hex
from engine.models import HistoryRecord, Item

GENESIS = "0" * 64
HASHED_KEYS = ("item", "seq", "trigger", "from_state", "to_state", "actor", "at", "comment", "evidence",
               "fields", "prev_hash")

_history = HistoryRecord.__table__
_items = Item.__table__


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
    """A stored history row as the API and the hash see it."""
    return {"item": row["item_id"], "seq": row["seq"], "trigger": row["trigger"], "from_state": row["from_state"],
            "to_state": row["to_state"], "actor": row["actor"], "at": row["at"], "comment": row["comment"],
            "evidence": json.loads(row["evidence"]), "fields": json.loads(row["fields"]),
            "prev_hash": row["prev_hash"], "hash": row["hash"]}


def item_history(conn: sa.Connection, item_id: str) -> list[dict]:
    """All records of one item, oldest first."""
    rows = conn.execute(sa.select(_history).where(_history.c.item_id == item_id).order_by(_history.c.seq))
    return [row_to_record(r) for r in rows.mappings()]


@dataclass
class VerifyResult:
    """The outcome of checking every chain: ok, how many records, the ledger head or the first bad record."""

    ok: bool
    records: int
    head: str | None = None
    first_bad: dict | None = None


def check_chain(records: Iterator[dict], item_state: dict[str, tuple]) -> VerifyResult:
    """Check records sorted by (item, seq) against each other and the items' recorded chain heads.

    ``item_state`` maps item id to (number, history_seq, history_hash, order) as stored on the item row,
    where ``order`` sorts items by creation. Every chain is checked to the end; when several are broken,
    the one reported is the first broken record of the oldest item, so the answer does not depend on ids.
    """
    problems: dict[str, dict] = {}
    heads: list[list[str]] = []
    intact = 0
    current, expected_seq, prev = None, 1, GENESIS

    def note(item: str, seq: int | None, reason: str) -> None:
        problems.setdefault(item, {"seq": seq, "reason": reason})

    def close(item: str, last_seq: int, last_hash: str) -> None:
        if item in problems:
            return
        stored = item_state.get(item)
        if stored is None:
            note(item, last_seq, "history refers to an item that does not exist")
        elif stored[1] != last_seq:
            note(item, last_seq, f"item's recorded head is seq {stored[1]} but its history ends at seq {last_seq}")
        elif stored[2] != last_hash:
            note(item, last_seq, "item's recorded head hash does not match its last record")
        else:
            heads.append([item, last_hash])

    for rec in records:
        if rec["item"] != current:
            if current is not None:
                close(current, expected_seq - 1, prev)
            current, expected_seq, prev = rec["item"], 1, GENESIS
        if current in problems:
            continue
        if rec["seq"] != expected_seq:
            note(current, rec["seq"], f"expected seq {expected_seq}: a record is missing or out of place")
        elif rec["prev_hash"] != prev:
            note(current, rec["seq"], "prev_hash does not match the hash of the record before")
        elif record_hash(rec) != rec["hash"]:
            note(current, rec["seq"], "hash does not match the record's content: it was altered")
        else:
            prev, expected_seq = rec["hash"], expected_seq + 1
            intact += 1
    if current is not None:
        close(current, expected_seq - 1, prev)
    seen = {h[0] for h in heads} | set(problems)
    for item, stored in item_state.items():
        if item not in seen:
            note(item, 1 if stored[1] else None, "item has no history records")
    if problems:
        first = min(problems, key=lambda i: (0, item_state[i][3], i) if i in item_state else (1, "", i))
        number = item_state[first][0] if first in item_state else first
        return VerifyResult(False, intact, first_bad={"item": number, "item_id": first, **problems[first]})
    return VerifyResult(True, intact, head=sha256_hex(canonical_bytes(sorted(heads))))


def verify_database(conn: sa.Connection, batch: int = 5000) -> VerifyResult:
    """Check every chain in the database, streaming the history in batches."""
    columns = (_items.c.id, _items.c.number, _items.c.history_seq, _items.c.history_hash, _items.c.created_at)
    items = {r.id: (r.number, r.history_seq, r.history_hash, r.created_at.isoformat())
             for r in conn.execute(sa.select(*columns))}

    def stream() -> Iterator[dict]:
        last: tuple[str, int] | None = None
        while True:
            query = sa.select(_history).order_by(_history.c.item_id, _history.c.seq).limit(batch)
            if last is not None:
                query = query.where(sa.tuple_(_history.c.item_id, _history.c.seq) > sa.tuple_(*last))
            rows = conn.execute(query).mappings().all()
            if not rows:
                return
            for row in rows:
                yield row_to_record(row)
            last = (rows[-1]["item_id"], rows[-1]["seq"])

    return check_chain(stream(), items)

"""One item's chain check, as its page shows it: every record hashes to itself and links to the one before,
and the last is the head the item row names. (`closeloop audit verify` also replays the workflow.)"""
from __future__ import annotations

from dataclasses import dataclass

from engine.history import GENESIS, record_hash


@dataclass(frozen=True)
class ChainCheck:
    """The outcome: intact or not, and where and why not."""

    ok: bool
    records: int
    first_bad_seq: int | None = None
    reason: str | None = None
    kind: str | None = None  # missing, link, hash or head: what a page translates


def check_item_chain(records: list[dict], head_hash: str) -> ChainCheck:
    """Check an item's records (oldest first, as engine.history reads them) against the item's chain head."""
    prev = GENESIS
    for number, record in enumerate(records, start=1):
        if record["seq"] != number:
            return ChainCheck(False, len(records), number, "it is missing", "missing")
        if record["prev_hash"] != prev:
            return ChainCheck(False, len(records), number, "it does not link to the record before it", "link")
        if record_hash(record) != record["hash"]:
            return ChainCheck(False, len(records), number, "its content does not match its hash", "hash")
        prev = record["hash"]
    if prev != head_hash:
        return ChainCheck(False, len(records), len(records) + 1 if records else 1,
                          "the item names another chain head than its last record", "head")
    return ChainCheck(True, len(records))

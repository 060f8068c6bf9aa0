"""The item page's chain check: intact chains pass; a changed, missing or unlinked record, or a wrong head, is named."""
from __future__ import annotations

import copy

from engine.audit.item_chain import check_item_chain
from engine.history import GENESIS, new_record


def _chain(length: int) -> list[dict]:
    records, prev = [], GENESIS
    for seq in range(1, length + 1):
        record, _ = new_record(item_id="i-1", seq=seq, trigger="create" if seq == 1 else "report_progress",
                               from_state=None if seq == 1 else "rectifying", to_state="rectifying", actor="asg_a",
                               at=f"2026-03-0{seq}T01:00:00.000000Z", comment=f"进展 {seq}", evidence=[], fields={},
                               prev_hash=prev)
        records.append(record)
        prev = record["hash"]
    return records


def test_an_intact_chain_passes():
    records = _chain(4)
    assert check_item_chain(records, records[-1]["hash"]).ok
    assert check_item_chain([], GENESIS).ok


def test_each_kind_of_damage_is_found_at_its_record():
    records = _chain(4)
    changed = copy.deepcopy(records)
    changed[2]["comment"] = "改过的说明"
    found = check_item_chain(changed, records[-1]["hash"])
    assert not found.ok and found.first_bad_seq == 3 and "hash" in found.reason

    missing = records[:1] + records[2:]
    found = check_item_chain(missing, records[-1]["hash"])
    assert not found.ok and found.first_bad_seq == 2 and "missing" in found.reason

    relinked = copy.deepcopy(records)
    relinked[1]["prev_hash"] = "f" * 64
    assert check_item_chain(relinked, records[-1]["hash"]).first_bad_seq == 2

    found = check_item_chain(records[:3], records[-1]["hash"])  # the last record cut off: the head disagrees
    assert not found.ok and "head" in found.reason

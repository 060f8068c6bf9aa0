"""The verifier hashes records by orjson when it can and by the documented formula otherwise: the two must
never disagree, whatever a record holds."""
from __future__ import annotations

import sys

import orjson
import pytest

from engine.audit.admin_chain import AdminChain
from engine.audit.replay import REPLAYED, Finding, _hash_reference, check_row, decode_record
from engine.canonical import canonical_bytes
from engine.history import GENESIS, record_hash


def _row(fields: str, evidence: str = "[]", **overrides) -> dict:
    row = {"item_id": "0b5e3f1e-5d55-4c0e-9d61-6c1f8a2b7c10", "seq": 2, "trigger": "report_progress",
           "from_state": "rectifying", "to_state": "rectifying", "actor": "张伟", "at": "2026-03-02T01:00:00.000000Z",
           "comment": "进展 🚧", "evidence": evidence, "fields": fields, "prev_hash": GENESIS, "hash": "0" * 64}
    row.update(overrides)
    return row


def _reference(row: dict) -> tuple[str | None, str | None]:
    """What the documented formula alone says of the row."""
    record = {"item": row["item_id"], **{k: row[k] for k in ("seq", "trigger", "from_state", "to_state", "actor",
                                                             "at", "comment", "prev_hash")}}
    return _hash_reference(record, row)


def test_orjson_writes_the_canonical_bytes_for_every_code_point():
    """The fast path's premise: for text, orjson and the canonical encoder write the same bytes."""
    everything = "".join(chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF)
    for start in range(0, len(everything), 4096):
        chunk = everything[start:start + 4096]
        value = {chunk: [chunk, 1, -1, 2**63 - 1, -(2**63), True, False, None, {"b": chunk, "a": {}}]}
        assert orjson.dumps(value, option=orjson.OPT_SORT_KEYS) == canonical_bytes(value)


def test_a_genuine_record_hashes_to_its_own_hash():
    fields = {"due_date": "2026-12-07", "note": "中文 and emoji 🎉", "n": 2**63 - 1, "nested": {"z": [1, {"y": None}]}}
    evidence = [{"name": "整改报告.pdf", "sha256": "ee8250fb76e094b34b471f13a73dbbe51d1ae142e9df59d7c0d31ec20f0a0a8e"}]
    row = _row(canonical_bytes(fields).decode(), canonical_bytes(evidence).decode())
    expected = record_hash({"item": row["item_id"], **row, "fields": fields, "evidence": evidence})
    record, problem = decode_record(row)
    assert problem is None and record["_computed"] == expected


@pytest.mark.parametrize("fields", [
    '{"a":1.5}', '{"a":1e2}', '{"a":1E2}', '{"a":[0.0]}', '{"a":{"b":-2.5e-3}}',
    '{"a":18446744073709551616}', '{"a":-9223372036854775809}', '{"a":9223372036854775808}',
    '{"a":123456789012345678901234567890}', '{"a":NaN}', '{"a":Infinity}',
    '{"a":"\\ud800"}', '{"b":1, "a":2}', '{"a":1,"a":2}', ' {"a":"x"} ', '{"a":"1.5e3"}',
    '[]', '"text"', '{"a":', 'not json', '{"a":"\\u0000\\u001f\\u007f\\u2028"}',
    '{"h":"5e0f12ab9d33e1.0","n":1234567890123456789}',
])
def test_the_fast_and_the_reference_paths_agree(fields):
    record, problem = decode_record(_row(fields))
    computed, reference_problem = _reference(_row(fields))
    assert problem == reference_problem
    assert (record["_computed"] if record else None) == computed


@pytest.mark.parametrize("evidence", ["[]", "[1.5]", "{}", '[{"sha256":"1e5"}]', "[18446744073709551616]", "nope"])
def test_evidence_is_read_alike_on_both_paths(evidence):
    record, problem = decode_record(_row("{}", evidence))
    computed, reference_problem = _reference(_row("{}", evidence))
    assert problem == reference_problem
    assert (record["_computed"] if record else None) == computed


@pytest.mark.parametrize("overrides, problem", [
    ({"seq": "2"}, "seq '2' is not a whole number"),
    ({"seq": 2**70}, None),
    ({"actor": None}, "actor is not text"),
    ({"comment": 5}, "comment is not text"),
    ({"from_state": ["x"]}, "from_state is not text"),
    ({"actor": "\ud800"}, "the record cannot be hashed"),
])
def test_malformed_columns_are_named(overrides, problem):
    record, found = decode_record(_row("{}", **overrides))
    if problem is None:
        assert found is None and record["_computed"] == _reference(_row("{}", **overrides))[0]
    else:
        assert record is None and found.startswith(problem)


DEEP = "[" * 100_000  # valid JSON as far as it goes, nested past what a recursive parser can follow


@pytest.mark.parametrize("column", ["fields", "evidence"])
def test_text_nested_too_deeply_is_named_not_a_crash(column):
    record, problem = decode_record(_row(**{"fields": "{}", column: DEEP}))
    assert record is None and problem == f"{column} nests too deeply to be read"


NESTED = "[" * 600 + "]" * 600  # within what orjson reads (1,024 levels), past Python's recursion limit


@pytest.mark.parametrize("column, text", [("evidence", NESTED), ("fields", '{"a":' + NESTED + "}"),
                                          ("fields", '{"a":' + NESTED[:-1] + "1.5]}")])
def test_text_nested_past_the_recursion_limit_is_hashed_alike_on_both_paths(column, text):
    row = _row(**{"fields": "{}", column: text})
    record, problem = decode_record(row)
    computed, reference_problem = _reference(row)
    assert problem == reference_problem
    assert (record["_computed"] if record else None) == computed


def test_item_tags_nested_too_deeply_are_named_not_a_crash():
    replayed = {"seq": 1, "hash": "h", "state": "s", **{k: None for k in REPLAYED}}
    row = {"history_seq": 1, "history_hash": "h", "version": 1, "state": "s", **{k: None for k in REPLAYED},
           "description": "", "measures": "", "tags": DEEP}
    assert check_row(row, replayed) == Finding(1, "item's tags nest too deeply to be read")


def test_admin_log_entry_nested_too_deeply_is_named_not_a_crash():
    chain = AdminChain([])
    chain.add({"seq": 1, "at": "2026-03-02T01:00:00.000000Z", "actor": "root", "action": "unit.create",
               "target": "u", "before": None, "after": DEEP, "prev_hash": GENESIS, "hash": "0" * 64})
    result = chain.finish()
    assert not result["ok"] and result["first_bad"]["seq"] == 1

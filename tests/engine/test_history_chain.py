"""The hash-chained history: canonical JSON, a hash any auditor can recompute, and tampering detected.

The verifier in this module is written from the docstrings of engine.history and engine.canonical
alone (the key list is read out of the docstring itself), not from the code. The database refuses
UPDATE and DELETE on history through the migration's triggers; once a test drops them on purpose and
tampers, both ``closeloop audit verify`` and GET /api/v1/audit/verify name the first broken record.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

import engine.canonical
import engine.history
from engine.canonical import canonical_bytes, canonical_text
from tests.db_roles import owner_write
from tests.helpers import audit_verify_command, drive, new_item

CLOSELOOP = Path(sys.executable).parent / "closeloop"
GENESIS = "0" * 64


def _documented_keys() -> list[str]:
    """The hashed keys, as the history module's docstring lists them."""
    match = re.search(r"keys\s+``([^`]+)``", engine.history.__doc__)
    assert match, "the history docstring no longer documents the hashed keys"
    return [k.strip() for k in match.group(1).split(",")]


def independent_hash(record: dict, item_id: str) -> str:
    """SHA-256 over canonical JSON (sorted keys, no spaces, UTF-8 unescaped) of the documented keys."""
    obj = {k: (item_id if k == "item" else record[k]) for k in _documented_keys()}
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def independent_verify(records: list[dict], item_id: str) -> None:
    """Check one item's chain: seq 1.., genesis prev_hash, each prev_hash the hash before, each hash recomputed."""
    prev = GENESIS
    for n, record in enumerate(records, 1):
        assert record["seq"] == n
        assert record["prev_hash"] == prev, n
        assert record["hash"] == independent_hash(record, item_id), f"record {n} does not recompute"
        prev = record["hash"]


def test_canonical_json_is_sorted_compact_unescaped():
    value = {"b": [1, True, None], "a": "整改✅", "c": {"z": 1, "y": "𠀀"}}
    assert canonical_text(value) == '{"a":"整改✅","b":[1,true,null],"c":{"y":"𠀀","z":1}}'
    assert canonical_bytes(value) == canonical_text(value).encode("utf-8")
    assert canonical_bytes(value) == json.dumps(value, sort_keys=True, separators=(",", ":"),
                                                ensure_ascii=False).encode("utf-8")


def test_canonical_json_writes_times_and_dates_in_their_fixed_forms():
    when = dt.datetime(2026, 3, 2, 9, 0, 0, 5, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    assert canonical_text({"at": when, "d": dt.date(2027, 3, 31)}) == \
        '{"at":"2026-03-02T01:00:00.000005Z","d":"2027-03-31"}'
    with pytest.raises(ValueError):
        canonical_text({"at": dt.datetime(2026, 3, 2, 9, 0)})  # a naive time has no place in a hash


@pytest.mark.parametrize("value", [1.5, {"a": 0.0}, [1, [2.5]], {"x": {"y": float("nan")}}])
def test_canonical_json_refuses_floats(value):
    with pytest.raises(TypeError):
        canonical_text(value)


def test_documentation_states_the_formula_the_verifier_uses():
    assert _documented_keys() == list(engine.history.HASHED_KEYS)
    doc = engine.canonical.__doc__
    for phrase in ("sort_keys=True", 'separators=(",", ":")', "ensure_ascii=False", 'encode("utf-8")'):
        assert phrase in doc


@pytest.fixture
def chained(client, world, rt):
    """Item A closed (6 records, Chinese comments and evidence) and item B rectifying (3 records)."""
    a = drive(client, world, rt, new_item(client, world, due_date="2026-04-30", tags=["民生", "🔥"]), "closed")
    b = drive(client, world, rt, new_item(client, world, unit="SUB-A1", due_date="2026-05-30"), "rectifying")
    return {"a": a, "b": b}


def test_every_record_recomputes_from_the_documented_formula(client, world, rt, chained):
    for item in chained.values():
        records = client.get(f"/api/v1/items/{item['id']}/history", headers=world.h("aud")).json()["data"]
        assert records[0]["trigger"] == "create" and records[0]["from_state"] is None
        independent_verify(records, item["id"])
        assert records[-1]["hash"] == _stored_head(rt, item["id"])
    with rt.store.read() as conn:
        rows = conn.execute(sa.text("SELECT * FROM history ORDER BY item_id, seq")).mappings().all()
    for row in rows:
        record = {**row, "evidence": json.loads(row["evidence"]), "fields": json.loads(row["fields"])}
        assert row["hash"] == independent_hash(record, row["item_id"])
        assert row["evidence"] == canonical_text(record["evidence"])  # stored as the exact canonical text
        assert row["fields"] == canonical_text(record["fields"])
    assert len(rows) == 9


def _stored_head(rt, item_id: str) -> str:
    with rt.store.read() as conn:
        return conn.execute(sa.text("SELECT history_hash FROM items WHERE id = :i"), {"i": item_id}).scalar_one()


@pytest.mark.parametrize("statement", ["UPDATE history SET comment = 'rewritten'",
                                       "DELETE FROM history WHERE seq = 2",
                                       "DELETE FROM history"])
def test_database_refuses_to_change_history(rt, chained, statement):
    # As the database owner, who holds every privilege: the triggers refuse even them. (The application's
    # own role on PostgreSQL is refused before the triggers: tests/engine/test_pg_roles.py.)
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        with owner_write(rt) as conn:
            conn.execute(sa.text(statement))
    with rt.store.read() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM history")).scalar_one() == 9


def test_database_refuses_to_empty_history(rt, chained):
    # PostgreSQL's TRUNCATE skips row triggers, so it has a statement trigger of its own; SQLite has no
    # TRUNCATE, and its whole-table DELETE (the "truncate optimization") must fire the trigger too.
    statement = "TRUNCATE history" if rt.store.dialect == "postgresql" else "DELETE FROM history"
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        with owner_write(rt) as conn:  # the owner: the application's role may not even try (test_pg_roles.py)
            conn.execute(sa.text(statement))
    with rt.store.read() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM history")).scalar_one() == 9


def _drop_protection(conn) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("DROP TRIGGER history_no_change ON history"))
    else:
        conn.execute(sa.text("DROP TRIGGER history_no_update"))
        conn.execute(sa.text("DROP TRIGGER history_no_delete"))


def _forge_record(conn, item_id: str, seq: int) -> None:
    """Rewrite a record's comment AND its own hash: the next record's prev_hash still gives it away."""
    row = conn.execute(sa.text("SELECT * FROM history WHERE item_id = :i AND seq = :s"),
                       {"i": item_id, "s": seq}).mappings().one()
    record = {**row, "comment": "一切正常", "evidence": json.loads(row["evidence"]), "fields": json.loads(row["fields"])}
    conn.execute(sa.text("UPDATE history SET comment = :c, hash = :h WHERE id = :id"),
                 {"c": "一切正常", "h": independent_hash(record, item_id), "id": row["id"]})


# id, the tampering (on item A, 6 records), the seq named as first bad, a phrase of the reason
TAMPERING = [
    ("comment-changed", lambda c, i: c.execute(sa.text("UPDATE history SET comment = '已整改' WHERE item_id = :i "
                                                       "AND seq = 3"), {"i": i}), 3, "altered"),
    ("middle-record-deleted", lambda c, i: c.execute(sa.text("DELETE FROM history WHERE item_id = :i AND seq = 3"),
                                                     {"i": i}), 4, "expected seq 3"),
    ("last-record-deleted", lambda c, i: c.execute(sa.text("DELETE FROM history WHERE item_id = :i AND seq = 6"),
                                                   {"i": i}), 5, "recorded head is seq 6"),
    ("item-head-changed", lambda c, i: c.execute(sa.text("UPDATE items SET history_hash = :h WHERE id = :i"),
                                                 {"h": "f" * 64, "i": i}), 6, "head hash"),
    ("record-and-its-hash-rewritten", lambda c, i: _forge_record(c, i, 3), 4, "prev_hash"),
]


@pytest.mark.parametrize("kind, tamper, seq, reason", TAMPERING, ids=[t[0] for t in TAMPERING])
def test_tampering_is_found_by_the_cli_and_the_api(client, world, rt, db_url, chained, kind, tamper, seq,
                                                   reason):
    target = chained["a"]
    with owner_write(rt) as conn:  # an attacker holding the database owner's password (or the SQLite file)
        _drop_protection(conn)
        tamper(conn, target["id"])

    done = audit_verify_command(db_url)
    assert done.returncode != 0, done.stdout
    assert f"item {target['number']} seq {seq}" in done.stderr and reason in done.stderr, done.stderr
    assert chained["b"]["number"] not in done.stderr

    body = client.get("/api/v1/audit/verify", headers=world.h("aud")).json()
    assert body["ok"] is False and "head" not in body
    assert body["first_bad"]["item"] == target["number"] and body["first_bad"]["seq"] == seq
    assert reason in body["first_bad"]["reason"]


def test_untampered_history_verifies_ok(client, world, db_url, chained):
    done = audit_verify_command(db_url)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok") and "9 records" in done.stdout
    body = client.get("/api/v1/audit/verify", headers=world.h("aud")).json()
    assert body["ok"] is True and body["records"] == 9 and re.fullmatch(r"[0-9a-f]{64}", body["head"])
    assert body["head"] in done.stdout


def test_only_auditors_and_admins_may_run_the_chain_check(client, world, chained):
    assert client.get("/api/v1/audit/verify", headers=world.h("adm")).status_code == 200
    for user in ("reg", "sup", "asg_a", "ver"):
        assert client.get("/api/v1/audit/verify", headers=world.h(user)).status_code == 403, user


def test_with_several_broken_chains_the_oldest_item_is_named(client, world, rt, clock):
    items = []
    for _ in range(4):
        items.append(new_item(client, world))
        clock.advance(minutes=5)
    with owner_write(rt) as conn:  # an attacker with the owner's power
        _drop_protection(conn)
        # Break the newest first and the oldest last: the answer must not depend on the order of ids.
        for item in (items[3], items[1], items[0]):
            conn.execute(sa.text("UPDATE history SET comment = 'forged' WHERE item_id = :i AND seq = 1"),
                         {"i": item["id"]})
    body = client.get("/api/v1/audit/verify", headers=world.h("aud")).json()
    assert body["ok"] is False
    assert body["first_bad"]["item"] == items[0]["number"] and body["first_bad"]["seq"] == 1
    assert body["records"] == 1  # only the third item's single record is intact

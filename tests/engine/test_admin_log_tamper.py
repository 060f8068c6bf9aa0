"""An admin-log entry edited, deleted, cut off the tail or rewritten with a whole new chain (triggers dropped first,
as an attacker with the database would), in the database or in the bundle: the in-database check, the checkpoint
taken before and both offline verifiers each name the same first bad entry. Both stores."""
from __future__ import annotations

import json

import orjson
import pytest
import sqlalchemy as sa

from engine.audit.admin_log import entry_hash
from engine.audit.append_only import APPEND_ONLY_TABLES
from engine.audit.bundle_verify import verify_bundle
from engine.audit.checkpoint import checkpoint_now
from engine.audit.keys import KeyRing
from engine.audit.verify import verify_database
from engine.canonical import canonical_bytes, canonical_text, sha256_hex
from engine.errors import IntegrityViolation
from tests.audit_helpers import export, read_bundle, standalone, write_bundle
from tests.db_roles import owner_write
from tests.helpers import audit_verify_command, new_item

_COLUMNS = ("seq", "at", "actor", "action", "target", "before", "after", "prev_hash", "hash")


def _rehash(entries: list[dict], start: int) -> list[dict]:
    """Entries from index ``start`` on re-chained with real hashes: what a careful forger writes."""
    out = [dict(e) for e in entries]
    for n in range(start, len(out)):
        out[n]["prev_hash"] = out[n - 1]["hash"] if n else "0" * 64
        parsed = {k: (orjson.loads(out[n][k]) if k in ("before", "after") and out[n][k] is not None else out[n][k])
                  for k in _COLUMNS}
        out[n]["hash"] = entry_hash(parsed)
    return out


def _edit(entries):
    entries[4] = {**entries[4], "actor": "somebody-else"}
    return entries, 5


def _delete(entries):
    return entries[:4] + entries[5:], 5


def _cut_tail(entries):
    return entries[:-2], len(entries) - 1


def _rewrite(entries):
    entries[4] = {**entries[4], "after": canonical_text({"code": "FORGED", "name": "伪造", "parent": None})}
    return _rehash(entries, 4), len(entries)  # a consistent chain: only the checkpoint's head shows it


TAMPERING = [("edit", _edit, False), ("delete", _delete, False), ("cut-tail", _cut_tail, True),
             ("rewrite", _rewrite, True)]


@pytest.fixture
def kept(world, rt, tmp_path):
    """The world's admin log and a checkpoint of it the auditor kept (its document and public key)."""
    rt.settings.audit_key_dir = tmp_path / "keys"
    doc = checkpoint_now(rt)
    (tmp_path / "trusted.json").write_text(json.dumps(doc), encoding="utf-8")
    with rt.store.read() as conn:
        count = conn.execute(sa.text("SELECT COUNT(*) FROM admin_log")).scalar_one()
    assert doc["checkpoint"]["format"] == "closeloop-checkpoint/2" and doc["checkpoint"]["admin_log_entries"] == count
    return {"doc": doc, "path": tmp_path / "trusted.json", "key": doc["public_key"]}


def _stored(conn) -> list[dict]:
    return [dict(r) for r in conn.execute(sa.text(f"SELECT {', '.join(_COLUMNS)} FROM admin_log ORDER BY seq"))
            .mappings()]


def _replace_log(conn, entries: list[dict]) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("DROP TRIGGER admin_log_no_change ON admin_log"))
    else:
        conn.execute(sa.text("DROP TRIGGER admin_log_no_update"))
        conn.execute(sa.text("DROP TRIGGER admin_log_no_delete"))
    conn.execute(sa.text("DELETE FROM admin_log"))
    if entries:
        table = sa.table("admin_log", *[sa.column(c) for c in _COLUMNS])
        conn.execute(table.insert(), entries)


def _offline(bundle, kept) -> list[dict]:
    """Both offline verifiers' admin-log verdicts, against the kept checkpoint and key."""
    report = verify_bundle(bundle, trusted_checkpoint=kept["doc"], public_keys=[bytes.fromhex(kept["key"])])
    code, alone, _ = standalone(bundle, "--trusted-checkpoint", str(kept["path"]), "--public-key", kept["key"])
    assert (report.ok, code) in ((True, 0), (False, 2))
    return [report.admin_log, alone["admin_log"]]


# The append-only tables whose own triggers refuse changes on both stores, even to the database's owner (the
# others of APPEND_ONLY_TABLES are refused to the application's role on PostgreSQL: tests/engine/test_pg_roles.py).
TRIGGERED = ("history", "admin_log")


def test_the_triggered_tables_are_append_only_tables():
    assert set(TRIGGERED) <= set(APPEND_ONLY_TABLES)


@pytest.mark.parametrize("table", TRIGGERED)
def test_every_triggered_table_refuses_changes_even_to_the_owner(client, rt, world, table):
    new_item(client, world)  # a history record and admin-log entries to try to change
    statements = [f"UPDATE {table} SET hash = hash", f"DELETE FROM {table}"]
    if rt.store.url.startswith("postgresql"):
        statements.append(f"TRUNCATE {table} CASCADE")
    for statement in statements:
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            with owner_write(rt) as conn:
                conn.execute(sa.text(statement))


def test_an_intact_log_verifies_everywhere(rt, kept, tmp_path):
    with rt.store.read() as conn:
        entries = _stored(conn)
        assert verify_database(conn).admin_log["ok"]
    verdicts = _offline(export(rt, tmp_path / "b.zip"), kept)
    assert verdicts[0] == verdicts[1] == {"ok": True, "entries": len(entries), "head": entries[-1]["hash"],
                                          "first_bad": None}


@pytest.mark.parametrize("kind, tamper, refused", TAMPERING, ids=[t[0] for t in TAMPERING])
def test_tampering_in_the_database_is_named_by_every_check(rt, db_url, kept, tmp_path, kind, tamper, refused):
    with owner_write(rt) as conn:  # whoever holds the database (the application's role may not drop triggers)
        entries, seq = tamper(_stored(conn))
        _replace_log(conn, entries)
    with rt.store.read() as conn:
        result = verify_database(conn)
    assert not result.ok and result.first_bad is None and result.admin_log["first_bad"]["seq"] == seq
    done = audit_verify_command(db_url)
    assert done.returncode == 2 and f"admin log broken at entry {seq}" in done.stderr, done.stderr
    for verdict in _offline(export(rt, tmp_path / "b.zip"), kept):
        assert verdict["ok"] is False and verdict["first_bad"]["seq"] == seq, (kind, verdict)
    if refused:  # the next checkpoint will not vouch for a log that lost what the last one covered
        with pytest.raises(IntegrityViolation, match="admin log"):
            checkpoint_now(rt)


@pytest.mark.parametrize("kind, tamper, _refused", TAMPERING, ids=[t[0] for t in TAMPERING])
def test_tampering_in_the_bundle_is_named_by_both_verifiers(rt, kept, tmp_path, kind, tamper, _refused):
    entries = read_bundle(export(rt, tmp_path / "good.zip"))
    log = [orjson.loads(line) for line in entries["admin_log.jsonl"].splitlines()]
    changed, seq = tamper(log)
    entries["admin_log.jsonl"] = b"".join(orjson.dumps(e) + b"\n" for e in changed)
    manifest = orjson.loads(entries["manifest.json"])
    manifest["counts"]["admin_log"] = len(changed)  # a forger keeps the manifest consistent too
    entries["manifest.json"] = orjson.dumps(manifest)
    for verdict in _offline(write_bundle(tmp_path / "bad.zip", entries), kept):
        assert verdict["ok"] is False and verdict["first_bad"]["seq"] == seq, (kind, verdict)


def test_malformed_entries_are_findings_not_crashes(rt, kept, tmp_path):
    entries = read_bundle(export(rt, tmp_path / "good.zip"))
    lines = entries["admin_log.jsonl"].splitlines()
    for n, bad in ((2, b"not json"), (3, b"[1, 2]"), (4, orjson.dumps({**orjson.loads(lines[3]), "seq": "4"})),
                   (5, orjson.dumps({**orjson.loads(lines[4]), "after": "{\"a\": 1.5}"})),
                   (6, orjson.dumps({**orjson.loads(lines[5]), "before": {"not": "text"}}))):
        broken = lines[:n - 1] + [bad] + lines[n:]
        entries["admin_log.jsonl"] = b"\n".join(broken) + b"\n"
        for verdict in _offline(write_bundle(tmp_path / "bad.zip", entries), kept):
            assert verdict["ok"] is False and verdict["first_bad"]["seq"] == n, (bad, verdict)


def test_a_format_1_checkpoint_made_before_the_log_still_verifies(rt, kept, tmp_path):
    entries = read_bundle(export(rt, tmp_path / "good.zip"))
    body = {k: v for k, v in kept["doc"]["checkpoint"].items() if not k.startswith("admin_log_")}
    body["format"] = "closeloop-checkpoint/1"
    key = KeyRing(rt.settings.audit_keys_path).current()
    signature = key.sign(canonical_bytes(body))
    entries["checkpoints.jsonl"] = orjson.dumps({"checkpoint": body, "signature": signature}) + b"\n"
    old = {"checkpoint": body, "hash": sha256_hex(canonical_bytes(body)), "signature": signature}
    (tmp_path / "old.json").write_text(json.dumps(old), encoding="utf-8")
    bundle = write_bundle(tmp_path / "old.zip", entries)
    kept = {**kept, "doc": old, "path": tmp_path / "old.json"}
    assert all(v["ok"] for v in _offline(bundle, kept))
    report = verify_bundle(bundle, trusted_checkpoint=old, public_keys=[bytes.fromhex(kept["key"])])
    assert report.ok, (report.problems, report.findings)

"""Signed checkpoints: what the database alone cannot show (a cut-off tail, a deleted item, a rewritten chain)
is caught against a checkpoint taken before; forged, re-signed or untrusted checkpoints are rejected.
Both stores; the offline verifier, tools/verify_bundle.py and (for some) the real command agree."""
from __future__ import annotations

import datetime as dt
import json
import os
import stat
import subprocess

import orjson
import pytest
import sqlalchemy as sa

from engine.audit.bundle_verify import verify_bundle
from engine.audit.checkpoint import checkpoint_now, daily_checkpoint
from engine.audit.keys import KeyRing
from engine.audit.replay import REPLAYED, check_records, decode_record
from engine.audit.verify import verify_database
from engine.errors import IntegrityViolation
from tests.audit_helpers import export, read_bundle, rehash, standalone, templates, write_bundle
from tests.db_roles import owner_write
from tests.engine.test_history_chain import CLOSELOOP, _drop_protection

_COLUMNS = "item_id, seq, trigger, from_state, to_state, actor, at, comment, evidence, fields, prev_hash, hash"


@pytest.fixture
def signed(client, world, rt, tmp_path):
    """Three items, and a checkpoint of them the auditor kept (its document and the public key)."""
    rt.settings.audit_key_dir = tmp_path / "keys"
    items = templates(client, world, rt)
    doc = checkpoint_now(rt)
    kept = tmp_path / "trusted.json"
    kept.write_text(json.dumps(doc), encoding="utf-8")
    return {"closed": items[0], "reopened": items[1], "open": items[2], "doc": doc, "kept": kept,
            "key": bytes.fromhex(doc["public_key"])}


def _chain(conn, item_id: str) -> list[dict]:
    return [dict(r) for r in conn.execute(sa.text(f"SELECT {_COLUMNS} FROM history WHERE item_id = :i ORDER BY seq"),
                                          {"i": item_id}).mappings()]


def _make_row_agree(rt, conn, item_id: str) -> None:
    """What a careful forger does after changing a chain: set the item row to where the chain now leads."""
    records = [decode_record(r)[0] for r in _chain(conn, item_id)]
    workflows = {wf.hash: wf.definition for name in rt.registry.names() for wf in [rt.registry.current(name)]}
    _count, finding, state = check_records(records, workflows, {})
    assert finding is None
    row = dict(conn.execute(sa.text("SELECT * FROM items WHERE id = :i"), {"i": item_id}).mappings().one())
    changes = {"state": state["state"], "version": state["seq"], "history_seq": state["seq"],
               "history_hash": state["hash"]}
    for column in REPLAYED:
        if column in ("unit", "tags") or str(row.get(column)) == str(state[column]):
            continue
        value = state[column]
        changes[column] = dt.date.fromisoformat(value) if column.endswith("due_date") and value else value
    if not state["final"]:
        changes["closed_at"] = None
    items = sa.table("items", sa.column("id"), *[sa.column(c) for c in changes])
    conn.execute(items.update().where(items.c.id == item_id).values(**changes))


def _cut_tail(rt, conn, item_id: str) -> None:
    last = conn.execute(sa.text("SELECT MAX(seq) FROM history WHERE item_id = :i"), {"i": item_id}).scalar_one()
    conn.execute(sa.text("DELETE FROM history WHERE item_id = :i AND seq = :s"), {"i": item_id, "s": last})
    _make_row_agree(rt, conn, item_id)


def _delete_item(rt, conn, item_id: str) -> None:
    conn.execute(sa.text("DELETE FROM notice_recipients WHERE notice_id IN (SELECT id FROM notices WHERE item_id = :i)"),
                 {"i": item_id})
    for statement in ("DELETE FROM notices WHERE item_id = :i", "DELETE FROM history WHERE item_id = :i",
                      "DELETE FROM items WHERE id = :i"):
        conn.execute(sa.text(statement), {"i": item_id})


def _rewrite_chain(rt, conn, item_id: str) -> None:
    chain = _chain(conn, item_id)
    chain[2]["comment"] = "一切正常"
    for record in rehash(chain, item_id):
        conn.execute(sa.text("UPDATE history SET comment = :comment, prev_hash = :prev_hash, hash = :hash "
                             "WHERE item_id = :item_id AND seq = :seq"), record)
    _make_row_agree(rt, conn, item_id)


def _move_item(rt, conn, item_id: str) -> None:
    conn.execute(sa.text("UPDATE items SET unit_id = (SELECT id FROM units WHERE code = 'DEPT-B') WHERE id = :i"),
                 {"i": item_id})


# id, the tampering, which item, the seq named, a phrase of the reason, whether the database alone sees it
SCENARIOS = [
    ("item-moved-without-a-record", _move_item, "closed", 6, "unit is 'DEPT-B'", True),
    ("cut-off-tail", _cut_tail, "open", 3, "records were removed", False),
    ("deleted-item", _delete_item, "open", 3, "the item was removed", False),
    ("rewritten-whole-chain", _rewrite_chain, "closed", 6, "the chain was rewritten", False),
]


@pytest.mark.parametrize("kind, tamper, target, seq, reason, database_sees", SCENARIOS, ids=[s[0] for s in SCENARIOS])
def test_tampering_is_caught_against_a_checkpoint_taken_before(rt, signed, tmp_path, kind, tamper, target, seq,
                                                               reason, database_sees):
    item = signed[target]
    with owner_write(rt) as conn:  # an attacker holding the database
        _drop_protection(conn)
        tamper(rt, conn, item["id"])
    with rt.store.read() as conn:
        assert verify_database(conn).ok is not database_sees  # the careful forgeries fool the database check
    bundle = export(rt, tmp_path / "b.zip")
    report = verify_bundle(bundle, trusted_checkpoint=signed["doc"], public_keys=[signed["key"]])
    assert not report.ok and not report.problems
    assert [(f["item_id"], f["seq"]) for f in report.findings] == [(item["id"], seq)]
    assert reason in report.findings[0]["reason"]
    code, alone, _ = standalone(bundle, "--trusted-checkpoint", str(signed["kept"]), "--public-key",
                                signed["doc"]["public_key"])
    assert code == 2 and [(f["item_id"], f["seq"]) for f in alone["findings"]] == [(item["id"], seq)]
    if not database_sees:
        # closeloop will not sign over what it covered before, whoever asks.
        with pytest.raises(IntegrityViolation, match="checkpoint refused"):
            checkpoint_now(rt)


def test_a_checkpoint_chain_rebuilt_by_the_server_is_not_the_one_the_auditor_kept(rt, signed, tmp_path, db_url):
    # The adversary holds the database and the signing key: rewrites a chain, drops the old checkpoints, signs anew.
    with owner_write(rt) as conn:
        _drop_protection(conn)
        _rewrite_chain(rt, conn, signed["closed"]["id"])
        conn.execute(sa.text("DELETE FROM audit_checkpoint_heads"))
        conn.execute(sa.text("DELETE FROM audit_checkpoints"))
    checkpoint_now(rt)
    bundle = export(rt, tmp_path / "b.zip")
    assert verify_bundle(bundle).ok  # consistent in itself, signed by the real key...
    report = verify_bundle(bundle, trusted_checkpoint=signed["doc"], public_keys=[signed["key"]])
    assert not report.ok and any("not the one you trusted" in p for p in report.problems), report.problems
    code, alone, _ = standalone(bundle, "--trusted-checkpoint", str(signed["kept"]))
    assert code == 2 and alone["problems"]
    done = subprocess.run([str(CLOSELOOP), "audit", "verify", str(bundle), "--trusted-checkpoint", str(signed["kept"]),
                           "--public-key", signed["doc"]["public_key"]], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "CLOSELOOP_DATABASE_URL": db_url})
    assert done.returncode == 2 and "not the one you trusted" in done.stderr, done.stderr


def _with_checkpoints(path, entries, edit) -> object:
    lines = [orjson.loads(line) for line in entries["checkpoints.jsonl"].splitlines()]
    edit(lines)
    return write_bundle(path, {**entries, "checkpoints.jsonl": b"".join(orjson.dumps(x) + b"\n" for x in lines)})


def test_a_bad_signature_or_an_untrusted_key_is_rejected(rt, signed, tmp_path):
    entries = read_bundle(export(rt, tmp_path / "b.zip"))

    def flip(lines):
        sig = lines[0]["signature"]
        lines[0]["signature"] = ("0" if sig[0] != "0" else "1") + sig[1:]

    forged = _with_checkpoints(tmp_path / "sig.zip", entries, flip)
    report = verify_bundle(forged)
    assert not report.ok and report.problems == ["checkpoint 1: the signature does not verify with key "
                                                 f"{signed['doc']['checkpoint']['key_id']}: it is forged or the "
                                                 f"checkpoint was altered"]
    assert standalone(forged)[0] == 2

    def alter(lines):
        lines[0]["checkpoint"]["records"] += 1

    assert any("signature" in p for p in verify_bundle(_with_checkpoints(tmp_path / "a.zip", entries, alter)).problems)

    other = KeyRing(tmp_path / "other-keys").current()
    clean = tmp_path / "b.zip"
    report = verify_bundle(clean, public_keys=[bytes.fromhex(other.public_hex)])
    assert not report.ok and "which you did not trust" in report.problems[0]
    code, alone, _ = standalone(clean, "--public-key", other.public_hex)
    assert code == 2 and "not trusted" in alone["problems"][0]
    assert verify_bundle(clean, public_keys=[signed["key"]]).ok


def test_keys_are_private_made_once_and_rotation_keeps_old_checkpoints_verifying(rt, signed, tmp_path):
    folder = rt.settings.audit_key_dir
    ring = KeyRing(folder)
    first = ring.current()
    assert first.key_id == signed["doc"]["checkpoint"]["key_id"]
    assert stat.S_IMODE((folder / f"ed25519-{first.key_id}.pem").stat().st_mode) == 0o600
    second = ring.rotate()
    assert ring.current().key_id == second.key_id != first.key_id
    doc = checkpoint_now(rt)
    assert doc["checkpoint"]["key_id"] == second.key_id and doc["checkpoint"]["prev"] == signed["doc"]["hash"]
    bundle = export(rt, tmp_path / "b.zip")
    keys = [bytes.fromhex(first.public_hex), bytes.fromhex(second.public_hex)]
    assert verify_bundle(bundle, trusted_checkpoint=signed["doc"], public_keys=keys).ok
    assert standalone(bundle, "--public-key", first.public_hex, "--public-key", second.public_hex)[0] == 0
    only_old = verify_bundle(bundle, public_keys=keys[:1])
    assert only_old.problems == [f"checkpoint 2 is signed by key {second.key_id}, which you did not trust"]


def test_each_checkpoint_goes_out_through_the_outbox_and_the_daily_one_is_made_once(rt, signed, clock):
    with rt.store.read() as conn:
        events = conn.execute(sa.text("SELECT payload FROM outbox WHERE event = 'audit.checkpoint'")).scalars().all()
    assert [json.loads(p)["hash"] for p in events] == [signed["doc"]["hash"]]
    assert json.loads(events[0])["checkpoint"] == signed["doc"]["checkpoint"]
    assert daily_checkpoint(rt) is None  # one was made today already
    clock.advance(days=1)
    made = daily_checkpoint(rt)
    assert made["checkpoint"]["number"] == 2 and daily_checkpoint(rt) is None


def test_the_scheduler_makes_the_daily_checkpoint(rt):
    from engine.jobs import CHECKPOINT_JOB_ID, scheduler

    job = scheduler(rt).get_job(CHECKPOINT_JOB_ID)
    assert job is not None and str(job.trigger.fields[5]) == str(rt.settings.audit_checkpoint_hour)  # the hour field


@pytest.mark.parametrize("filters", [{"unit": None, "campaign": None, "from": None, "to": None},
                                     {"unit": None, "campaign": None, "from": None, "to": None, "scope": "all"}],
                         ids=["complete-false", "made-up-filter"])
def test_an_item_cut_from_a_bundle_is_not_hidden_by_its_unsigned_manifest(rt, signed, tmp_path, filters):
    # The manifest is not signed: one line taken out of items.jsonl, the counts lowered and "complete": false set
    # (or a filter no export writes added) passed both verifiers as a filtered bundle, the removal a mere note.
    entries = read_bundle(export(rt, tmp_path / "b.zip"))
    lines = entries["items.jsonl"].splitlines()
    cut = [line for line in lines if orjson.loads(line)["id"] != signed["open"]["id"]]
    manifest = orjson.loads(entries["manifest.json"])
    manifest["counts"]["items"] -= 1
    entries["items.jsonl"] = b"\n".join(cut) + b"\n"
    kept = verify_bundle(write_bundle(tmp_path / "counted.zip", {**entries, "manifest.json": orjson.dumps(manifest)}))
    manifest["counts"]["records"] = kept.records  # the forger makes the counts agree too
    manifest.update(complete=False, filters=filters)
    forged = write_bundle(tmp_path / "forged.zip", {**entries, "manifest.json": orjson.dumps(manifest)})
    report = verify_bundle(forged, trusted_checkpoint=signed["doc"], public_keys=[signed["key"]])
    assert not report.ok and any("complete" in p or "no export writes" in p for p in report.problems), report.problems
    code, alone, _ = standalone(forged, "--trusted-checkpoint", str(signed["kept"]), "--public-key",
                                signed["doc"]["public_key"])
    assert code == 2 and any("complete: False" in p for p in alone["problems"]), alone["problems"]


def test_complete_refuses_a_filtered_bundle_true_or_forged(rt, signed, tmp_path):
    # A forger who cuts an item may claim a filter an export does write (from a day long past): the verifiers then
    # pass it as filtered. An auditor who exported every item says so with --complete, and any filter fails.
    from engine.audit.bundle import Filters

    whole = export(rt, tmp_path / "whole.zip")
    assert verify_bundle(whole, complete=True).ok and standalone(whole, "--complete")[0] == 0
    entries = read_bundle(whole)
    manifest = orjson.loads(entries["manifest.json"])
    manifest.update(complete=False, filters={**manifest["filters"], "from": "2000-01-01"})
    forged = write_bundle(tmp_path / "forged.zip", {**entries, "manifest.json": orjson.dumps(manifest)})
    filtered = export(rt, tmp_path / "unit.zip", Filters(unit="DEPT-B"))
    for bundle in (forged, filtered):
        assert verify_bundle(bundle).ok and standalone(bundle)[0] == 0  # a filtered bundle passes, with a note
        report = verify_bundle(bundle, complete=True)
        assert not report.ok and any("--complete" in p for p in report.problems), report.problems
        code, alone, _ = standalone(bundle, "--complete")
        assert code == 2 and any("--complete" in p for p in alone["problems"]), alone

"""Thousands of tamperings of a 10,000-record history, each named by both offline verifiers and the database's.

Each trial tampers with a different item (or, swapping two items' numbers, a different pair), so one bundle
carries a thousand independent trials: every verifier reports each broken item's first bad record, and the set
it names must be exactly the set of trials with the seq each one predicts; ``closeloop audit verify BUNDLE``
(in-process, and the real command for a few) and tools/verify_bundle.py (written from docs/AUDIT.md alone) must
agree on every one. A sample is also made straight in the database, triggers dropped first as an attacker with
the file would.
"""
from __future__ import annotations

import json
import os
import random
import subprocess
from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa

from engine.audit.bundle_verify import verify_bundle
from engine.audit.verify import verify_database
from engine.history import GENESIS, record_hash
from engine.store import sqlite_path
from tests.audit_helpers import clone_history, export, named, read_bundle, standalone, templates, write_bundle
from tests.db_roles import owner_write
from tests.engine.test_history_chain import CLOSELOOP, _drop_protection

TRIALS = 1000
DB_SAMPLE = 25
# The history's records edited, deleted, inserted or swapped; or two items' numbers swapped (their rows only).
KINDS = ("edit", "delete", "insert", "swap", "number")
EDITS = {"comment": "篡改后的说明", "actor": "mallory", "at": "2026-01-01T00:00:00.000000Z",
         "trigger": "close", "to_state": "closed", "evidence": '[{"name":"伪造.pdf","sha256":"00"}]',
         "fields": '{"title":"已整改"}'}


def forged(like: dict, item_id: str, seq: int, prev: str) -> dict:
    """A record that is self-consistent (its own hash recomputes) placed at ``seq`` after ``prev``."""
    record = {**like, "seq": seq, "prev_hash": prev, "comment": "补录的记录"}
    hashed = {k: record[k] for k in ("seq", "trigger", "from_state", "to_state", "actor", "at", "comment",
                                     "prev_hash")}
    hashed.update(item=item_id, evidence=json.loads(record["evidence"]), fields=json.loads(record["fields"]))
    record["hash"] = record_hash(hashed)
    return record


def tamper_entry(kind: str, entry: dict, rng: random.Random) -> int:
    """Tamper with one item's history in the bundle; return the seq a verifier must name."""
    history, item_id = entry["history"], entry["id"]
    n = len(history)
    if kind == "edit":
        k = rng.randint(1, n)
        column = rng.choice(sorted(EDITS))
        history[k - 1][column] = EDITS[column] if history[k - 1][column] != EDITS[column] else EDITS["comment"]
        return k  # its hash no longer recomputes
    if kind == "delete":
        k = rng.randint(1, n)
        del history[k - 1]
        return k + 1 if k < n else n - 1  # the record after it is out of place; a missing tail: the row's head
    if kind == "insert":
        k = rng.randint(1, n + 1)
        prev = history[k - 2]["hash"] if k > 1 else GENESIS
        history.insert(k - 1, forged(history[min(k, n) - 1], item_id, k, prev))
        return k  # the genuine record k now stands where k + 1 belongs (or, appended, k is not where the row is)
    i, j = sorted(rng.sample(range(1, n + 1), 2))
    history[i - 1], history[j - 1] = history[j - 1], history[i - 1]
    return j  # record j stands where i belongs


def swap_numbers(entries: list[dict]) -> dict[str, int]:
    """Swap the item rows' numbers (编号) two by two, the history untouched; return the seq a verifier must name
    for each (the head: the row disagrees with its creation record)."""
    for one, other in zip(entries[::2], entries[1::2]):
        one["item"]["number"], other["item"]["number"] = other["item"]["number"], one["item"]["number"]
    return {entry["id"]: len(entry["history"]) for entry in entries}


def tamper_database(conn, kind: str, item_id: str, n: int, rng: random.Random) -> int:
    """The same kinds of tampering, in the database; return the seq a verifier must name."""
    at = {"i": item_id}
    if kind == "number":  # the row only: what offices call the item, no longer what its creation record says
        conn.execute(sa.text("UPDATE items SET number = number || '-1' WHERE id = :i"), at)
        return n
    if kind == "edit":
        k = rng.randint(1, n)
        conn.execute(sa.text("UPDATE history SET comment = '篡改后的说明' WHERE item_id = :i AND seq = :k"), {**at, "k": k})
        return k
    if kind == "delete":
        k = rng.randint(1, n)
        conn.execute(sa.text("DELETE FROM history WHERE item_id = :i AND seq = :k"), {**at, "k": k})
        return k + 1 if k < n else n - 1
    if kind == "insert":
        k = rng.randint(1, n + 1)
        rows = [dict(r) for r in conn.execute(sa.text(
            "SELECT item_id, seq, trigger, from_state, to_state, actor, at, comment, evidence, fields, prev_hash, "
            "hash FROM history WHERE item_id = :i ORDER BY seq"), at).mappings()]
        record = forged(rows[min(k, n) - 1], item_id, k, rows[k - 2]["hash"] if k > 1 else GENESIS)
        conn.execute(sa.text("UPDATE history SET seq = -seq WHERE item_id = :i AND seq >= :k"), {**at, "k": k})
        conn.execute(sa.text("UPDATE history SET seq = 1 - seq WHERE item_id = :i AND seq < 0"), at)
        conn.execute(sa.text("INSERT INTO history (item_id, seq, trigger, from_state, to_state, actor, at, comment, "
                             "evidence, fields, prev_hash, hash) VALUES (:item_id, :seq, :trigger, :from_state, "
                             ":to_state, :actor, :at, :comment, :evidence, :fields, :prev_hash, :hash)"), record)
        return k + 1 if k <= n else n + 1  # the shifted genuine record's prev_hash no longer matches
    i, j = sorted(rng.sample(range(1, n + 1), 2))
    for old, new in ((i, -1), (j, i), (-1, j)):
        conn.execute(sa.text("UPDATE history SET seq = :new WHERE item_id = :i AND seq = :old"),
                     {**at, "old": old, "new": new})
    return i  # the record now numbered i chains to j - 1, not to i - 1


def _cli(bundle) -> subprocess.CompletedProcess:
    return subprocess.run([str(CLOSELOOP), "audit", "verify", str(bundle)], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "CLOSELOOP_DATABASE_URL": "sqlite:////nonexistent/x.db"})


def test_every_tampering_of_a_10000_record_history_is_named_by_every_verifier(client, world, rt, tmp_path):
    clone_history(rt, templates(client, world, rt), records=10_000)
    clean = export(rt, tmp_path / "clean.zip")
    report = verify_bundle(clean)
    assert report.ok, (report.problems, report.findings[:3])
    assert report.records >= 10_000
    code, alone, _ = standalone(clean)
    assert code == 0 and alone["ok"] and alone["records"] == report.records
    entries = read_bundle(clean)
    lines = entries["items.jsonl"].splitlines()
    rng = random.Random(20261127)

    for kind in KINDS:
        expected, changed, records = {}, list(lines), 0
        picked = [(index, orjson.loads(lines[index])) for index in rng.sample(range(len(lines)), TRIALS)]
        if kind == "number":
            expected = swap_numbers([entry for _index, entry in picked])
        for index, entry in picked:
            before = len(entry["history"])
            if kind != "number":
                expected[entry["id"]] = tamper_entry(kind, entry, rng)
            records += len(entry["history"]) - before
            changed[index] = orjson.dumps(entry)
        # The adversary keeps the manifest's counts in step, so only the records themselves give it away.
        manifest = orjson.loads(entries["manifest.json"])
        manifest["counts"]["records"] += records
        bundle = write_bundle(tmp_path / f"{kind}.zip", {**entries, "manifest.json": orjson.dumps(manifest),
                                                         "items.jsonl": b"\n".join(changed) + b"\n"})
        report = verify_bundle(bundle)
        assert not report.ok and not report.problems
        assert named(report.findings) == expected, kind
        code, alone, _ = standalone(bundle)
        assert code == 2 and named(alone["findings"]) == expected, kind
        assert [f["item_id"] for f in alone["findings"]] == [f["item_id"] for f in report.findings]
        if kind == "insert":  # items checked by forked processes: the same answer, in the same order
            assert verify_bundle(bundle, workers=2).findings == report.findings
        if kind in ("delete", "swap"):  # the real command, on a few
            done = _cli(bundle)
            first = report.first_bad
            assert done.returncode == 2 and f"item {first['item']} seq {first['seq']}:" in done.stderr, done.stderr

    # A sample straight in the database: the database verifier, and a bundle exported from it, name each one.
    with rt.store.read() as conn:
        sizes = dict(conn.execute(sa.text("SELECT item_id, MAX(seq) FROM history GROUP BY item_id")).all())
    chosen = rng.sample(sorted(sizes), len(KINDS) * DB_SAMPLE)
    expected = {}
    with owner_write(rt) as conn:  # an attacker holding the database
        _drop_protection(conn)
        for n, item_id in enumerate(chosen):
            kind = KINDS[n // DB_SAMPLE]
            expected[item_id] = tamper_database(conn, kind, item_id, sizes[item_id], rng)
    with rt.store.read() as conn:
        result = verify_database(conn)
    assert not result.ok and named(result.findings) == expected
    bundle = export(rt, tmp_path / "tampered-db.zip")
    report = verify_bundle(bundle)
    assert named(report.findings) == expected and report.first_bad == result.first_bad
    code, alone, _ = standalone(bundle)
    assert code == 2 and named(alone["findings"]) == expected
    done = _cli(bundle)
    assert done.returncode == 2 and f"item {result.first_bad['item']} seq {result.first_bad['seq']}:" in done.stderr


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_cloned_history_is_committed_in_batches_and_leaves_no_write_ahead_log(client, world, rt):
    """bench/audit_verify.py builds a million records with it: a few large commits no checkpoint followed
    left them all in the -wal file (gigabytes), which every later insert searched."""
    made = clone_history(rt, templates(client, world, rt), records=3_000, batch=500)
    wal = Path(f"{sqlite_path(rt.store.url)}-wal")
    assert made > 400 and (not wal.exists() or wal.stat().st_size == 0)
    with rt.store.read() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM history")).scalar_one() >= 3_000
        assert verify_database(conn).ok

"""A look-back re-check is part of the item's hash chain: the database's, the bundle's and the standalone
verifiers accept it in its one legitimate form and name a forged one, on both stores."""
from __future__ import annotations

import json

import orjson
import pytest

from engine.audit.bundle_verify import verify_bundle
from tests.audit_helpers import export, named, read_bundle, rehash, standalone, write_bundle
from tests.helpers import drive, new_item


@pytest.fixture
def rechecked(client, world, rt):
    """Two closed items re-checked in one look-back: one passed, one failed (and so reopened)."""
    made = [drive(client, world, rt, new_item(client, world), "closed") for _ in range(2)]
    lookback = client.post("/api/v1/lookbacks", json={"percent": 100, "seed": "chain"}, headers=world.h("aud")).json()
    for item, result in zip(made, ("passed", "failed")):
        response = client.post(f"/api/v1/lookbacks/{lookback['id']}/items/{item['id']}",
                               json={"result": result, "note": "回头看"}, headers=world.h("aud"))
        assert response.status_code == 200, response.text
    return made


def _forge(entries: dict[str, bytes], item_id: str, change: dict) -> int:
    """Change the item's look-back record and re-chain every record with real hashes; return its seq."""
    lines = entries["items.jsonl"].decode().splitlines()
    for n, line in enumerate(lines):
        entry = json.loads(line)
        if entry["id"] != item_id:
            continue
        seq = next(r["seq"] for r in entry["history"] if r["trigger"] == "lookback")
        entry["history"][seq - 1].update(change)
        entry["history"] = rehash(entry["history"], item_id)
        entry["item"]["history_hash"] = entry["history"][-1]["hash"]
        lines[n] = orjson.dumps(entry).decode()
    entries["items.jsonl"] = ("\n".join(lines) + "\n").encode()
    return seq


def test_genuine_re_checks_verify_everywhere(client, world, rt, rechecked, tmp_path):
    assert client.get("/api/v1/audit/verify", headers=world.h("aud")).json()["ok"] is True
    bundle = export(rt, tmp_path / "bundle.zip")
    assert verify_bundle(bundle).ok
    status, report, stderr = standalone(bundle)
    assert status == 0 and report["ok"], (report, stderr)


@pytest.mark.parametrize("change", [
    {"to_state": "rectifying"},  # a re-check that moves the item would bypass the workflow
    {"fields": '{"lookback":1,"result":"passed","title":"已整改"}'},  # one that changes what the item says
    {"fields": '{"lookback":1,"result":"maybe"}'},
])
def test_a_forged_re_check_is_named(client, world, rt, rechecked, tmp_path, change):
    entries = read_bundle(export(rt, tmp_path / "bundle.zip"))
    seq = _forge(entries, rechecked[0]["id"], change)
    forged = write_bundle(tmp_path / "forged.zip", entries)
    report = verify_bundle(forged)
    assert not report.ok and named(report.findings) == {rechecked[0]["id"]: seq}
    assert "re-check" in report.findings[0]["reason"]
    status, standalone_report, _ = standalone(forged)
    assert status != 0 and named(standalone_report["findings"]) == {rechecked[0]["id"]: seq}

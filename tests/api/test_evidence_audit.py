"""Evidence files in the audit (both stores): carried by the bundle, checked by both offline verifiers (which
agree) and by the database verify against the store on disk."""
from __future__ import annotations

import hashlib
import os
import subprocess
import zipfile

import orjson
import pytest

from engine.audit.bundle import Filters, stream_bundle
from engine.audit.bundle_verify import verify_bundle
from tests.audit_helpers import read_bundle, standalone, write_bundle
from tests.engine.test_history_chain import CLOSELOOP
from tests.evidence_samples import ACCEPTED, PDF
from tests.helpers import drive, fire, new_item

PNG = ACCEPTED["image/png"]


@pytest.fixture
def evidenced(client, world, rt, tmp_path):
    """Two items submitted with stored files (one in DEPT-B), and a file uploaded but never referred to."""
    rt.settings.evidence_dir = tmp_path / "evidence"
    rt.settings.audit_key_dir = tmp_path / "keys"
    shas = {}
    for unit, user, name, content in (("DEPT-A", "asg_a", "验收报告 ✅.pdf", PDF), ("DEPT-B", "asg_b", "现场照片📷.png", PNG)):
        item = drive(client, world, rt, new_item(client, world, unit=unit, due_date="2026-04-30"), "rectifying")
        up = client.post(f"/api/v1/items/{item['id']}/evidence", files={"file": (name, content)}, headers=world.h(user))
        assert up.status_code == 201, up.text
        shas[unit] = up.json()["sha256"]
        done = fire(client, world, item, {"trigger": "submit", "evidence": [{"sha256": shas[unit], "stored": True}]},
                    user)
        assert done.status_code == 200, done.text
    unused = new_item(client, world)
    client.post(f"/api/v1/items/{unused['id']}/evidence", files={"file": ("draft.gif", ACCEPTED["image/gif"])},
                headers=world.h("asg_a"))
    shas["unused"] = hashlib.sha256(ACCEPTED["image/gif"]).hexdigest()
    return shas


def _export(client, world, tmp_path, **params):
    response = client.get("/api/v1/audit/export", params=params, headers=world.h("aud"))
    assert response.status_code == 200, response.text
    path = tmp_path / "bundle.zip"
    path.write_bytes(response.content)
    return path


def _both(path, *args):
    """Problems from closeloop's verifier and the standalone one, which must agree on ok."""
    report = verify_bundle(path, with_evidence="--with-evidence" in args)
    code, other, stderr = standalone(path, *args)
    assert other is not None, stderr
    assert report.ok == other["ok"] and code == (0 if report.ok else 2), (report.problems, other["problems"])
    return report.problems, other["problems"]


def test_the_bundle_carries_the_referenced_files_and_verifies(client, world, evidenced, tmp_path):
    path = _export(client, world, tmp_path, with_evidence="true")
    entries = read_bundle(path)
    assert {n for n in entries if n.startswith("evidence/")} == {f"evidence/{evidenced['DEPT-A']}",
                                                                 f"evidence/{evidenced['DEPT-B']}"}
    assert entries[f"evidence/{evidenced['DEPT-A']}"] == PDF
    manifest = orjson.loads(entries["manifest.json"])
    assert manifest["evidence"]["included"] is True and manifest["counts"]["evidence"] == 2
    assert _both(path, "--with-evidence") == ([], [])
    filtered = _export(client, world, tmp_path, with_evidence="true", unit="DEPT-B")
    assert [n for n in read_bundle(filtered) if n.startswith("evidence/")] == [f"evidence/{evidenced['DEPT-B']}"]
    assert _both(filtered, "--with-evidence") == ([], [])


def test_a_bundle_without_evidence_verifies_unless_evidence_is_asked_for(client, world, evidenced, tmp_path):
    path = _export(client, world, tmp_path)
    assert not [n for n in read_bundle(path) if n.startswith("evidence/")]
    assert _both(path) == ([], [])
    ours, theirs = _both(path, "--with-evidence")
    assert len(ours) == len(theirs) == 1 and "no evidence files" in ours[0] and "no evidence files" in theirs[0]


@pytest.mark.parametrize("tamper", ["changed", "removed", "renamed"])
def test_a_changed_or_missing_file_in_the_bundle_is_named_by_both_verifiers(client, world, evidenced, tmp_path,
                                                                            tamper):
    entries = read_bundle(_export(client, world, tmp_path, with_evidence="true"))
    sha = evidenced["DEPT-A"]
    content = entries.pop(f"evidence/{sha}")
    if tamper == "changed":
        entries[f"evidence/{sha}"] = content.replace(b"Catalog", b"Catalos")
    elif tamper == "renamed":
        entries["evidence/" + hashlib.sha256(content + b"!").hexdigest()] = content + b"!"
    ours, theirs = _both(write_bundle(tmp_path / "tampered.zip", entries))
    for problems in (ours, theirs):
        assert problems and all(sha in p or "count" in p or tamper == "renamed" for p in problems), problems
        assert any(sha in p for p in problems), problems
        assert any(("missing" in p) == (tamper != "changed") for p in problems if sha in p), problems


def _cli(db_url, tmp_path, *args):
    env = {**os.environ, "CLOSELOOP_DATABASE_URL": db_url, "CLOSELOOP_AUDIT_KEY_DIR": str(tmp_path / "keys"),
           "CLOSELOOP_EVIDENCE_DIR": str(tmp_path / "evidence")}
    return subprocess.run([str(CLOSELOOP), "audit", *args], capture_output=True, text=True, env=env, timeout=120)


def test_a_stored_file_changed_on_disk_is_caught_in_the_database_and_in_the_bundle(db_url, evidenced, tmp_path):
    assert _cli(db_url, tmp_path, "verify", "--with-evidence").returncode == 0
    sha, gone = evidenced["DEPT-A"], evidenced["DEPT-B"]
    stored = tmp_path / "evidence" / sha[:2] / sha[2:4] / sha
    stored.write_bytes(stored.read_bytes() + b"%% appended later\n")
    (tmp_path / "evidence" / gone[:2] / gone[2:4] / gone).unlink()
    checked = _cli(db_url, tmp_path, "verify", "--with-evidence")
    assert checked.returncode == 2, checked.stderr
    assert f"evidence file {sha} (验收报告 ✅.pdf" in checked.stderr and "was changed" in checked.stderr
    assert f"evidence file {gone}" in checked.stderr and "missing" in checked.stderr
    assert _cli(db_url, tmp_path, "verify").returncode == 0  # the chains alone are intact
    exported = _cli(db_url, tmp_path, "export", str(tmp_path / "b.zip"), "--with-evidence")
    assert exported.returncode == 0, exported.stderr
    ours, theirs = _both(tmp_path / "b.zip", "--with-evidence")
    for problems in (ours, theirs):
        assert [p for p in problems if sha in p and "changed" in p] and [p for p in problems if gone in p
                                                                          and "missing" in p], problems
    offline = _cli(db_url, tmp_path, "verify", str(tmp_path / "b.zip"), "--with-evidence")
    assert offline.returncode == 2 and sha in offline.stderr and gone in offline.stderr


def test_the_api_verify_checks_stored_files_when_asked(client, world, evidenced, tmp_path):
    sha = evidenced["DEPT-A"]
    intact = client.get("/api/v1/audit/verify?with_evidence=true", headers=world.h("aud")).json()
    assert intact["ok"] is True and intact["evidence"] == {"checked": 3, "problems": []}
    stored = tmp_path / "evidence" / sha[:2] / sha[2:4] / sha
    stored.write_bytes(b"%PDF-1.4 replaced\n")
    checked = client.get("/api/v1/audit/verify", params={"with_evidence": "true"}, headers=world.h("aud")).json()
    assert checked["ok"] is False and checked["evidence"]["checked"] == 3
    assert [p for p in checked["evidence"]["problems"] if sha in p and "was changed" in p], checked
    assert checked["head"] and "first_bad" not in checked  # the chains themselves are intact
    plain = client.get("/api/v1/audit/verify", headers=world.h("aud")).json()
    assert plain["ok"] is True and "evidence" not in plain  # the files are read only when asked for


def test_export_streams_files_in_bounded_chunks(client, world, rt, tmp_path):
    rt.settings.evidence_dir = tmp_path / "evidence"
    item = drive(client, world, rt, new_item(client, world, due_date="2026-04-30"), "rectifying")
    big = PDF + os.urandom(6 * 1024 * 1024)  # random: deflate cannot shrink it below the chunk bound
    sha = client.post(f"/api/v1/items/{item['id']}/evidence", files={"file": ("big.pdf", big)},
                      headers=world.h("asg_a")).json()["sha256"]
    assert fire(client, world, item, {"trigger": "submit", "evidence": [{"sha256": sha, "stored": True}]},
                "asg_a").status_code == 200
    sizes, path = [], tmp_path / "b.zip"
    with open(path, "wb") as out:
        for chunk in stream_bundle(rt, Filters(), with_evidence=True):
            sizes.append(len(chunk))
            out.write(chunk)
    assert sum(sizes) > len(big) and max(sizes) < 2 * 1024 * 1024, max(sizes)
    with zipfile.ZipFile(path) as bundle:
        assert hashlib.sha256(bundle.read(f"evidence/{sha}")).hexdigest() == sha


@pytest.mark.parametrize("change", ["longer", "shorter", "same-size"])
def test_a_download_of_a_file_changed_on_disk_is_refused_not_served(client, world, rt, evidenced, tmp_path, change):
    # Was a 200 whose body broke off mid-transfer (the Content-Length sent was the recorded size) or, at the same
    # size, other bytes served under the recorded SHA-256.
    sha = evidenced["DEPT-A"]
    item = client.get("/api/v1/items", params={"unit": "DEPT-A"}, headers=world.h("aud")).json()["data"]
    [owner] = [i for i in item if client.get(f"/api/v1/items/{i['id']}/evidence/{sha}",
                                             headers=world.h("aud")).status_code == 200]
    url = f"/api/v1/items/{owner['id']}/evidence/{sha}"
    assert client.get(url, headers=world.h("aud")).content == PDF
    stored = tmp_path / "evidence" / sha[:2] / sha[2:4] / sha
    body = stored.read_bytes()
    stored.write_bytes({"longer": body + b"%% appended\n", "shorter": body[:-5],
                        "same-size": body[:-1] + bytes([body[-1] ^ 1])}[change])
    refused = client.get(url, headers=world.h("aud"))
    assert refused.status_code == 423, (refused.status_code, refused.text[:200])
    assert refused.json()["type"].endswith("integrity-violation") and "no longer the file recorded" in refused.text
    stored.write_bytes(body)  # put back: served again
    assert client.get(url, headers=world.h("aud")).content == PDF

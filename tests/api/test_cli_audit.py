"""The `closeloop audit` commands as an operator runs them, and a verifier that meets broken bundles."""
from __future__ import annotations

import contextlib
import json
import os
import random
import subprocess
import zipfile

import orjson
import pytest
from typer.testing import CliRunner

from api.cli import app
from engine.audit import bundle_items
from engine.audit.bundle_verify import BundleError, verify_bundle
from tests.audit_helpers import named, read_bundle, rehash, standalone, templates, write_bundle
from tests.engine.test_history_chain import CLOSELOOP


def _env(db_url, tmp_path) -> dict[str, str]:
    return {"CLOSELOOP_DATABASE_URL": db_url, "CLOSELOOP_AUDIT_KEY_DIR": str(tmp_path / "keys")}


def _script(db_url, tmp_path, *args):
    """``closeloop audit ARGS`` run as the console script an operator runs."""
    return subprocess.run([str(CLOSELOOP), "audit", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **_env(db_url, tmp_path)})


def _run(db_url, tmp_path, *args):
    """``closeloop audit ARGS`` in this process, answered like a finished process: a second apiece less than
    the console script (which test_checkpoint_export_verify_and_rotate_from_the_command_line runs)."""
    result = CliRunner().invoke(app, ["audit", *args], env=_env(db_url, tmp_path))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception  # a traceback the console script would print: the test must see it
    return subprocess.CompletedProcess(["closeloop", "audit", *args], result.exit_code, result.stdout, result.stderr)


# Verifying a bundle reads only the file, which is the same whichever store it came from (the first test exports
# from both): the tests of broken bundles run on one.
ONE_STORE = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@pytest.fixture
def exported(client, world, rt, db_url, tmp_path):
    """Three items, a checkpoint written with -o, and a bundle exported by the command."""
    templates(client, world, rt)
    made = _run(db_url, tmp_path, "checkpoint", "-o", str(tmp_path / "cp.json"))
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout) == json.loads((tmp_path / "cp.json").read_text(encoding="utf-8"))
    done = _run(db_url, tmp_path, "export", str(tmp_path / "b.zip"))
    assert done.returncode == 0, done.stderr
    return tmp_path / "b.zip"


def test_checkpoint_export_verify_and_rotate_from_the_command_line(db_url, tmp_path, exported):
    kept = json.loads((tmp_path / "cp.json").read_text(encoding="utf-8"))
    done = _script(db_url, tmp_path, "verify", str(exported), "--trusted-checkpoint", str(tmp_path / "cp.json"),
                "--public-key", kept["public_key"])
    assert done.returncode == 0 and done.stdout.startswith("ok: 3 items, 16 records, 1 checkpoints"), done.stderr
    assert "keys inside the bundle" not in done.stderr
    rotated = _script(db_url, tmp_path, "rotate-key")
    assert rotated.returncode == 0 and "new signing key" in rotated.stdout
    assert _script(db_url, tmp_path, "checkpoint").returncode == 0
    assert _script(db_url, tmp_path, "export", str(tmp_path / "b2.zip")).returncode == 0
    only_old = _script(db_url, tmp_path, "verify", str(tmp_path / "b2.zip"), "--public-key", kept["public_key"])
    assert only_old.returncode == 2 and "checkpoint 2 is signed by key" in only_old.stderr
    assert _script(db_url, tmp_path, "verify", str(tmp_path / "b2.zip"), "--trusted-checkpoint",
                str(tmp_path / "cp.json")).returncode == 0
    assert _script(db_url, tmp_path, "verify").returncode == 0  # no argument: the database, as before


@ONE_STORE
@pytest.mark.parametrize("content, phrase", [(b"not a zip", "not a readable bundle"),
                                             (None, "has no manifest.json"), (b"{}", "does not name the format")])
def test_an_unreadable_bundle_is_a_clear_error(db_url, tmp_path, content, phrase):
    path = tmp_path / "bad.zip"
    if content == b"not a zip":
        path.write_bytes(content)
    else:
        with zipfile.ZipFile(path, "w") as bundle:
            if content is not None:
                bundle.writestr("manifest.json", content)
    done = _run(db_url, tmp_path, "verify", str(path))
    assert done.returncode == 2 and phrase in done.stderr and "Traceback" not in done.stderr, done.stderr
    with pytest.raises(BundleError, match=phrase):
        verify_bundle(path)
    assert standalone(path)[0] == 1


@ONE_STORE
def test_bad_trusted_inputs_are_clear_errors(db_url, tmp_path, exported):
    (tmp_path / "junk.json").write_text("[1, 2", encoding="utf-8")
    for args, phrase in ((["--trusted-checkpoint", str(tmp_path / "junk.json")], "not a readable JSON document"),
                         (["--public-key", "abc"], "the public key must be"),
                         (["--trusted-checkpoint", str(tmp_path / "cp.json"), "--public-key", "00" * 32], "")):
        done = _run(db_url, tmp_path, "verify", str(exported), *args)
        assert done.returncode == 2 and phrase in done.stderr and "Traceback" not in done.stderr, done.stderr


_ODD_VALUES = [None, 1, -1, 2.5, True, "", "x" * 70, [], {}, [1, "a"], {"a": None}, "\ud800"[:0] + "é"]


def _mangle(value, rng):
    """One random value somewhere inside ``value`` replaced by an odd one."""
    if isinstance(value, dict) and value and rng.random() < 0.7:
        key = rng.choice(sorted(value))
        return {**value, key: _mangle(value[key], rng)}
    if isinstance(value, list) and value and rng.random() < 0.7:
        index = rng.randrange(len(value))
        return value[:index] + [_mangle(value[index], rng)] + value[index + 1:]
    return rng.choice(_ODD_VALUES)


@ONE_STORE
def test_a_verifier_meets_broken_data_and_names_it_without_crashing(tmp_path, exported):
    entries = read_bundle(exported)
    rng = random.Random(5)
    for trial in range(80):
        name = rng.choice(["items.jsonl", "checkpoints.jsonl", "checkpoint_heads.jsonl", "keys.jsonl",
                           "workflows.jsonl"])
        lines = entries[name].splitlines()
        index = rng.randrange(len(lines))
        lines[index] = orjson.dumps(_mangle(orjson.loads(lines[index]), rng)) if rng.random() < 0.9 else b"{not json"
        bundle = write_bundle(tmp_path / "m.zip", {**entries, name: b"\n".join(lines) + b"\n"})
        report = verify_bundle(bundle)  # never raises on what it exists to catch
        if trial % 10 == 0:
            code, alone, stderr = standalone(bundle)
            assert code in (0, 2) and "Traceback" not in stderr, stderr
            assert alone["ok"] == report.ok, (name, report.findings, report.problems, alone)


@ONE_STORE
def test_json_nested_deeper_than_a_parser_recurses_is_a_finding_not_a_crash(tmp_path, exported):
    entries = read_bundle(exported)
    deep = b"[" * 5_000 + b"]" * 5_000
    for name in ("items.jsonl", "keys.jsonl", "workflows.jsonl"):
        lines = entries[name].splitlines()
        bundle = write_bundle(tmp_path / f"deep-{name}.zip", {**entries, name: b"\n".join([deep, *lines[1:]]) + b"\n"})
        assert not verify_bundle(bundle).ok
        code, alone, stderr = standalone(bundle)
        assert code == 2 and alone["ok"] is False and "Traceback" not in stderr, stderr
    # Inside a record, as the text of its fields: the same.
    lines = entries["items.jsonl"].splitlines()
    item = orjson.loads(lines[0])
    item["history"][0]["fields"] = deep.decode()
    bundle = write_bundle(tmp_path / "deep-fields.zip", {**entries, "items.jsonl": b"\n".join([orjson.dumps(item), *lines[1:]]) + b"\n"})
    assert not verify_bundle(bundle).ok
    code, alone, stderr = standalone(bundle)
    assert code == 2 and alone["ok"] is False and "Traceback" not in stderr, stderr
    # Nested as deep as orjson reads but past Python's recursion limit, in a record's evidence: the record named.
    item = orjson.loads(lines[1])
    item["history"][1]["evidence"] = "[" * 600 + "]" * 600
    bundle = write_bundle(tmp_path / "nested.zip", {**entries, "items.jsonl": b"\n".join(
        [lines[0], orjson.dumps(item), *lines[2:]]) + b"\n"})
    report = verify_bundle(bundle, workers=2)
    code, alone, stderr = standalone(bundle)
    assert code == 2 and named(report.findings) == named(alone["findings"]) == {item["id"]: 2}, stderr


@ONE_STORE
@pytest.mark.parametrize("block", [1 << 20, 64])  # the lines in one block, or about a block each
def test_an_item_given_twice_and_a_line_that_is_no_item_are_named_wherever_blocks_end(tmp_path, exported,
                                                                                      monkeypatch, block):
    entries = read_bundle(exported)
    lines = entries["items.jsonl"].splitlines()
    bundle = write_bundle(tmp_path / "twice.zip", {**entries, "items.jsonl": b"\n".join(
        [lines[0], lines[1], b"{not json", lines[2], lines[1]]) + b"\n"})
    twice = orjson.loads(lines[1])
    monkeypatch.setattr(bundle_items, "BLOCK", block)
    for workers in (1, 2):
        report = verify_bundle(bundle, workers=workers)
        assert report.problems[0] == "items.jsonl line 3: the line is not an item entry"
        assert report.findings == [{"item": twice["item"]["number"], "item_id": twice["id"], "seq": None,
                                    "reason": "the item appears twice in the bundle"}]
    code, alone, _ = standalone(bundle)
    assert code == 2 and named(alone["findings"]) == {twice["id"]: None}


@ONE_STORE
def test_a_record_holding_a_float_is_named_by_both_verifiers_though_its_hash_was_recomputed(tmp_path, exported):
    entries = read_bundle(exported)
    lines = entries["items.jsonl"].splitlines()
    item = orjson.loads(lines[0])
    fields = json.loads(item["history"][1]["fields"])
    item["history"][1]["fields"] = json.dumps({**fields, "score": 1.5}, sort_keys=True, separators=(",", ":"))
    item["history"] = rehash(item["history"], item["id"])  # as the formula would hash it if it allowed floats
    item["item"]["history_hash"] = item["history"][-1]["hash"]
    bundle = write_bundle(tmp_path / "float.zip", {**entries, "items.jsonl": b"\n".join(
        [orjson.dumps(item), *lines[1:]]) + b"\n"})
    code, alone, _ = standalone(bundle)
    assert named(verify_bundle(bundle).findings) == {item["id"]: 2}
    assert code == 2 and named(alone["findings"]) == {item["id"]: 2}


def _manifest_of_kind(entries, value):
    return {**entries, "manifest.json": orjson.dumps(value)}


def _counts_as_text(entries):
    return _manifest_of_kind(entries, {**orjson.loads(entries["manifest.json"]), "counts": "many"})


def _workflow_hash_as_list(entries):
    lines = entries["workflows.jsonl"].splitlines()
    line = orjson.loads(lines[0])
    return {**entries, "workflows.jsonl": b"\n".join([orjson.dumps({**line, "hash": [line["hash"]]}), *lines[1:]])}


# A value of another kind where the bundle format has an object or a hash: the standalone verifier's answer
# (1: the bundle cannot be read; 2: it does not verify), as closeloop's verifier refuses the same bundle.
WRONG_KINDS = [("manifest-a-list", lambda entries: _manifest_of_kind(entries, []), 1),
               ("counts-as-text", _counts_as_text, 2),
               ("workflow-hash-a-list", _workflow_hash_as_list, 2)]


@ONE_STORE
@pytest.mark.parametrize("edit, status", [w[1:] for w in WRONG_KINDS], ids=[w[0] for w in WRONG_KINDS])
def test_a_value_of_the_wrong_kind_is_refused_by_the_standalone_verifier_without_a_traceback(tmp_path, exported,
                                                                                            edit, status):
    bundle = write_bundle(tmp_path / "kind.zip", edit(read_bundle(exported)))
    with pytest.raises(BundleError) if status == 1 else contextlib.nullcontext():
        assert not verify_bundle(bundle).ok
    code, alone, stderr = standalone(bundle)
    assert code == status and "Traceback" not in stderr, stderr
    assert status == 1 or alone["ok"] is False


@ONE_STORE
def test_a_trusted_checkpoint_that_is_no_json_object_is_a_clear_error_of_the_standalone_verifier(tmp_path, exported):
    (tmp_path / "list.json").write_text("[1, 2]", encoding="utf-8")
    code, _, stderr = standalone(exported, "--trusted-checkpoint", str(tmp_path / "list.json"))
    assert code == 1 and "not a checkpoint document" in stderr and "Traceback" not in stderr, stderr


@ONE_STORE
def test_complete_on_the_command_line_refuses_a_filtered_bundle(client, world, rt, db_url, tmp_path):
    templates(client, world, rt)
    whole, unit = tmp_path / "whole.zip", tmp_path / "unit.zip"
    assert _run(db_url, tmp_path, "export", str(whole)).returncode == 0
    assert _run(db_url, tmp_path, "export", str(unit), "--unit", "DEPT-B").returncode == 0
    assert _run(db_url, tmp_path, "verify", str(whole), "--complete").returncode == 0
    assert _run(db_url, tmp_path, "verify", str(unit)).returncode == 0  # filtered, and said so in a note
    refused = _run(db_url, tmp_path, "verify", str(unit), "--complete")
    assert refused.returncode == 2 and "filtered by unit=DEPT-B" in refused.stderr and "--complete" in refused.stderr
    database = _run(db_url, tmp_path, "verify", "--complete")
    assert database.returncode == 2 and "apply to a bundle" in database.stderr, database.stderr

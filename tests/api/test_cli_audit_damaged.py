"""Bundles damaged in transit or by hand: `closeloop audit verify` and tools/verify_bundle.py name the damage and
stop, in seconds and bounded memory, never a traceback or a loop without end."""
from __future__ import annotations

import json
import time
import zipfile

import pytest

from engine.audit import bundle_items
from engine.audit.bundle_verify import BundleError, verify_bundle
from tests.api.test_cli_audit import ONE_STORE, _run, exported  # noqa: F401 - the fixture
from tests.audit_helpers import read_bundle, standalone, write_bundle

pytestmark = ONE_STORE


def _heads_with(tmp_path, exported, change) -> zipfile.Path:  # noqa: F811
    entries = read_bundle(exported)
    heads = entries["checkpoint_heads.jsonl"].decode().splitlines()
    return write_bundle(tmp_path / "heads.zip", {**entries, "checkpoint_heads.jsonl": (
        "\n".join(change([json.loads(h) for h in heads])) + "\n").encode()})


@pytest.mark.parametrize("case", ["checkpoint 10**15", "seq -1"])
def test_heads_naming_a_checkpoint_or_seq_no_bundle_has_are_problems_found_at_once(db_url, tmp_path, exported,  # noqa: F811
                                                                                    case):
    def change(rows):
        if case == "checkpoint 10**15":
            rows.append([10**15, *rows[-1][1:]])
        else:
            rows[0][2] = -1
        return [json.dumps(row) for row in rows]

    path = _heads_with(tmp_path, exported, change)
    started = time.monotonic()
    report = verify_bundle(path)
    assert time.monotonic() - started < 10
    assert not report.ok and any("checkpoint_heads.jsonl line" in p for p in report.problems), report.problems
    done = _run(db_url, tmp_path, "verify", str(path))
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    code, _report, stderr = standalone(path)
    assert code in (1, 2) and "Traceback" not in stderr, stderr


def _damaged_byte(exported, tmp_path) -> zipfile.Path:  # noqa: F811
    data = bytearray(exported.read_bytes())
    info = zipfile.ZipFile(exported).getinfo("items.jsonl")
    middle = info.header_offset + 30 + len(info.filename) + len(info.extra) + info.compress_size // 2
    data[middle] ^= 0xFF
    path = tmp_path / "damaged.zip"
    path.write_bytes(bytes(data))
    return path


def _encrypted(exported, tmp_path) -> zipfile.Path:  # noqa: F811
    # The "encrypted" flag set on items.jsonl in its local header and in the central directory.
    data = bytearray(exported.read_bytes())
    info = zipfile.ZipFile(exported).getinfo("items.jsonl")
    data[info.header_offset + 6] |= 0x1
    central = data.rfind(b"PK\x01\x02" + data[info.header_offset + 4:info.header_offset + 6])
    while data[central + 46:central + 46 + len(info.filename)] != info.filename.encode():
        central = data.rfind(b"PK\x01\x02", 0, central)
    data[central + 8] |= 0x1
    path = tmp_path / "encrypted.zip"
    path.write_bytes(bytes(data))
    assert zipfile.ZipFile(path).getinfo("items.jsonl").flag_bits & 0x1
    return path


@pytest.mark.parametrize(("make", "phrase"), [(_damaged_byte, "is damaged"), (_encrypted, "is encrypted")])
def test_a_bundle_damaged_in_its_zip_is_named_not_a_traceback(db_url, tmp_path, exported, make, phrase):  # noqa: F811
    path = make(exported, tmp_path)
    with pytest.raises(BundleError, match=phrase):
        verify_bundle(path)
    done = _run(db_url, tmp_path, "verify", str(path))
    assert done.returncode == 2 and phrase in done.stderr and "Traceback" not in done.stderr, done.stderr
    code, _report, stderr = standalone(path)
    assert code == 1 and "cannot read the bundle" in stderr and "Traceback" not in stderr, stderr


def test_a_line_longer_than_any_bundle_holds_stops_the_verification(tmp_path, exported, monkeypatch):  # noqa: F811
    monkeypatch.setattr(bundle_items, "MAX_LINE", 1 << 20)  # 1 MB, so the test need not write 64
    entries = read_bundle(exported)
    # Longer than a block and the line's allowed rest together: 1.5 GB of blanks made a verifier hold 4.8 GB.
    long_line = b" " * (bundle_items.BLOCK + (2 << 20))
    path = write_bundle(tmp_path / "long.zip", {**entries, "items.jsonl": entries["items.jsonl"] + long_line})
    with pytest.raises(BundleError, match="longer than 1 MB"):
        verify_bundle(path)

"""The local evidence store and the evidence settings, without the API."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from engine.config import Settings
from engine.evidence.storage import LocalFileStore, TooLarge, file_sha256


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_a_staged_file_is_hashed_and_kept_under_its_hash(tmp_path):
    store = LocalFileStore(tmp_path)
    chunks = [b"%PDF-", "整改".encode() * 50_000, b"end"]
    staged = store.stage(iter(chunks), max_bytes=10**6, check=lambda path: "application/pdf")
    staged.keep()
    staged.drop()  # after keep: the kept file stays
    stored = staged.stored
    sha = hashlib.sha256(b"".join(chunks)).hexdigest()
    assert (stored.sha256, stored.size, stored.media_type) == (sha, sum(map(len, chunks)), "application/pdf")
    assert _files(tmp_path) == [tmp_path / sha[:2] / sha[2:4] / sha] and store.exists(sha)
    assert file_sha256(store, sha) == sha and not store.exists("0" * 64)


def test_a_refused_oversized_or_dropped_file_leaves_nothing(tmp_path):
    store = LocalFileStore(tmp_path)

    def refuse(path: Path) -> str:
        assert path.read_bytes() == b"MZ..."  # the checker sees the complete file before anything is kept
        raise ValueError("refused")

    with pytest.raises(ValueError):
        store.stage([b"MZ", b"..."], max_bytes=100, check=refuse)
    with pytest.raises(TooLarge):
        store.stage([b"x" * 60, b"x" * 60], max_bytes=100, check=lambda path: "application/pdf")
    store.stage([b"%PDF-1.4"], max_bytes=100, check=lambda path: "application/pdf").drop()
    assert _files(tmp_path) == []
    with pytest.raises(ValueError):
        store.path_of("../../etc/passwd")


def test_evidence_settings_defaults_and_lists(monkeypatch, tmp_path):
    beside = Settings(database_url=f"sqlite:///{tmp_path}/data/closeloop.db")
    assert beside.evidence_path == tmp_path / "data" / "closeloop.db.evidence"
    assert Settings(database_url="postgresql://app@db/closeloop").evidence_path == Path("closeloop-data/evidence")
    assert "application/msword" in beside.evidence_types and beside.evidence_max_bytes == 20 * 1024 * 1024
    monkeypatch.setenv("CLOSELOOP_EVIDENCE_TYPES", "application/pdf, image/png")
    assert Settings().evidence_types == ["application/pdf", "image/png"]
    monkeypatch.setenv("CLOSELOOP_EVIDENCE_TYPES", '["image/jpeg"]')
    assert Settings().evidence_types == ["image/jpeg"]

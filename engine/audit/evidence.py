"""Evidence files in the audit: carried in the bundle (``evidence/<sha256>``), checked offline against their
names, and checked on disk against the hashes the database recorded.

A history record refers to a stored file by an evidence entry with ``"stored": true`` and its ``sha256``;
the bundle carries the stored files its items refer to, each under its SHA-256, so that a verifier needs
nothing but the bundle to see that every file is there and unchanged.
"""
from __future__ import annotations

import hashlib
import io
import zipfile
from typing import Iterable, Iterator

import orjson
import sqlalchemy as sa

from engine.evidence.storage import CHUNK, SHA256, EvidenceStore, file_sha256

PREFIX = "evidence/"
# Yield the zip's bytes to the client after about this much file data: memory stays bounded per file.
FLUSH_BYTES = 1 << 20


def stored_references(records: Iterable[dict]) -> Iterator[tuple[str, str, int]]:
    """(sha256, name, seq) of each stored file the records refer to; malformed evidence is skipped (the chain
    check reports it)."""
    for record in records:
        try:
            entries = orjson.loads(record["evidence"])
        except (orjson.JSONDecodeError, TypeError, KeyError):
            continue
        for entry in entries if isinstance(entries, list) else ():
            if isinstance(entry, dict) and entry.get("stored") is True and isinstance(entry.get("sha256"), str) \
                    and SHA256.fullmatch(entry["sha256"]):
                yield entry["sha256"], str(entry.get("name")), record.get("seq")


class EvidenceExport:
    """Collects the stored files the exported items refer to, then writes them into the bundle."""

    def __init__(self, store: EvidenceStore | None) -> None:
        self.store = store  # None: evidence files are not carried
        self.wanted: set[str] = set()
        self.files = 0
        self.missing: list[str] = []

    def note(self, records: list[dict]) -> None:
        """Remember the stored files an exported item's records refer to."""
        if self.store is not None:
            self.wanted.update(sha for sha, _name, _seq in stored_references(records))

    def write(self, bundle: zipfile.ZipFile, sink) -> Iterator[bytes]:
        """Write ``evidence/<sha256>`` for each wanted file, yielding the zip's bytes as they are made."""
        if self.store is None:
            return
        for sha in sorted(self.wanted):
            try:
                stream = self.store.open(sha)
            except FileNotFoundError:
                self.missing.append(sha)  # the verifier names it too: referred to, but not in the bundle
                continue
            with stream, bundle.open(_stored_entry(sha), "w", force_zip64=True) as out:
                pending = 0
                while chunk := stream.read(CHUNK):
                    out.write(chunk)
                    pending += len(chunk)
                    if pending >= FLUSH_BYTES:
                        pending = 0
                        yield sink.take()
            self.files += 1
            yield sink.take()

    def manifest(self) -> dict:
        """The manifest's ``evidence`` section."""
        if self.store is None:
            return {"addressed_by": "sha256", "included": False, "files": 0,
                    "note": "evidence files were not exported (export with evidence to carry them)"}
        return {"addressed_by": "sha256", "included": True, "files": self.files, "missing_at_export": self.missing}


def _stored_entry(sha: str) -> zipfile.ZipInfo:
    """The zip entry of an evidence file: stored as it is (PDFs, images and Office files are compressed
    already; deflating them again costs the export most of its time and saves next to nothing)."""
    entry = zipfile.ZipInfo(PREFIX + sha, date_time=(1980, 1, 1, 0, 0, 0))
    entry.compress_type = zipfile.ZIP_STORED
    return entry


def _content_sha256(bundle: zipfile.ZipFile, name: str) -> str:
    digest = hashlib.sha256()
    with bundle.open(name) as stream:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def check_bundle_evidence(bundle: zipfile.ZipFile, manifest: dict, *, required: bool = False) -> tuple[list[str], list[str]]:
    """(problems, notes) about the bundle's evidence files: each must hash to its name, and when the bundle
    carries evidence, every stored file an item refers to must be there. ``required``: a bundle without
    evidence files is a problem, not a note."""
    problems, notes = [], []
    present = set()
    for name in bundle.namelist():
        if not name.startswith(PREFIX) or name == PREFIX:
            continue
        sha = name[len(PREFIX):]
        if not SHA256.fullmatch(sha):
            problems.append(f"{name}: an evidence file must be named by its SHA-256 (64 lower-case hex digits)")
            continue
        try:
            actual = _content_sha256(bundle, name)
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            problems.append(f"evidence file {sha}: cannot be read from the bundle ({exc})")
            continue
        if actual != sha:
            problems.append(f"evidence file {sha}: its content hashes to {actual}: the file was changed")
        present.add(sha)
    section = manifest.get("evidence") if isinstance(manifest.get("evidence"), dict) else {}
    if section.get("included") is not True:
        message = "the bundle carries no evidence files (export it with evidence to check them)"
        (problems if required else notes).append(message)
        return problems, notes
    missing: dict[str, str] = {}
    for item, records in _item_histories(bundle):
        for sha, name, seq in stored_references(records):
            if sha not in present and sha not in missing:
                missing[sha] = f"evidence file {sha} ({name}, item {item} seq {seq}) is missing from the bundle"
    problems.extend(missing[sha] for sha in sorted(missing))
    counts = manifest.get("counts") if isinstance(manifest.get("counts"), dict) else {}
    if counts.get("evidence") != len(present):
        problems.append("manifest.json's evidence count does not match the evidence files in the bundle")
    return problems, notes


def _item_histories(bundle: zipfile.ZipFile) -> Iterator[tuple[str, list[dict]]]:
    """(item number or id, records) of each well-formed line of items.jsonl (the item checks report the rest)."""
    if "items.jsonl" not in bundle.namelist():
        return  # the bundle verifier has refused it already
    with bundle.open("items.jsonl") as raw, io.BufferedReader(raw, 1 << 20) as stream:
        for line in stream:
            try:
                entry = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if not isinstance(entry, dict) or not isinstance(entry.get("history"), list):
                continue
            row = entry.get("item")
            item = str(row.get("number")) if isinstance(row, dict) else str(entry.get("id"))
            yield item, [r for r in entry["history"] if isinstance(r, dict)]


_RECORDED = sa.text("SELECT e.sha256, e.name, i.number FROM evidence_files e LEFT JOIN items i ON i.id = e.item_id "
                    "WHERE e.id IN (SELECT MIN(id) FROM evidence_files GROUP BY sha256) ORDER BY e.sha256")


def verify_stored_files(conn: sa.Connection, store: EvidenceStore) -> tuple[int, list[str]]:
    """(files checked, problems): every file an upload recorded must be in the store and hash to its SHA-256."""
    problems, checked = [], 0
    for sha, name, number in conn.execute(_RECORDED):
        checked += 1
        where = f"evidence file {sha} ({name}, item {number})"
        try:
            actual = file_sha256(store, sha)
        except (FileNotFoundError, ValueError):
            problems.append(f"{where} is missing from the evidence store")
            continue
        if actual != sha:
            problems.append(f"{where}: its content on disk hashes to {actual}: the file was changed")
    return checked, problems

"""Verifying a bundle offline, with no database and no server: the same item checks as the database verifier
(engine.audit.verify.check_item, so the two cannot disagree; engine.audit.bundle_items passes intact items
by a quick check first and leaves every other to it), plus the signed checkpoints and what they covered.

A bundle is untrusted input. Structure that makes it unreadable (not a zip, a missing entry, a manifest of
another format) is a BundleError naming what and where; everything else is a finding or a problem in the
report, and the check goes on to the end.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import io
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from engine.audit.admin_chain import AdminChain, claim_of
from engine.audit.bundle_items import LineTooLong, check_items, cycle_collector_paused, rest_of_line
from engine.audit.checkpoint import BODY_KEYS
from engine.audit.evidence import check_bundle_evidence
from engine.audit.keys import key_id_of
from engine.audit.quick_check import plans_of
from engine.audit.verify import check_workflow_row, finding_key
from engine.canonical import canonical_bytes, sha256_hex
from engine.history import GENESIS

BUNDLE_FORMAT = "closeloop-bundle/1"
_LEAVES = 10_000  # checkpoint heads encoded at a time
_BODY_TYPES = {"format": str, "number": int, "time": str, "items": int, "records": int, "heads_digest": str,
               "prev": str, "key_id": str, "admin_log_entries": int, "admin_log_head": str}


class BundleError(ValueError):
    """The bundle (or a trusted file given with it) cannot be read at all; the message says what and where."""


@dataclass
class BundleReport:
    """The outcome: ok, or every broken item's first bad record (oldest first) and every bundle-level problem."""

    ok: bool = True
    items: int = 0
    records: int = 0
    checkpoints: int = 0
    findings: list[dict] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    workflow_problems: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # The admin log's chain and its agreement with every checkpoint: {"ok", "entries", "head", "first_bad"}.
    admin_log: dict = field(default_factory=dict)

    @property
    def first_bad(self) -> dict | None:
        """The first bad record of the oldest broken item."""
        return self.findings[0] if self.findings else None


def parse_public_key(text: str) -> bytes:
    """A raw Ed25519 public key from 64 hex digits, base64 of the 32 bytes, or a PEM public key."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        try:
            key = serialization.load_pem_public_key(text.encode("ascii"))
        except ValueError as exc:
            raise BundleError(f"the public key is not a valid PEM key: {exc}") from None
        if not isinstance(key, Ed25519PublicKey):
            raise BundleError("the public key is not an Ed25519 key")
        return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    try:
        raw = bytes.fromhex(text) if len(text) == 64 else base64.b64decode(text, validate=True)
    except (ValueError, binascii.Error):
        raw = b""
    if len(raw) != 32:
        raise BundleError("the public key must be 64 hex digits, base64 of 32 bytes, or a PEM Ed25519 key")
    return raw


def _signature_ok(public: bytes, signature: object, data: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(bytes.fromhex(str(signature)), data)
    except (InvalidSignature, ValueError):
        return False
    return True


def _lines(bundle: zipfile.ZipFile, name: str) -> Iterator[tuple[int, object]]:
    """(line number, parsed JSON or None when the line is not JSON) of a JSON-lines entry."""
    try:
        raw = bundle.open(name)
    except KeyError:
        raise BundleError(f"the bundle has no {name}") from None
    with raw, io.BufferedReader(raw, 1 << 20) as stream:
        number = 0
        while line := rest_of_line(stream, name):
            number += 1
            try:
                yield number, orjson.loads(line)
            except orjson.JSONDecodeError:
                yield number, None


def _canonical_list(leaves: list[list]) -> bytes:
    """Canonical JSON of [item id, seq, hash] leaves read by orjson: text and whole numbers, which orjson
    writes byte for byte as the canonical encoder does (tests/engine/test_record_hash_paths.py)."""
    try:
        return orjson.dumps(leaves)
    except TypeError:  # not what orjson reads: the reference encoder answers
        return canonical_bytes(leaves)


def _body_problem(body: object) -> str | None:
    if not isinstance(body, dict) or not isinstance(body.get("format"), str):
        return "its body is not a checkpoint (no format)"
    keys = BODY_KEYS.get(body["format"])
    if keys is None:
        return f"its format is {body['format']!r}, not one of {', '.join(map(repr, BODY_KEYS))}"
    if set(body) != set(keys):
        return "its body does not have exactly the checkpoint fields of its format"
    for key in keys:
        if type(body[key]) is not _BODY_TYPES[key]:
            return f"its {key} is not a {_BODY_TYPES[key].__name__}"
    return None


class _Checkpoints:
    """The chain of checkpoints, their signatures, the heads each covered and the digest over them."""

    def __init__(self, report: BundleReport, keys: dict[str, bytes], trusted_keys: bool) -> None:
        self.report, self.keys, self.trusted_keys = report, keys, trusted_keys
        self.bodies: dict[int, dict] = {}
        self.hashes: dict[int, str] = {}
        self.leaves: dict[str, tuple[int, str]] = {}
        self.claims: dict[str, list[tuple[int, str, int]]] = {}

    def read(self, lines: Iterator[tuple[int, object]]) -> None:
        prev = GENESIS
        for line, doc in lines:
            body = doc.get("checkpoint") if isinstance(doc, dict) else None
            problem = _body_problem(body)
            if problem is not None:
                self.report.problems.append(f"checkpoints.jsonl line {line}: {problem}")
                continue
            number, data = body["number"], canonical_bytes(body)
            digest = sha256_hex(data)
            if number != len(self.bodies) + 1:
                self.report.problems.append(f"checkpoint {number} (line {line}) is out of place: expected "
                                            f"checkpoint {len(self.bodies) + 1}; one was removed or inserted")
            if body["prev"] != prev:
                self.report.problems.append(f"checkpoint {number}: prev does not match the hash of the checkpoint "
                                            f"before it: the chain of checkpoints is broken")
            key = self.keys.get(body["key_id"])
            if key is None:
                whose = "you did not trust" if self.trusted_keys else "the bundle does not hold"
                self.report.problems.append(f"checkpoint {number} is signed by key {body['key_id']}, which {whose}")
            elif not _signature_ok(key, doc.get("signature"), data):
                self.report.problems.append(f"checkpoint {number}: the signature does not verify with key "
                                            f"{body['key_id']}: it is forged or the checkpoint was altered")
            self.bodies[number], self.hashes[number], prev = body, digest, digest
        self.report.checkpoints = len(self.bodies)

    def _settle(self, number: int) -> None:
        """Compare checkpoint ``number`` with the leaves as they stand after its heads."""
        body = self.bodies.get(number)
        if body is None:
            return
        ordered = sorted(self.leaves.items())  # by item id, in code point order
        digest, records = hashlib.sha256(b"["), 0
        for start in range(0, len(ordered), _LEAVES):
            leaves = [[item_id, seq, head] for item_id, (seq, head) in ordered[start:start + _LEAVES]]
            records += sum(leaf[1] for leaf in leaves)
            digest.update((b"," if start else b"") + _canonical_list(leaves)[1:-1])
        digest.update(b"]")
        if digest.hexdigest() != body["heads_digest"]:
            self.report.problems.append(f"checkpoint {number}: the heads the bundle lists for it do not match its "
                                        f"signed heads_digest")
        elif (len(self.leaves), records) != (body["items"], body["records"]):
            self.report.problems.append(f"checkpoint {number}: its items or records count does not match its heads")

    def read_heads(self, lines: Iterator[tuple[int, object]]) -> None:
        settled = 0
        for line, row in lines:
            if not (isinstance(row, list) and len(row) == 4 and type(row[0]) is int and isinstance(row[1], str)
                    and type(row[2]) is int and isinstance(row[3], str)):
                self.report.problems.append(f"checkpoint_heads.jsonl line {line}: not [checkpoint, item, seq, hash]")
                continue
            number, item_id, seq, head = row
            if number <= settled:
                self.report.problems.append(f"checkpoint_heads.jsonl line {line}: out of order")
                continue
            if number > len(self.bodies) or seq < 1:
                self.report.problems.append(f"checkpoint_heads.jsonl line {line}: names checkpoint {number} or seq "
                                            f"{seq}, which the bundle's checkpoints and chains cannot have")
                continue
            while settled + 1 < number:
                settled += 1
                self._settle(settled)
            self.leaves[item_id] = (seq, head)
            self.claims.setdefault(item_id, []).append((seq, head, number))
        while settled < len(self.bodies):
            settled += 1
            self._settle(settled)

    def trust(self, document: dict, trusted: dict[str, bytes] | None) -> None:
        """Anchor the chain at a checkpoint the auditor kept: the bundle must hold exactly it."""
        body = document.get("checkpoint") if isinstance(document, dict) else None
        problem = _body_problem(body)
        if problem is not None:
            raise BundleError(f"the trusted checkpoint is not a checkpoint document: {problem}")
        data = canonical_bytes(body)
        if "hash" in document and document["hash"] != sha256_hex(data):
            raise BundleError("the trusted checkpoint's hash does not match its body: the file was altered")
        keys = trusted if trusted is not None else self.keys
        key = keys.get(body["key_id"])
        if key is not None and not _signature_ok(key, document.get("signature"), data):
            raise BundleError("the trusted checkpoint's signature does not verify: the file was altered")
        number = body["number"]
        if number not in self.hashes:
            self.report.problems.append(f"the bundle has no checkpoint {number}, the one you trusted: the "
                                        f"checkpoints were cut off or rewritten")
        elif self.hashes[number] != sha256_hex(data):
            self.report.problems.append(f"checkpoint {number} in the bundle is not the one you trusted: the "
                                        f"checkpoints were rewritten")


# The filters an export writes (engine.audit.bundle.Filters.as_json; not imported: verifying needs no database code).
FILTER_NAMES = ("unit", "campaign", "from", "to")


def _given_filters(manifest: dict) -> tuple[list[str], list[str]]:
    """(the filters the manifest names, as ``unit=X``..., and those of them no export writes). The bundle is
    complete, and must hold every item a checkpoint covered, exactly when it names none, whatever its ``complete``
    says."""
    stated = manifest.get("filters") if isinstance(manifest.get("filters"), dict) else {}
    unknown = [str(name) for name in stated if name not in FILTER_NAMES]
    return [f"{name}={value}" for name, value in stated.items() if value is not None or name not in FILTER_NAMES], unknown


def _check_admin_log(bundle: zipfile.ZipFile, manifest: dict, bodies: dict[int, dict], report: BundleReport) -> None:
    """``admin_log.jsonl``: its chain, what every checkpoint said of it, and the manifest's count of it.

    A bundle without the entry holds an empty log (format 1 reserved it), which any checkpoint that
    covered entries then shows to be cut off.
    """
    chain = AdminChain([c for c in map(claim_of, bodies.values()) if c is not None])
    if "admin_log.jsonl" in bundle.namelist():
        for _line, entry in _lines(bundle, "admin_log.jsonl"):
            chain.add(entry)
    report.admin_log = chain.finish()
    stated = manifest.get("counts", {}).get("admin_log") if isinstance(manifest.get("counts"), dict) else None
    if stated is not None and stated != report.admin_log["entries"]:
        report.problems.append("manifest.json's admin_log count does not match admin_log.jsonl")


def verify_bundle(path: Path | str, *, trusted_checkpoint: dict | None = None,
                  public_keys: list[bytes] | None = None, workers: int = 1,
                  with_evidence: bool = False, complete: bool = False) -> BundleReport:
    """Check a bundle file offline; ``public_keys`` (raw) replace the bundle's own keys as the trusted signers.

    ``workers`` above 1 checks the items in that many forked processes (the same checks, the same answer).
    Evidence files in the bundle are always checked against their names; ``with_evidence`` makes a bundle
    that carries none a problem, and ``complete`` a filtered one.
    """
    if not Path(path).is_file():  # /dev/zero, a pipe, a folder: nothing a bundle is written as
        raise BundleError(f"{path} is not a readable bundle (a zip file): not a regular file")
    try:
        bundle = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise BundleError(f"{path} is not a readable bundle (a zip file): {exc}") from None
    for info in bundle.infolist():
        if info.flag_bits & 0x1 or info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise BundleError(f"{info.filename} in {path} is encrypted or packed in a way closeloop never packs: "
                              f"not a bundle closeloop wrote")
    try:
        return _verify(bundle, trusted_checkpoint, public_keys, workers, with_evidence, complete)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, LineTooLong) as exc:
        # A damaged byte (a CRC that does not match, a broken deflate stream, a cut-off file): the bundle is
        # not what was exported, which is what verification exists to say.
        raise BundleError(f"{path} is damaged and cannot be read to its end: {exc}") from None


def _verify(bundle: zipfile.ZipFile, trusted_checkpoint: dict | None, public_keys: list[bytes] | None, workers: int,
            with_evidence: bool, complete: bool) -> BundleReport:
    report = BundleReport()
    with bundle, cycle_collector_paused():
        try:
            manifest = orjson.loads(bundle.read("manifest.json"))
        except KeyError:
            raise BundleError("the bundle has no manifest.json") from None
        except orjson.JSONDecodeError as exc:
            raise BundleError(f"manifest.json is not valid JSON: {exc}") from None
        if not isinstance(manifest, dict) or manifest.get("format") != BUNDLE_FORMAT:
            raise BundleError(f"manifest.json does not name the format {BUNDLE_FORMAT!r}")
        bundle_keys = {}
        for line, key in _lines(bundle, "keys.jsonl"):
            try:
                raw = parse_public_key(str(key.get("public_key"))) if isinstance(key, dict) else b""
            except BundleError:
                raw = b""
            if not raw or key.get("key_id") != key_id_of(raw):
                report.problems.append(f"keys.jsonl line {line}: not a public key with its key id")
                continue
            bundle_keys[key["key_id"]] = raw
        trusted = {key_id_of(k): k for k in public_keys} if public_keys else None
        chain = _Checkpoints(report, trusted if trusted is not None else bundle_keys, trusted is not None)
        chain.read(_lines(bundle, "checkpoints.jsonl"))
        chain.read_heads(_lines(bundle, "checkpoint_heads.jsonl"))
        if trusted_checkpoint is not None:
            chain.trust(trusted_checkpoint, trusted)
        workflows, bad_workflows = {}, {}
        for line, row in _lines(bundle, "workflows.jsonl"):
            if not isinstance(row, dict) or not isinstance(row.get("hash"), str):
                report.problems.append(f"workflows.jsonl line {line}: not a workflow version")
                continue
            definition, reason = check_workflow_row(row["hash"], row.get("definition"))
            if definition is None:
                bad_workflows[row["hash"]] = reason
                report.workflow_problems.append({"hash": row["hash"], "name": str(row.get("name")), "reason": reason})
            else:
                workflows[row["hash"]] = definition
        try:
            bundle.getinfo("items.jsonl")
        except KeyError:
            raise BundleError("the bundle has no items.jsonl") from None
        context = (workflows, bad_workflows, chain.claims, plans_of(workflows, bad_workflows))
        tally = check_items(bundle, workers, context)
        report.items, report.records, seen, found = tally.items, tally.records, tally.seen, tally.found
        report.problems.extend(tally.problems)
        missing = [i for i in chain.claims if i not in seen]
        filters, unknown = _given_filters(manifest)
        if unknown:  # no export writes them: one added to pass the bundle off as filtered
            report.problems.append(f"manifest.json names filters no export writes: {', '.join(unknown)}")
        if manifest.get("complete") is not (not filters):
            # Not signed: a "complete": false with no filter would switch off the check of removed items below.
            report.problems.append(f"manifest.json says complete: {manifest.get('complete')!r} but names "
                                   f"{'the filters ' + ', '.join(filters) if filters else 'no filter'}")
        if not filters:
            for item_id in missing:
                seq, _head, number = max(chain.claims[item_id])
                found.append((finding_key(None, item_id), {
                    "item": item_id, "item_id": item_id, "seq": seq,
                    "reason": f"checkpoint {number} covered this item (seq {seq}) but the bundle does not hold it: "
                              f"the item was removed"}))
        elif complete:  # the auditor asked for every item: a filter, stated truly or not, is a failure
            report.problems.append(f"the bundle is filtered by {', '.join(filters)}, and a bundle of every item was "
                                   f"asked for (--complete)")
        elif missing:
            report.notes.append(f"{len(missing)} items covered by checkpoints are outside this bundle, filtered by "
                                f"{', '.join(filters)}; only an unfiltered bundle shows that no item was removed")
        counts = manifest.get("counts") if isinstance(manifest.get("counts"), dict) else {}
        if counts.get("items") != report.items or counts.get("records") != report.records:
            report.problems.append("manifest.json's item or record count does not match items.jsonl")
        evidence_problems, evidence_notes = check_bundle_evidence(bundle, manifest, required=with_evidence)
        report.problems.extend(evidence_problems)
        report.notes.extend(evidence_notes)
        _check_admin_log(bundle, manifest, chain.bodies, report)
    found.sort(key=lambda f: f[0])
    report.findings = [f[1] for f in found]
    report.ok = not (report.findings or report.problems or report.workflow_problems) and report.admin_log["ok"]
    if trusted is None:
        report.notes.append("signatures were checked with the keys inside the bundle; pass --public-key with a "
                            "key you kept to check them against a key the server cannot replace")
    return report

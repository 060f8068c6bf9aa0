#!/usr/bin/env python3
"""Verify a closeloop audit bundle offline, from docs/AUDIT.md alone: the standard library and `cryptography`.

    python verify_bundle.py BUNDLE.zip [--trusted-checkpoint FILE] [--public-key HEX]... [--json] [--with-evidence]

It makes every check of docs/AUDIT.md section 7, in its order: keys (1), the checkpoints' chain and
signatures (2), their heads (3), the checkpoint you kept (4; its body's hash, which the bundle must hold),
the workflow versions (5), every item's records, chain, replay and row, and what checkpoints covered (6),
removed items (7), the manifest's counts (8), the admin log (9) and the evidence files (10). Unlike
`closeloop audit verify`, it does not validate a workflow definition beyond its hash, checks the kept
checkpoint only through the bundle's copy of it (the same body, whose signature it verifies), takes public keys
as hex only (not base64 or PEM), and words its reasons more briefly, naming the same records.
Exit status 0 when everything verifies, 2 when anything does not (each broken item's first bad record is
named), 1 when the bundle cannot be read at all.
"""
import argparse
import datetime as dt
import hashlib
import json
import re
import sys
import zipfile

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

GENESIS = "0" * 64
SHA256 = re.compile(r"[0-9a-f]{64}")
# What is hashed (sections 2 and 8): the keys, which are text, which may be null, which hold JSON text.
RECORD = {"keys": ("item", "seq", "trigger", "from_state", "to_state", "actor", "at", "comment", "evidence", "fields",
                   "prev_hash"), "text": ("trigger", "to_state", "actor", "at", "prev_hash", "hash"),
          "optional": ("from_state", "comment"), "json": {"evidence": list, "fields": dict}, "nullable": False}
ADMIN = {"keys": ("seq", "at", "actor", "action", "target", "before", "after", "prev_hash"),
         "text": ("at", "actor", "action", "target", "prev_hash", "hash"), "optional": (),
         "json": {"before": dict, "after": dict}, "nullable": True}
REPLAYED = ("title", "description", "source", "severity", "unit", "assignee", "due_date", "requested_due_date",
            "measures", "external_ref", "campaign", "tags", "workflow", "workflow_hash")
ROW = ("number", "state", "version", "history_seq", "history_hash", "created_at", "closed_at")
BODY = {"format": str, "number": int, "time": str, "items": int, "records": int, "heads_digest": str, "prev": str,
        "key_id": str}
FORMATS = {"closeloop-checkpoint/1": BODY,  # format 2 adds what the checkpoint saw of the admin log (section 5)
           "closeloop-checkpoint/2": {**BODY, "admin_log_entries": int, "admin_log_head": str}}


def canonical(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def sha(data):
    return hashlib.sha256(data).hexdigest()


def no_float(text):
    raise ValueError(f"the number {text}: canonical JSON has no floats")


def loads(text, **options):
    """json.loads, with JSON nested deeper than the parser can recurse refused as a ValueError like any bad JSON."""
    try:
        return json.loads(text, **options)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def lines(bundle, name):
    """(line number, the line's JSON or None) of a JSON-lines entry; none for an absent admin log."""
    if name == "admin_log.jsonl" and name not in bundle.namelist():
        return
    with bundle.open(name) as stream:
        for number, line in enumerate(stream, 1):
            try:
                yield number, loads(line)
            except ValueError:
                yield number, None


def signed(raw, signature, data):
    try:
        Ed25519PublicKey.from_public_bytes(raw).verify(bytes.fromhex(str(signature)), data)
        return True
    except (InvalidSignature, ValueError):
        return False


def body_ok(body):
    kinds = FORMATS.get(body.get("format")) if isinstance(body, dict) and isinstance(body.get("format"), str) else None
    return kinds is not None and set(body) == set(kinds) and all(type(body[k]) is t for k, t in kinds.items())


def as_hashed(raw, kind):
    """A record or admin-log entry (``kind``: RECORD or ADMIN) as hashed, "_computed" its hash; or (None, why)."""
    if not isinstance(raw, dict):
        return None, "not an object"
    if type(raw.get("seq")) is not int:
        return None, "seq is not a whole number"
    for k in kind["text"] + kind["optional"]:
        if not isinstance(raw.get(k), str) and not (k in kind["optional"] and raw.get(k) is None):
            return None, f"{k} is not text"
    entry = {**{k: raw.get(k) for k in kind["keys"]}, "hash": raw["hash"]}
    if kind is RECORD:
        entry["item"] = raw.get("item_id")
    for k, expected in kind["json"].items():
        if raw.get(k) is None and kind["nullable"]:
            continue
        try:
            entry[k] = loads(raw[k], parse_float=no_float) if isinstance(raw.get(k), str) else None
        except ValueError as exc:
            return None, f"{k} is not valid JSON ({exc})"
        if not isinstance(entry[k], expected):
            return None, f"{k} is not a JSON {expected.__name__}"
    try:
        entry["_computed"] = sha(canonical({k: entry[k] for k in kind["keys"]}))
    except (TypeError, ValueError) as exc:
        return None, f"cannot be hashed: {exc}"
    return entry, None


def link_fault(entry, n, prev):
    """Why the n-th entry of a chain does not follow the one before (whose hash is ``prev``), or None."""
    if entry["seq"] != n:
        return f"expected seq {n}: one is missing, inserted or out of place"
    if entry["prev_hash"] != prev:
        return "prev_hash does not match the one before"
    if entry["_computed"] != entry["hash"]:
        return "hash does not match the content: altered"
    return None


def item_fault(row, history, workflows, bad_workflows):
    """(seq, reason) of the item's first bad record (section 7, point 6, in its order), or None."""
    recs = []
    for raw in history:
        rec, why = as_hashed(raw, RECORD)
        if rec is None:
            return (raw.get("seq") if type(raw.get("seq")) is int else None), why
        recs.append(rec)
    prev, prev_to, wf, state = GENESIS, None, None, None
    for n, rec in enumerate(recs, 1):
        seq, f, trigger, to = rec["seq"], rec["fields"], rec["trigger"], rec["to_state"]
        why = link_fault(rec, n, prev)
        if why:
            return seq, why
        if rec["from_state"] != prev_to:
            return seq, "from_state is not where the record before left the item"
        if seq == 1:
            named = f.get("workflow_hash") if isinstance(f.get("workflow_hash"), str) else None
            wf = workflows.get(named) if named not in bad_workflows else None
            if wf is None:
                return 1, "the item's workflow version is not in the bundle, or fails its hash"
            # A creation enters the initial state; an import, the state its ledger row named.
            if not (to == wf["initial"] if trigger == "create" else
                    trigger == "import" and any(s["name"] == to for s in wf["states"])):
                return 1, "the first record must be a creation into the initial state or an import into a state"
            state = {**{k: f.get(k) for k in REPLAYED}, "submitted_by": None, "reopened_count": 0}
        elif trigger == "lookback":  # a look-back re-check: on a closed item, which it leaves there
            if to != rec["from_state"] or to not in {s["name"] for s in wf["states"] if s.get("final")}:
                return seq, "a look-back re-check must leave a closed item where it is"
            if set(f) != {"lookback", "result"} or f.get("result") not in ("passed", "failed"):
                return seq, "a look-back re-check names its look-back and a result, and nothing else"
        else:
            t = next((t for t in wf["transitions"] if t["trigger"] == trigger and prev_to in t["source"]), None)
            if t is None or t["dest"] != to:
                return seq, "not a transition of the item's workflow"
            for effect in t.get("effects", []):
                if effect == "record_submitter":
                    state["submitted_by"] = rec["actor"]
                elif effect == "count_reopen":
                    state.update(reopened_count=(state["reopened_count"] or 0) + 1, submitted_by=None)
            state.update({k: v for k, v in f.items() if k in REPLAYED})
        prev, prev_to = rec["hash"], to
    if state is None:
        return None, "the item has no history records"
    head = len(recs)
    if row is None:
        return head, "history of an item that does not exist"
    if (row["history_seq"], row["history_hash"], row["version"], row["state"]) != (head, prev, head, prev_to):
        return head, "the item's head, version or state is not where its history leads"
    for col, expected in state.items():
        stored = row.get(col)
        try:
            stored = loads(stored) if col == "tags" else stored
        except (TypeError, ValueError):
            return head, "tags are not valid JSON"
        if stored != ("" if col in ("description", "measures") and expected is None else expected):
            return head, f"the item's {col} is not what its history says"
    try:
        created = dt.datetime.fromisoformat(str(row.get("created_at")))
    except ValueError:
        return 1, "created_at is not a time"
    created = created.replace(tzinfo=dt.timezone.utc) if created.tzinfo is None else created
    if created.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ") != recs[0]["at"]:
        return 1, "created_at does not match the creation record"
    if (row.get("closed_at") is not None) != next(s for s in wf["states"] if s["name"] == prev_to).get("final", False):
        return head, "closed_at does not agree with whether the state is final"
    return None


def admin_log(bundle, bodies):
    """Point 9: the admin log's chain and what each checkpoint said of it: {"ok", "entries", "head", "first_bad"}."""
    claims = {}  # entries -> [(checkpoint, head)]: what every checkpoint of format 2 saw of the log
    for body in bodies.values():
        if "admin_log_entries" in body:
            claims.setdefault(body["admin_log_entries"], []).append((body["number"], body["admin_log_head"]))
    count, head, bad = 0, GENESIS, None
    for _, raw in lines(bundle, "admin_log.jsonl"):
        count += 1
        if bad:
            continue
        entry, why = as_hashed(raw, ADMIN)
        why = why or link_fault(entry, count, head) or next(
            (f"differs from what checkpoint {n} covered: rewritten" for n, h in claims.get(count, []) if h != entry["hash"]),
            None)
        if why:
            bad = (raw["seq"] if entry is None and isinstance(raw, dict) and type(raw.get("seq")) is int else count, why)
        else:
            head = entry["hash"]
    for entries in sorted(claims):
        if bad:
            break
        if entries > count:
            bad = (count + 1, f"checkpoint {claims[entries][0][0]} covered the log up to entry {entries}: entries "
                              f"were cut off")
        elif entries == 0 and any(h != GENESIS for _, h in claims[0]):
            bad = (None, "a checkpoint says the log was empty but names a head")
    return {"ok": bad is None, "entries": count, "head": None if bad else head,
            "first_bad": None if bad is None else {"seq": bad[0], "reason": bad[1]}}


def covered_fault(history, claims):
    """(seq, reason) where the history no longer holds what a checkpoint covered (point 6, last), or None."""
    for seq, head, number in sorted(claims):
        if seq > len(history):
            return len(history) + 1, f"checkpoint {number} covered seq {seq}: records were cut off"
        if history[seq - 1].get("hash") != head:
            return seq, f"differs from what checkpoint {number} covered: rewritten"
    return None


def stored_files(history):
    """(sha256, name, seq) of each stored file ({"stored": true, "sha256": ...}) the records refer to."""
    for rec in history:
        try:
            listed = loads(rec["evidence"]) if isinstance(rec.get("evidence"), str) else None
        except ValueError:
            continue
        for e in listed if isinstance(listed, list) else []:
            if isinstance(e, dict) and e.get("stored") is True and isinstance(e.get("sha256"), str) \
                    and SHA256.fullmatch(e["sha256"]):
                yield e["sha256"], str(e.get("name")), rec.get("seq")


def evidence_problems(bundle, manifest, referred, required):
    """Section 7, point 10: each file hashes to its name; none referred to is missing."""
    problems, present = [], set()
    for name in (n for n in bundle.namelist() if n.startswith("evidence/") and n != "evidence/"):
        digest, sha_name = hashlib.sha256(), name[len("evidence/"):]
        if not SHA256.fullmatch(sha_name):
            problems.append(f"{name}: not named by a SHA-256")
            continue
        with bundle.open(name) as stream:
            for chunk in iter(lambda: stream.read(1 << 16), b""):
                digest.update(chunk)
        if digest.hexdigest() != sha_name:
            problems.append(f"evidence file {sha_name}: its content hashes to {digest.hexdigest()}: changed")
        present.add(sha_name)
    if (manifest.get("evidence") if isinstance(manifest.get("evidence"), dict) else {}).get("included") is not True:
        return problems + (["the bundle carries no evidence files"] if required else [])
    problems += [f"evidence file {s} ({referred[s][0]}, item {referred[s][1]} seq {referred[s][2]}) is missing from "
                 f"the bundle" for s in sorted(set(referred) - present)]
    if (manifest.get("counts") or {}).get("evidence") != len(present):
        problems.append("the manifest's evidence count does not match the evidence files")
    return problems


def verify(path, trusted_doc=None, trusted_keys=None, with_evidence=False):
    """Return the report: {"ok", "items", "records", "checkpoints", "findings", "problems", "admin_log"}."""
    problems, findings, bundle = [], [], zipfile.ZipFile(path)
    manifest = loads(bundle.read("manifest.json"))
    if manifest.get("format") != "closeloop-bundle/1":
        raise ValueError("not a closeloop-bundle/1 manifest")
    keys = {}
    for n, k in lines(bundle, "keys.jsonl"):  # 1. keys
        raw = bytes.fromhex(k["public_key"]) if isinstance(k, dict) and isinstance(k.get("public_key"), str) \
            and re.fullmatch(r"[0-9a-fA-F]{64}", k["public_key"]) else b""
        if not raw or k.get("key_id") != sha(raw)[:16]:
            problems.append(f"keys.jsonl line {n}: not a key with its id")
        else:
            keys[k["key_id"]] = raw
    signers = {sha(k)[:16]: k for k in trusted_keys} if trusted_keys else keys
    bodies, hashes, prev = {}, {}, GENESIS
    for n, doc in lines(bundle, "checkpoints.jsonl"):  # 2. checkpoints
        body = doc.get("checkpoint") if isinstance(doc, dict) else None
        if not body_ok(body):
            problems.append(f"checkpoints.jsonl line {n}: not a checkpoint")
            continue
        num, signer = body["number"], signers.get(body["key_id"])
        problems += [text for failed, text in (
            (num != len(bodies) + 1, f"checkpoint {num} out of place"),
            (body["prev"] != prev, f"checkpoint {num}: prev is not the hash of the one before"),
            (signer is None, f"checkpoint {num}: signed by key {body['key_id']}, which is not trusted"),
            (signer and not signed(signer, doc.get("signature"), canonical(body)), f"checkpoint {num}: bad signature"),
        ) if failed]
        bodies[num], hashes[num] = body, sha(canonical(body))
        prev = hashes[num]
    leaves, claims, settled = {}, {}, 0

    def settle(number):  # 3. the heads of checkpoint ``number``: every row of checkpoints 1..number
        body, items = bodies.get(number), sorted(leaves)
        if body and (sha(canonical([[i, *leaves[i]] for i in items])), len(items), sum(leaves[i][0] for i in items)) \
                != (body["heads_digest"], body["items"], body["records"]):
            problems.append(f"checkpoint {number}: its heads do not match what it signed")

    for n, r in lines(bundle, "checkpoint_heads.jsonl"):
        if not (isinstance(r, list) and [type(v) for v in r] == [int, str, int, str]) or r[0] <= settled:
            problems.append(f"checkpoint_heads.jsonl line {n}: malformed or out of order")
            continue
        while settled + 1 < r[0]:
            settled += 1
            settle(settled)
        leaves[r[1]] = (r[2], r[3])
        claims.setdefault(r[1], []).append((r[2], r[3], r[0]))
    while settled < len(bodies):
        settled += 1
        settle(settled)
    if trusted_doc is not None:  # 4. the checkpoint you kept
        body = trusted_doc.get("checkpoint")
        if not body_ok(body):
            raise ValueError("the trusted checkpoint is not a checkpoint document")
        if hashes.get(body["number"]) != sha(canonical(body)):
            problems.append(f"checkpoint {body['number']}, the one you trusted, is missing or different")
    workflows, bad = {}, set()
    for n, w in lines(bundle, "workflows.jsonl"):  # 5. workflow versions
        text = w.get("definition") if isinstance(w, dict) else None
        if not isinstance(text, str) or sha(text.encode("utf-8", "surrogatepass")) != w.get("hash"):
            bad.add(w.get("hash") if isinstance(w, dict) else None)
            problems.append(f"workflows.jsonl line {n}: the definition does not match its hash")
        else:
            workflows[w["hash"]] = loads(text)
    seen, items, records, referred = set(), 0, 0, {}
    for n, e in lines(bundle, "items.jsonl"):  # 6. every item
        if not (isinstance(e, dict) and isinstance(e.get("id"), str) and isinstance(e.get("history"), list)
                and all(isinstance(r, dict) for r in e["history"]) and (e.get("item") is None or (
                    isinstance(e["item"], dict) and all(k in e["item"] for k in ROW)))):
            problems.append(f"items.jsonl line {n}: not an item entry")
            continue
        iid, row, history = e["id"], e["item"], e["history"]
        items, records = items + 1, records + len(history)
        for file_sha, name, seq in stored_files(history):  # for point 10
            referred.setdefault(file_sha, (name, str(row["number"]) if row else iid, seq))
        stray = next((r for r in history if r.get("item_id") != iid), None)
        if iid in seen:
            fault = (None, "the item appears twice")
        elif stray is not None:
            fault = (stray.get("seq") if type(stray.get("seq")) is int else None, "record of another item")
        else:
            fault = item_fault(row, history, workflows, bad) or covered_fault(history, claims.get(iid, []))
        seen.add(iid)
        if fault is not None:
            order = (0, str(row.get("created_at")), str(row.get("number")), iid) if row else (1, "", "", iid)
            findings.append((order, {"item": str(row["number"]) if row else iid, "item_id": iid, "seq": fault[0],
                                     "reason": fault[1]}))
    for iid in claims.keys() - seen if manifest.get("complete") is True else []:  # 7. removed items
        seq, _, num = max(claims[iid])
        findings.append(((1, "", "", iid), {"item": iid, "item_id": iid, "seq": seq,
                                            "reason": f"covered by checkpoint {num} but removed"}))
    counts = manifest.get("counts") or {}  # 8. counts
    if (counts.get("items"), counts.get("records")) != (items, records):
        problems.append("the manifest's counts do not match items.jsonl")
    problems += evidence_problems(bundle, manifest, referred, with_evidence)
    log = admin_log(bundle, bodies)  # 9. the admin log
    if counts.get("admin_log") is not None and counts["admin_log"] != log["entries"]:
        problems.append("the manifest's admin_log count does not match admin_log.jsonl")
    findings = [f[1] for f in sorted(findings, key=lambda f: f[0])]
    return {"ok": not findings and not problems and log["ok"], "items": items, "records": records,
            "checkpoints": len(bodies), "findings": findings, "problems": problems, "admin_log": log}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle")
    parser.add_argument("--trusted-checkpoint")
    parser.add_argument("--public-key", action="append", default=[], help="64 hex digits; repeat for several")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--with-evidence", action="store_true", help="a bundle without evidence files fails")
    args = parser.parse_args()
    try:
        doc = loads(open(args.trusted_checkpoint, encoding="utf-8").read()) if args.trusted_checkpoint else None
        keys = [bytes.fromhex(k.strip()) for k in args.public_key]
        report = verify(args.bundle, doc, keys or None, args.with_evidence)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        print(f"error: cannot read the bundle: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
    for problem in report["problems"]:
        print(f"error: {problem}", file=sys.stderr)
    if report["admin_log"]["first_bad"]:
        print(f"error: admin log entry {report['admin_log']['first_bad']['seq']}: "
              f"{report['admin_log']['first_bad']['reason']}", file=sys.stderr)
    if report["findings"]:
        first = report["findings"][0]
        print(f"error: item {first['item']} seq {first['seq']}: {first['reason']} "
              f"({len(report['findings'])} broken items)", file=sys.stderr)
    if report["ok"] and not args.json:
        print(f"ok: {report['items']} items, {report['records']} records, {report['checkpoints']} checkpoints")
    return 0 if report["ok"] else 2


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Verify a closeloop audit bundle offline, from docs/AUDIT.md alone: the standard library and `cryptography`.

    python verify_bundle.py BUNDLE.zip [--trusted-checkpoint FILE] [--public-key HEX]... [--json] [--with-evidence]

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
KEYS = ("item", "seq", "trigger", "from_state", "to_state", "actor", "at", "comment", "evidence", "fields",
        "prev_hash")
REPLAYED = ("title", "description", "source", "severity", "unit", "assignee", "due_date", "requested_due_date",
            "measures", "external_ref", "campaign", "tags", "workflow", "workflow_hash")
BODY = {"format": str, "number": int, "time": str, "items": int, "records": int, "heads_digest": str,
        "prev": str, "key_id": str}
# Format 2 adds what the checkpoint saw of the admin log: its last entry's seq and hash (section 5).
BODY2 = {**BODY, "admin_log_entries": int, "admin_log_head": str}
FORMATS = {"closeloop-checkpoint/1": BODY, "closeloop-checkpoint/2": BODY2}
ADMIN_KEYS = ("seq", "at", "actor", "action", "target", "before", "after", "prev_hash")


def canonical(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def loads(text, **options):
    """json.loads, with JSON nested deeper than the parser can recurse refused as a ValueError like any bad JSON."""
    try:
        return json.loads(text, **options)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def sha(data):
    return hashlib.sha256(data).hexdigest()


def key_id(raw):
    return sha(raw)[:16]


def signed(raw, signature, data):
    try:
        Ed25519PublicKey.from_public_bytes(raw).verify(bytes.fromhex(str(signature)), data)
        return True
    except (InvalidSignature, ValueError):
        return False


def lines(bundle, name):
    with bundle.open(name) as stream:
        for number, line in enumerate(stream, 1):
            try:
                yield number, loads(line)
            except ValueError:
                yield number, None


def body_ok(body):
    kinds = FORMATS.get(body.get("format")) if isinstance(body, dict) and isinstance(body.get("format"), str) else None
    return kinds is not None and set(body) == set(kinds) and all(type(body[k]) is t for k, t in kinds.items())


def decode(raw):
    """The record as hashed, or (None, reason)."""
    if type(raw.get("seq")) is not int:
        return None, "seq is not a whole number"
    for k in ("trigger", "to_state", "actor", "at", "prev_hash", "hash"):
        if not isinstance(raw.get(k), str):
            return None, f"{k} is not text"
    for k in ("from_state", "comment"):
        if raw.get(k) is not None and not isinstance(raw[k], str):
            return None, f"{k} is not text"
    rec = {k: raw.get(k) for k in KEYS}
    rec["item"] = raw.get("item_id")
    for k, kind in (("evidence", list), ("fields", dict)):
        try:
            rec[k] = loads(raw[k]) if isinstance(raw.get(k), str) else None
        except ValueError:
            return None, f"{k} is not valid JSON"
        if not isinstance(rec[k], kind):
            return None, f"{k} is not a JSON {kind.__name__}"
    try:
        rec["_computed"] = sha(canonical({k: rec[k] for k in KEYS}))
    except (TypeError, ValueError) as exc:
        return None, f"cannot be hashed: {exc}"
    rec["hash"] = raw["hash"]
    return rec, None


def instant(value):
    try:
        when = dt.datetime.fromisoformat(str(value))
    except ValueError:
        return None
    when = when.replace(tzinfo=dt.timezone.utc) if when.tzinfo is None else when
    return when.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def check_item(row, history, workflows, bad_workflows):
    """(seq, reason) of the item's first bad record, or None (section 7, point 6)."""
    recs = []
    for raw in history:
        rec, why = decode(raw)
        if rec is None:
            return (raw.get("seq") if type(raw.get("seq")) is int else None), why
        recs.append(rec)
    prev, prev_to, wf, state = GENESIS, None, None, None
    for n, rec in enumerate(recs, 1):
        seq = rec["seq"]
        if seq != n:
            return seq, f"expected seq {n}"
        if rec["prev_hash"] != prev:
            return seq, "prev_hash does not match the record before"
        if rec["_computed"] != rec["hash"]:
            return seq, "hash does not match the content: altered"
        if rec["from_state"] != prev_to:
            return seq, "from_state is not where the record before left the item"
        f = rec["fields"]
        if seq == 1:
            wh = f.get("workflow_hash")
            if isinstance(wh, str) and wh in bad_workflows:
                return 1, "the item's workflow version fails its hash"
            wf = workflows.get(wh) if isinstance(wh, str) else None
            if wf is None:
                return 1, "the workflow version is not in the bundle"
            # A creation enters the initial state; an import, the state its ledger row named.
            opens = (rec["to_state"] == wf["initial"] if rec["trigger"] == "create" else
                     rec["trigger"] == "import" and any(s["name"] == rec["to_state"] for s in wf["states"]))
            if not opens:
                return 1, "the first record must be a creation into the initial state or an import into a state"
            state = {k: f.get(k) for k in REPLAYED}
            state.update(submitted_by=None, reopened_count=0)
        elif rec["trigger"] == "lookback":  # a look-back re-check: on a closed item, which it leaves there
            finals = {st["name"] for st in wf["states"] if st.get("final")}
            if rec["to_state"] != rec["from_state"] or rec["from_state"] not in finals:
                return seq, "a look-back re-check must leave a closed item where it is"
            if set(f) != {"lookback", "result"} or f.get("result") not in ("passed", "failed"):
                return seq, "a look-back re-check names its look-back and a result, and nothing else"
        else:
            t = next((t for t in wf["transitions"] if t["trigger"] == rec["trigger"]
                      and rec["from_state"] in t["source"]), None)
            if t is None or t["dest"] != rec["to_state"]:
                return seq, "not a transition of the item's workflow"
            for effect in t.get("effects", []):
                if effect == "record_submitter":
                    state["submitted_by"] = rec["actor"]
                elif effect == "count_reopen":
                    state.update(reopened_count=(state["reopened_count"] or 0) + 1, submitted_by=None)
            state.update({k: v for k, v in f.items() if k in REPLAYED})
        prev, prev_to = rec["hash"], rec["to_state"]
    if state is None:
        return None, "the item has no history records"
    head = len(recs)
    if row is None:
        return head, "history of an item that does not exist"
    if (row["history_seq"], row["history_hash"], row["version"], row["state"]) != (head, prev, head, prev_to):
        return head, "the item's head, version or state is not where its history leads"
    for col in REPLAYED + ("submitted_by", "reopened_count"):
        stored, expected = row.get(col), state[col]
        if col == "tags":
            try:
                stored = loads(stored)
            except (TypeError, ValueError):
                return head, "tags are not valid JSON"
        if col in ("description", "measures") and expected is None:
            expected = ""
        if stored != expected:
            return head, f"the item's {col} is not what its history says"
    created = instant(row.get("created_at"))
    if created is None or created != recs[0]["at"]:
        return 1, "created_at does not match the creation record"
    final = next(s for s in wf["states"] if s["name"] == prev_to).get("final", False)
    if (row.get("closed_at") is not None) != final:
        return head, "closed_at does not agree with whether the state is final"
    return None


def stored_files(history):
    """(sha256, name, seq) of each stored file ({"stored": true, "sha256": ...}) the records refer to."""
    for rec in history:
        try:
            entries = loads(rec.get("evidence"))
        except (TypeError, ValueError):
            continue
        for e in entries if isinstance(entries, list) else []:
            if isinstance(e, dict) and e.get("stored") is True and isinstance(e.get("sha256"), str) \
                    and re.fullmatch(r"[0-9a-f]{64}", e["sha256"]):
                yield e["sha256"], str(e.get("name")), rec.get("seq")


def check_evidence(bundle, manifest, referred, required):
    """Problems with the evidence files (section 7 point 10): each hashes to its name; none referred to is missing."""
    problems, present = [], set()
    for name in bundle.namelist():
        if not name.startswith("evidence/") or name == "evidence/":
            continue
        sha = name[len("evidence/"):]
        if not re.fullmatch(r"[0-9a-f]{64}", sha):
            problems.append(f"{name}: not named by a SHA-256")
            continue
        digest = hashlib.sha256()
        with bundle.open(name) as stream:
            for chunk in iter(lambda: stream.read(1 << 16), b""):
                digest.update(chunk)
        if digest.hexdigest() != sha:
            problems.append(f"evidence file {sha}: its content hashes to {digest.hexdigest()}: changed")
        present.add(sha)
    section = manifest.get("evidence") if isinstance(manifest.get("evidence"), dict) else {}
    if section.get("included") is not True:
        return problems + (["the bundle carries no evidence files"] if required else [])
    for sha in sorted(set(referred) - present):
        name, item, seq = referred[sha]
        problems.append(f"evidence file {sha} ({name}, item {item} seq {seq}) is missing from the bundle")
    if (manifest.get("counts") or {}).get("evidence") != len(present):
        problems.append("the manifest's evidence count does not match the evidence files")
    return problems


def admin_entry(raw):
    """The admin-log entry as hashed (section 8), or (None, reason)."""
    if not isinstance(raw, dict):
        return None, "not an object"
    if type(raw.get("seq")) is not int:
        return None, "seq is not a whole number"
    for k in ("at", "actor", "action", "target", "prev_hash", "hash"):
        if not isinstance(raw.get(k), str):
            return None, f"{k} is not text"
    entry = {k: raw[k] for k in ADMIN_KEYS if k not in ("before", "after")}
    for k in ("before", "after"):
        text = raw.get(k)
        try:
            entry[k] = None if text is None else loads(text, parse_float=float_refused)
        except (TypeError, ValueError):
            return None, f"{k} is not JSON text"
        if text is not None and not isinstance(entry[k], dict):
            return None, f"{k} is not a JSON object or null"
    try:
        return sha(canonical({k: entry[k] for k in ADMIN_KEYS})), None
    except (TypeError, ValueError) as exc:
        return None, f"cannot be hashed: {exc}"


def float_refused(text):
    raise ValueError(f"{text}: canonical JSON has no floats")


def check_admin_log(bundle, bodies):
    """The admin log's chain and what each checkpoint said of it: {"ok", "entries", "head", "first_bad"}."""
    claims = {}
    for body in bodies.values():
        if "admin_log_entries" in body:
            claims.setdefault(body["admin_log_entries"], []).append((body["number"], body["admin_log_head"]))
    rows = lines(bundle, "admin_log.jsonl") if "admin_log.jsonl" in bundle.namelist() else []
    count, head, bad = 0, GENESIS, None
    for _, raw in rows:
        count += 1
        if bad is not None:
            continue
        computed, why = admin_entry(raw)
        if computed is None:
            seq = raw.get("seq") if isinstance(raw, dict) and type(raw.get("seq")) is int else count
            bad = (seq, why)
        elif raw["seq"] != count:
            bad = (count, f"expected entry {count}: an entry is missing, inserted or out of place")
        elif raw["prev_hash"] != head:
            bad = (count, "prev_hash does not match the entry before")
        elif computed != raw["hash"]:
            bad = (count, "hash does not match the content: altered")
        else:
            number = next((n for n, h in claims.get(count, []) if h != raw["hash"]), None)
            if number is not None:
                bad = (count, f"differs from what checkpoint {number} covered: rewritten")
        head = raw["hash"] if bad is None else head
    for entries in sorted(claims):
        if bad is not None:
            break
        if entries > count:
            bad = (count + 1, f"checkpoint {claims[entries][0][0]} covered the log up to entry {entries}: entries "
                              f"were cut off")
        elif entries == 0 and any(h != GENESIS for _, h in claims[0]):
            bad = (None, "a checkpoint says the log was empty but names a head")
    return {"ok": bad is None, "entries": count, "head": head if bad is None else None,
            "first_bad": None if bad is None else {"seq": bad[0], "reason": bad[1]}}


def verify(path, trusted_doc=None, trusted_keys=None, with_evidence=False):
    """Return the report: {"ok", "items", "records", "checkpoints", "findings", "problems"}."""
    problems, findings = [], []
    bundle = zipfile.ZipFile(path)
    manifest = loads(bundle.read("manifest.json"))
    if manifest.get("format") != "closeloop-bundle/1":
        raise ValueError("not a closeloop-bundle/1 manifest")
    keys = {}
    for n, k in lines(bundle, "keys.jsonl"):
        try:
            raw = bytes.fromhex(k["public_key"])
        except (TypeError, KeyError, ValueError):
            raw = b""
        if len(raw) != 32 or k.get("key_id") != key_id(raw):
            problems.append(f"keys.jsonl line {n}: not a key with its id")
        else:
            keys[k["key_id"]] = raw
    signers = {key_id(k): k for k in trusted_keys} if trusted_keys else keys
    bodies, hashes, prev = {}, {}, GENESIS
    for n, doc in lines(bundle, "checkpoints.jsonl"):
        body = doc.get("checkpoint") if isinstance(doc, dict) else None
        if not body_ok(body):
            problems.append(f"checkpoints.jsonl line {n}: not a checkpoint")
            continue
        data, num = canonical(body), body["number"]
        if num != len(bodies) + 1:
            problems.append(f"checkpoint {num} out of place")
        if body["prev"] != prev:
            problems.append(f"checkpoint {num}: prev is not the hash of the one before")
        signer = signers.get(body["key_id"])
        if signer is None:
            problems.append(f"checkpoint {num}: signed by key {body['key_id']}, which is not trusted")
        elif not signed(signer, doc.get("signature"), data):
            problems.append(f"checkpoint {num}: bad signature")
        bodies[num], hashes[num] = body, sha(data)
        prev = hashes[num]
    leaves, claims, settled = {}, {}, 0

    def settle(num):
        body = bodies.get(num)
        if body is None:
            return
        items = sorted(leaves)
        digest = sha(canonical([[i, leaves[i][0], leaves[i][1]] for i in items]))
        if (digest, len(items), sum(leaves[i][0] for i in items)) != (body["heads_digest"], body["items"],
                                                                       body["records"]):
            problems.append(f"checkpoint {num}: its heads do not match what it signed")

    for n, r in lines(bundle, "checkpoint_heads.jsonl"):
        if not (isinstance(r, list) and len(r) == 4 and type(r[0]) is int and type(r[2]) is int
                and isinstance(r[1], str) and isinstance(r[3], str)) or r[0] <= settled:
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
    if trusted_doc is not None:
        body = trusted_doc.get("checkpoint")
        if not body_ok(body):
            raise ValueError("the trusted checkpoint is not a checkpoint document")
        if hashes.get(body["number"]) != sha(canonical(body)):
            problems.append(f"checkpoint {body['number']}, the one you trusted, is missing or different")
    workflows, bad = {}, set()
    for n, w in lines(bundle, "workflows.jsonl"):
        text = w.get("definition") if isinstance(w, dict) else None
        if not isinstance(text, str) or sha(text.encode("utf-8", "surrogatepass")) != w.get("hash"):
            bad.add(w.get("hash") if isinstance(w, dict) else None)
            problems.append(f"workflows.jsonl line {n}: the definition does not match its hash")
        else:
            workflows[w["hash"]] = loads(text)
    seen, items, records, referred = set(), 0, 0, {}
    needed = ("number", "state", "version", "history_seq", "history_hash", "created_at", "closed_at")
    for n, e in lines(bundle, "items.jsonl"):
        ok = isinstance(e, dict) and isinstance(e.get("id"), str) and isinstance(e.get("history"), list) \
            and all(isinstance(r, dict) for r in e["history"]) \
            and (e.get("item") is None or (isinstance(e["item"], dict) and all(k in e["item"] for k in needed)))
        if not ok:
            problems.append(f"items.jsonl line {n}: not an item entry")
            continue
        iid, row, history = e["id"], e["item"], e["history"]
        items, records = items + 1, records + len(history)
        for file_sha, name, seq in stored_files(history):
            referred.setdefault(file_sha, (name, str(row["number"]) if row else iid, seq))
        stray = next((r for r in history if r.get("item_id") != iid), None)
        if iid in seen:
            bad_at = (None, "the item appears twice")
        elif stray is not None:
            bad_at = (stray.get("seq") if type(stray.get("seq")) is int else None, "record of another item")
        else:
            bad_at = check_item(row, history, workflows, bad)
            for seq, head, num in sorted(claims.get(iid, [])) if bad_at is None else []:
                if seq > len(history):
                    bad_at = (len(history) + 1, f"checkpoint {num} covered seq {seq}: records were cut off")
                elif history[seq - 1].get("hash") != head:
                    bad_at = (seq, f"differs from what checkpoint {num} covered: rewritten")
                if bad_at is not None:
                    break
        seen.add(iid)
        if bad_at is not None:
            order = (0, str(row.get("created_at")), str(row.get("number")), iid) if row else (1, "", "", iid)
            findings.append((order, {"item": str(row["number"]) if row else iid, "item_id": iid,
                                     "seq": bad_at[0], "reason": bad_at[1]}))
    if manifest.get("complete") is True:
        for iid in claims.keys() - seen:
            seq, _, num = max(claims[iid])
            findings.append(((1, "", "", iid), {"item": iid, "item_id": iid, "seq": seq,
                                                "reason": f"covered by checkpoint {num} but removed"}))
    counts = manifest.get("counts") or {}
    if (counts.get("items"), counts.get("records")) != (items, records):
        problems.append("the manifest's counts do not match items.jsonl")
    problems += check_evidence(bundle, manifest, referred, with_evidence)
    admin_log = check_admin_log(bundle, bodies)
    if counts.get("admin_log") is not None and counts["admin_log"] != admin_log["entries"]:
        problems.append("the manifest's admin_log count does not match admin_log.jsonl")
    findings = [f[1] for f in sorted(findings, key=lambda f: f[0])]
    return {"ok": not findings and not problems and admin_log["ok"], "items": items, "records": records,
            "checkpoints": len(bodies), "findings": findings, "problems": problems, "admin_log": admin_log}


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
    bad = report["admin_log"]["first_bad"]
    if bad:
        print(f"error: admin log entry {bad['seq']}: {bad['reason']}", file=sys.stderr)
    if report["findings"]:
        first = report["findings"][0]
        print(f"error: item {first['item']} seq {first['seq']}: {first['reason']} "
              f"({len(report['findings'])} broken items)", file=sys.stderr)
    if report["ok"] and not args.json:
        print(f"ok: {report['items']} items, {report['records']} records, {report['checkpoints']} checkpoints")
    return 0 if report["ok"] else 2


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Verify a closeloop audit bundle offline, with only the standard library and `cryptography`.

    python verify_bundle.py BUNDLE.zip [--trusted-checkpoint FILE] [--public-key HEX]... [--json] [--with-evidence]

It makes the checks of docs/AUDIT.md section 7 (numbered as there) by the formulas of the sections before it.
Unlike `closeloop audit verify` it checks a workflow definition only against its hash and the checkpoint you kept
only through the bundle's copy of it, takes public keys as hex only, and words its reasons more briefly.
Exit status 0 when everything verifies, 2 when anything does not, 1 when the bundle cannot be read at all.
"""
import argparse
import datetime as dt
import hashlib
import json
import re
import sys
import zipfile
import zlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

GENESIS = "0" * 64
SHA256 = re.compile(r"[0-9a-f]{64}")
MAX_LINE = 64 << 20  # an item with its whole history is one line; a longer line is no bundle closeloop wrote
BAD_JSON = (ValueError, RecursionError)  # RecursionError: nested deeper than the parser can follow
# The stored columns of a history record (section 2) and of an admin-log entry (section 8), and those that may be
# null. list and dict stand for text holding that JSON value, which is what is hashed.
RECORD = {"seq": int, "trigger": str, "from_state": str, "to_state": str, "actor": str, "at": str, "comment": str,
          "evidence": list, "fields": dict, "prev_hash": str, "hash": str}
ADMIN = {"seq": int, "at": str, "actor": str, "action": str, "target": str, "before": dict, "after": dict,
         "prev_hash": str, "hash": str}
NULLABLE = {"from_state", "comment", "before", "after"}
REPLAYED = ("title", "description", "source", "severity", "unit", "assignee", "due_date", "requested_due_date",
            "measures", "external_ref", "campaign", "tags", "workflow", "workflow_hash")
ROW = ("number", "state", "version", "history_seq", "history_hash", "created_at", "closed_at")
BODY = {"format": str, "number": int, "time": str, "items": int, "records": int, "heads_digest": str, "prev": str,
        "key_id": str}
FORMATS = {"closeloop-checkpoint/1": BODY,  # format 2 adds what the checkpoint saw of the admin log (section 5)
           "closeloop-checkpoint/2": {**BODY, "admin_log_entries": int, "admin_log_head": str}}


def canonical(value):
    """Section 1: the bytes every hash and signature is taken over."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def sha(data):
    return hashlib.sha256(data).hexdigest()


def no_float(text):
    raise ValueError(f"the number {text}: canonical JSON has no floats")


def lines(bundle, name):
    """(line number, the line's JSON or None) of a JSON-lines entry of the bundle."""
    with bundle.open(name) as stream:
        number = 0
        while line := stream.readline(MAX_LINE):
            number += 1
            if len(line) == MAX_LINE and not line.endswith(b"\n"):  # no bundle holds such a line: stop reading
                raise ValueError(f"{name} line {number} is longer than {MAX_LINE >> 20} MB")
            try:
                yield number, json.loads(line)
            except BAD_JSON:
                yield number, None


def decode(raw, columns, **also):
    """A record or entry as hashed (``also``: hashed, not stored), "computed" its hash recomputed; or (None, why)."""
    if not isinstance(raw, dict):
        return None, "not an object"
    entry = {}
    for key, kind in columns.items():
        value = raw.get(key)
        if value is None and key in NULLABLE:
            entry[key] = None
            continue
        if kind in (list, dict):
            try:
                value = json.loads(value, parse_float=no_float) if type(value) is str else None
            except BAD_JSON as exc:
                return None, f"{key} is not valid JSON ({exc})"
        if type(value) is not kind:
            return None, f"{key} is not {'text' if kind is str else kind.__name__}"
        entry[key] = value
    try:
        entry["computed"] = sha(canonical({**{k: v for k, v in entry.items() if k != "hash"}, **also}))
    except ValueError as exc:  # text UTF-8 cannot encode (a lone surrogate)
        return None, f"cannot be hashed: {exc}"
    return entry, None


def link_fault(entry, n, prev):
    """Why the n-th entry of a chain does not follow the one before (whose hash is ``prev``), or None."""
    if entry["seq"] != n:
        return f"expected seq {n}: one is missing, inserted or out of place"
    if entry["prev_hash"] != prev:
        return "prev_hash does not match the one before"
    if entry["computed"] != entry["hash"]:
        return "hash does not match the content: altered"
    return None


def body_ok(body):
    """Section 5: exactly the keys the body's format names, each of its type."""
    if not isinstance(body, dict) or type(body.get("format")) is not str or body["format"] not in FORMATS:
        return False
    kinds = FORMATS[body["format"]]
    return set(body) == set(kinds) and all(type(body[k]) is kind for k, kind in kinds.items())


def check_checkpoints(bundle, trusted_keys, trusted_doc, problems):
    """Points 1 to 4; returns the checkpoints' bodies by number, and item id -> [(seq, hash, checkpoint)] covered."""
    keys = {}
    for n, k in lines(bundle, "keys.jsonl"):  # 1. a key id is the first 16 hex digits of SHA-256 over the key
        public = k.get("public_key") if isinstance(k, dict) else None
        raw = bytes.fromhex(public) if type(public) is str and re.fullmatch(r"[0-9a-fA-F]{64}", public) else b""
        if raw and k.get("key_id") == sha(raw)[:16]:
            keys[k["key_id"]] = raw
        else:
            problems.append(f"keys.jsonl line {n}: not a key with its id")
    signers = {sha(k)[:16]: k for k in trusted_keys} if trusted_keys else keys  # only without yours, the bundle's
    bodies, prev = {}, GENESIS
    for n, doc in lines(bundle, "checkpoints.jsonl"):  # 2.
        body = doc.get("checkpoint") if isinstance(doc, dict) else None
        if not body_ok(body):
            problems.append(f"checkpoints.jsonl line {n}: not a checkpoint")
            continue
        number, signer = body["number"], signers.get(body["key_id"])
        if number != len(bodies) + 1:
            problems.append(f"checkpoint {number} out of place")
        if body["prev"] != prev:
            problems.append(f"checkpoint {number}: prev is not the hash of the one before")
        if signer is None:
            problems.append(f"checkpoint {number}: signed by key {body['key_id']}, which is not trusted")
        else:
            try:
                Ed25519PublicKey.from_public_bytes(signer).verify(bytes.fromhex(str(doc.get("signature"))),
                                                                  canonical(body))
            except (InvalidSignature, ValueError):
                problems.append(f"checkpoint {number}: bad signature")
        bodies[number], prev = body, sha(canonical(body))
    rows, covered = [], {}
    for n, row in lines(bundle, "checkpoint_heads.jsonl"):  # 3. [checkpoint, item id, seq, hash], in checkpoint order
        well_formed = isinstance(row, list) and [type(v) for v in row] == [int, str, int, str]
        if not well_formed or row[0] < (rows[-1][0] if rows else 1):
            problems.append(f"checkpoint_heads.jsonl line {n}: malformed or out of order")
            continue
        if row[0] not in bodies or row[2] < 1:
            problems.append(f"checkpoint_heads.jsonl line {n}: no checkpoint {row[0]} or seq {row[2]} in the bundle")
            continue
        rows.append(row)
        covered.setdefault(row[1], []).append((row[2], row[3], row[0]))
    heads, applied = {}, 0
    for number, body in sorted(bodies.items()):
        while applied < len(rows) and rows[applied][0] <= number:  # a later row replaces an earlier one
            heads[rows[applied][1]] = rows[applied][2:]
            applied += 1
        items = sorted(heads)  # by item id, in code point order
        rebuilt = (sha(canonical([[i, *heads[i]] for i in items])), len(items), sum(heads[i][0] for i in items))
        if rebuilt != (body["heads_digest"], body["items"], body["records"]):
            problems.append(f"checkpoint {number}: its heads do not match what it signed")
    if trusted_doc is not None:  # 4. the bundle must hold the checkpoint you kept, with the same hash
        body = trusted_doc.get("checkpoint") if isinstance(trusted_doc, dict) else None
        if not body_ok(body):
            raise ValueError("the trusted checkpoint is not a checkpoint document")
        if body["number"] not in bodies or sha(canonical(bodies[body["number"]])) != sha(canonical(body)):
            problems.append(f"checkpoint {body['number']}, the one you trusted, is missing or different")
    return bodies, covered


def item_fault(iid, row, history, workflows, covered):
    """Point 6: (seq, why) of the item's first bad record, the checks made in the order it lists them; or None."""
    stray = next((r for r in history if r.get("item_id") != iid), None)
    if stray is not None:
        return (stray["seq"] if type(stray.get("seq")) is int else None), "record of another item"
    records = []
    for raw in history:  # every record is checked well-formed before the chain, so a malformed one is named first
        record, why = decode(raw, RECORD, item=iid)
        if record is None:
            return (raw["seq"] if type(raw.get("seq")) is int else None), why
        records.append(record)
    if not records:
        return None, "the item has no history records"
    prev_hash, prev_to, wf, final, state, closing = GENESIS, None, None, {}, None, None
    for n, rec in enumerate(records, 1):
        seq, trigger, to, fields = rec["seq"], rec["trigger"], rec["to_state"], rec["fields"]
        why = link_fault(rec, n, prev_hash)
        if why:
            return seq, why
        if rec["from_state"] != prev_to:
            return seq, "from_state is not where the record before left the item"
        if n == 1:
            wf = workflows.get(fields.get("workflow_hash")) if type(fields.get("workflow_hash")) is str else None
            if wf is None:
                return 1, "the item's workflow version is not in the bundle, or fails its hash"
            for s in wf["states"]:
                final.setdefault(s["name"], bool(s.get("final")))  # the first state of a name counts
            created = trigger == "create" and to == wf["initial"]
            imported = trigger == "import" and to in final  # into the state its ledger row named
            if not (created or imported):
                return 1, "the first record must be a creation into the initial state or an import into a state"
            state = {**{k: fields.get(k) for k in REPLAYED}, "submitted_by": None, "reopened_count": 0}
            if "number" in fields:  # held to the row (section 4); a record made before it was recorded names none
                state["number"] = fields["number"]
        elif trigger == "lookback":  # a look-back re-check of a closed item, which it leaves where it is
            if to != prev_to or not final.get(to):
                return seq, "a look-back re-check must leave a closed item where it is"
            if set(fields) != {"lookback", "result"} or fields["result"] not in ("passed", "failed"):
                return seq, "a look-back re-check names its look-back and a result, and nothing else"
        else:
            t = next((t for t in wf["transitions"] if t["trigger"] == trigger and prev_to in t["source"]), None)
            if t is None or t["dest"] != to:
                return seq, "not a transition of the item's workflow"
            if "number" in fields:
                return seq, "names the item's number, which only the creation record may"
            for effect in t.get("effects", []):  # section 4: the transition's effects, then the record's fields
                if effect == "record_submitter":
                    state["submitted_by"] = rec["actor"]
                elif effect == "count_reopen":
                    state.update(reopened_count=state["reopened_count"] + 1, submitted_by=None)
            state.update({k: v for k, v in fields.items() if k in REPLAYED})
        if not final.get(to):
            closing = None
        elif n == 1 or rec["from_state"] != to:
            closing = rec  # the record that brought the item into its final state: it dates closed_at
        prev_hash, prev_to = rec["hash"], to
    fault = row_fault(row, records, final, state)
    if fault is None and closing is not None:
        fault = closing_fault(row["closed_at"], closing, records[-1]["seq"])
    for seq, head, number in sorted(covered) if fault is None else []:  # what checkpoints covered is still there
        if seq > len(records):
            return len(records) + 1, f"checkpoint {number} covered seq {seq}: records were cut off"
        if records[seq - 1]["hash"] != head:
            return seq, f"differs from what checkpoint {number} covered: rewritten"
    return fault


def row_fault(row, records, final, replayed):
    """Section 4: (seq, why) where the item's row is not where its history leads, or None."""
    head = records[-1]
    if row is None:
        return head["seq"], "history of an item that does not exist"
    leads = (head["seq"], head["hash"], head["seq"], head["to_state"])
    if (row["history_seq"], row["history_hash"], row["version"], row["state"]) != leads:
        return head["seq"], "the item's head, version or state is not where its history leads"
    for column, expected in replayed.items():
        stored = row.get(column)
        try:
            stored = json.loads(stored) if column == "tags" else stored  # tags are stored as JSON text
        except (TypeError, *BAD_JSON):
            return head["seq"], "tags are not valid JSON"
        if stored != ("" if expected is None and column in ("description", "measures") else expected):
            return head["seq"], f"the item's {column} is not what its history says"
    try:
        created = dt.datetime.fromisoformat(str(row["created_at"]))
    except ValueError:
        return 1, "created_at is not a time"
    created = created.replace(tzinfo=dt.timezone.utc) if created.tzinfo is None else created
    if created.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ") != records[0]["at"]:
        return 1, "created_at does not match the creation record"
    if (row["closed_at"] is not None) != final.get(head["to_state"], False):
        return head["seq"], "closed_at does not agree with whether the state is final"
    return None


def closing_fault(stored, rec, head):
    """Section 4: (seq, why) unless closed_at is the time of the record that closed the item, or for an import
    naming a 销号日期, noon of that day in some zone (22:00 UTC the day before to 00:00 UTC the day after)."""
    try:
        when = dt.datetime.fromisoformat(str(stored))
    except ValueError:
        return head, "closed_at is not a time"
    when = when.replace(tzinfo=dt.timezone.utc) if when.tzinfo is None else when.astimezone(dt.timezone.utc)
    day = rec["fields"].get("closed_on") if rec["trigger"] == "import" else None
    if day is None:
        if when.strftime("%Y-%m-%dT%H:%M:%S.%fZ") != rec["at"]:
            return head, "closed_at is not the time of the record that closed the item"
        return None
    try:
        noon = dt.datetime.combine(dt.date.fromisoformat(day), dt.time(12), dt.timezone.utc)
    except (TypeError, ValueError):
        return head, "the import record's closed_on is not a date"
    if not dt.timedelta(hours=-14) <= when - noon <= dt.timedelta(hours=12):
        return head, "closed_at is not noon of the import's 销号日期 in any time zone"
    return None


def stored_files(history):
    """(sha256, name, seq) of each file stored by closeloop (an evidence entry with "stored": true) a record names."""
    for rec in history:
        try:
            evidence = json.loads(rec.get("evidence"))
        except (TypeError, *BAD_JSON):  # no JSON text: the record itself is named as malformed
            continue
        for e in evidence if isinstance(evidence, list) else []:
            if isinstance(e, dict) and e.get("stored") is True and type(e.get("sha256")) is str \
                    and SHA256.fullmatch(e["sha256"]):
                yield e["sha256"], str(e.get("name")), rec.get("seq")


def check_items(bundle, workflows, covered, report):
    """Point 6 for each line of items.jsonl, into ``report``; returns the item ids seen and the stored files named."""
    seen, referred = set(), {}
    for n, e in lines(bundle, "items.jsonl"):
        if not (isinstance(e, dict) and type(e.get("id")) is str and type(e.get("history")) is list
                and all(isinstance(r, dict) for r in e["history"])
                and (e.get("item") is None or isinstance(e["item"], dict) and all(k in e["item"] for k in ROW))):
            report["problems"].append(f"items.jsonl line {n}: not an item entry")
            continue
        iid, row, history = e["id"], e["item"], e["history"]
        report["items"] += 1
        report["records"] += len(history)
        for file_sha, name, seq in stored_files(history):  # for point 10
            referred.setdefault(file_sha, (name, str(row["number"]) if row else iid, seq))
        if iid in seen:
            fault = (None, "the item appears twice")
        else:
            fault = item_fault(iid, row, history, workflows, covered.get(iid, []))
        seen.add(iid)
        if fault is not None:  # ordered as section 7 says: the oldest item first, items without a row last
            order = (0, str(row["created_at"]), str(row["number"]), iid) if row else (1, "", "", iid)
            finding = {"item": str(row["number"]) if row else iid, "item_id": iid, "seq": fault[0], "reason": fault[1]}
            report["findings"].append((order, finding))
    return seen, referred


def admin_log(bundle, bodies):
    """Point 9: the admin log's chain and what each checkpoint said of it: {"ok", "entries", "head", "first_bad"}."""
    claims = {}  # entries -> [(checkpoint, head)]: what each checkpoint of format 2 saw of the log
    for body in bodies.values():
        if "admin_log_entries" in body:
            claims.setdefault(body["admin_log_entries"], []).append((body["number"], body["admin_log_head"]))
    count, head, bad = 0, GENESIS, None
    in_bundle = "admin_log.jsonl" in bundle.namelist()  # an absent log is an empty one
    for count, raw in lines(bundle, "admin_log.jsonl") if in_bundle else []:
        if bad:
            continue  # counting the rest
        entry, why = decode(raw, ADMIN)
        if entry is None:
            bad = (raw["seq"] if isinstance(raw, dict) and type(raw.get("seq")) is int else count, why)
            continue
        why = link_fault(entry, count, head)
        for number, claimed in claims.get(count, []):
            if why is None and claimed != entry["hash"]:
                why = f"differs from what checkpoint {number} covered: rewritten"
        if why:
            bad = (count, why)
        head = entry["hash"]
    for entries, said in sorted(claims.items()):  # then what a checkpoint covered beyond the log's end
        if bad is None and entries > count:
            bad = (count + 1, f"checkpoint {said[0][0]} covered the log up to entry {entries}: entries were cut off")
        elif bad is None and entries == 0 and any(claimed != GENESIS for _, claimed in said):
            bad = (None, "a checkpoint says the log was empty but names a head")
    first_bad = {"seq": bad[0], "reason": bad[1]} if bad else None
    return {"ok": bad is None, "entries": count, "head": None if bad else head, "first_bad": first_bad}


def evidence_problems(bundle, manifest, referred, required):
    """Point 10: each file hashes to its name; when files are included, none that a record names is missing."""
    problems, present = [], set()
    for name in bundle.namelist():
        sha_name = name[len("evidence/"):]
        if not name.startswith("evidence/") or not sha_name:
            continue
        if not SHA256.fullmatch(sha_name):
            problems.append(f"{name}: not named by a SHA-256")
            continue
        digest = hashlib.sha256()
        with bundle.open(name) as stream:
            for chunk in iter(lambda: stream.read(1 << 16), b""):
                digest.update(chunk)
        if digest.hexdigest() != sha_name:
            problems.append(f"evidence file {sha_name}: its content hashes to {digest.hexdigest()}: changed")
        present.add(sha_name)
    if not isinstance(manifest.get("evidence"), dict) or manifest["evidence"].get("included") is not True:
        return problems + (["the bundle carries no evidence files"] if required else [])
    for s in sorted(referred.keys() - present):
        problems.append(f"evidence file {s} ({referred[s][0]}, item {referred[s][1]} seq {referred[s][2]}) is missing")
    counts = manifest["counts"] if isinstance(manifest.get("counts"), dict) else {}
    if counts.get("evidence") != len(present):
        problems.append("the manifest's evidence count does not match the evidence files")
    return problems


def verify(path, trusted_doc=None, trusted_keys=None, with_evidence=False, complete=False):
    """Section 7; returns {"ok", "items", "records", "checkpoints", "findings", "problems", "admin_log"}."""
    bundle = zipfile.ZipFile(path)
    manifest = json.loads(bundle.read("manifest.json"))
    if not isinstance(manifest, dict) or manifest.get("format") != "closeloop-bundle/1":
        raise ValueError("not a closeloop-bundle/1 manifest")
    report = {"ok": False, "items": 0, "records": 0, "checkpoints": 0, "findings": [], "problems": []}
    problems = report["problems"]
    bodies, covered = check_checkpoints(bundle, trusted_keys, trusted_doc, problems)  # 1. to 4.
    workflows = {}
    for n, w in lines(bundle, "workflows.jsonl"):  # 5.
        text = w.get("definition") if isinstance(w, dict) else None
        if type(text) is str and sha(text.encode("utf-8", "surrogatepass")) == w.get("hash"):
            workflows[w["hash"]] = json.loads(text)
        else:
            problems.append(f"workflows.jsonl line {n}: the definition does not match its hash")
    seen, referred = check_items(bundle, workflows, covered, report)  # 6.
    given = manifest["filters"] if isinstance(manifest.get("filters"), dict) else {}
    filters = [f"{k}={v}" for k, v in given.items() if v is not None or k not in ("unit", "campaign", "from", "to")]
    report["filters"] = filters
    if manifest.get("complete") is not (not filters) or set(given) - {"unit", "campaign", "from", "to"}:
        # Unsigned: a "complete": false, or a made-up filter, must not switch off step 7.
        problems.append(f"the manifest says complete: {manifest.get('complete')!r} and names filters {filters}")
    elif filters and complete:  # every item was asked for: a filter, stated truly or not, fails
        problems.append(f"the bundle is filtered by {', '.join(filters)}, and --complete asks for every item")
    for iid in covered.keys() - seen if not filters else []:  # 7. a filtered bundle cannot tell
        seq, _, number = max(covered[iid])
        report["findings"].append(((1, "", "", iid), {"item": iid, "item_id": iid, "seq": seq,
                                                      "reason": f"covered by checkpoint {number} but removed"}))
    counts = manifest["counts"] if isinstance(manifest.get("counts"), dict) else {}
    if (counts.get("items"), counts.get("records")) != (report["items"], report["records"]):  # 8.
        problems.append("the manifest's counts do not match items.jsonl")
    problems += evidence_problems(bundle, manifest, referred, with_evidence)  # 10.
    report["admin_log"] = admin_log(bundle, bodies)  # 9.
    if counts.get("admin_log") is not None and counts["admin_log"] != report["admin_log"]["entries"]:
        problems.append("the manifest's admin_log count does not match admin_log.jsonl")
    report["findings"] = [finding for _, finding in sorted(report["findings"], key=lambda f: f[0])]
    report["ok"] = not report["findings"] and not problems and report["admin_log"]["ok"]
    report["checkpoints"] = len(bodies)
    return report


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle")
    parser.add_argument("--trusted-checkpoint")
    parser.add_argument("--public-key", action="append", default=[], help="64 hex digits; repeat for several")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--with-evidence", action="store_true", help="a bundle without evidence files fails")
    parser.add_argument("--complete", action="store_true", help="a filtered bundle fails (you exported every item)")
    args = parser.parse_args()
    try:
        doc = json.loads(open(args.trusted_checkpoint, encoding="utf-8").read()) if args.trusted_checkpoint else None
        keys = [bytes.fromhex(k.strip()) for k in args.public_key]
        report = verify(args.bundle, doc, keys or None, args.with_evidence, args.complete)
    except (OSError, KeyError, zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError,
            *BAD_JSON) as exc:  # a damaged, encrypted or oddly packed zip included
        print(f"error: cannot read the bundle: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
    for problem in report["problems"]:
        print(f"error: {problem}", file=sys.stderr)
    bad_entry = report["admin_log"]["first_bad"]
    if bad_entry:
        print(f"error: admin log entry {bad_entry['seq']}: {bad_entry['reason']}", file=sys.stderr)
    for f in report["findings"]:
        print(f"error: item {f['item']} seq {f['seq']}: {f['reason']}", file=sys.stderr)
    if report["ok"] and not args.json:
        print(f"ok: {report['items']} items, {report['records']} records, {report['checkpoints']} checkpoints")
        if report["filters"]:
            print(f"note: filtered by {', '.join(report['filters'])}: items outside it, removed or not, are not seen")
    return 0 if report["ok"] else 2


if __name__ == "__main__":
    sys.exit(main())

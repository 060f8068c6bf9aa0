"""Building large histories fast (real hashes, bulk inserts), rewriting bundles, running the standalone verifier."""
from __future__ import annotations

import json
import subprocess
import sys
import uuid
import zipfile
from pathlib import Path

import sqlalchemy as sa

from engine.audit.bundle import Filters, stream_bundle
from engine.history import GENESIS, record_hash
from tests.helpers import drive, fire, new_item

STANDALONE = Path(__file__).resolve().parent.parent / "tools" / "verify_bundle.py"
_HISTORY_COLUMNS = ("item_id", "seq", "trigger", "from_state", "to_state", "actor", "at", "comment", "evidence",
                    "fields", "prev_hash", "hash")


def templates(client, world, rt) -> list[dict]:
    """Three items through the API: closed (6 records), closed and reopened (7), rectifying (3)."""
    closed = drive(client, world, rt, new_item(client, world, due_date="2026-04-30", tags=["民生"]), "closed")
    reopened = drive(client, world, rt, new_item(client, world, due_date="2026-04-30"), "closed")
    reopened = fire(client, world, reopened, {"trigger": "reopen", "comment": "回头看发现反弹"}, "aud").json()
    open_item = drive(client, world, rt, new_item(client, world, unit="SUB-A1", due_date="2026-05-30"), "rectifying")
    return [closed, reopened, open_item]


def rehash(records: list[dict], item_id: str) -> list[dict]:
    """Records (raw rows: evidence and fields as text) re-chained under ``item_id`` with real hashes."""
    prev, out = GENESIS, []
    for raw in records:
        record = {**raw, "item_id": item_id, "prev_hash": prev}
        hashed = {k: record[k] for k in ("seq", "trigger", "from_state", "to_state", "actor", "at", "comment")}
        hashed.update(item=item_id, prev_hash=prev, evidence=json.loads(raw["evidence"]),
                      fields=json.loads(raw["fields"]))
        record["hash"] = prev = record_hash(hashed)
        out.append(record)
    return out


def clone_history(rt, sources: list[dict], *, records: int) -> int:
    """Copy the source items (and their chains, re-hashed) until the history holds ``records``; return items made."""
    with rt.store.read() as conn:
        rows = {s["id"]: dict(conn.execute(sa.text("SELECT * FROM items WHERE id = :i"), {"i": s["id"]})
                              .mappings().one()) for s in sources}
        chains = {s["id"]: [dict(r) for r in conn.execute(sa.text(
            f"SELECT {', '.join(_HISTORY_COLUMNS)} FROM history WHERE item_id = :i ORDER BY seq"), {"i": s["id"]})
            .mappings()] for s in sources}
        total = conn.execute(sa.text("SELECT COUNT(*) FROM history")).scalar_one()
    made, item_rows, history_rows = 0, [], []
    while total < records:
        source = sources[made % len(sources)]["id"]
        item_id = str(uuid.uuid4())
        chain = rehash(chains[source], item_id)
        row = {**rows[source], "id": item_id, "number": f"ZG-2026-{900000 + made:07d}", "history_hash": chain[-1]["hash"]}
        item_rows.append(row)
        history_rows.extend(chain)
        total += len(chain)
        made += 1
        if len(history_rows) >= 20_000 or total >= records:  # in batches: a million records need not fit in memory
            _insert(rt, item_rows, history_rows)
            item_rows, history_rows = [], []
    return made


def _insert(rt, item_rows: list[dict], history_rows: list[dict]) -> None:
    items_table = sa.table("items", *[sa.column(c) for c in item_rows[0]])
    history_table = sa.table("history", *[sa.column(c) for c in _HISTORY_COLUMNS])
    with rt.store.write() as conn:
        conn.execute(items_table.insert(), item_rows)
        conn.execute(history_table.insert(), history_rows)


def export(rt, path: Path, filters: Filters | None = None) -> Path:
    """Write the bundle of the whole database (or a filtered one) to ``path``."""
    with open(path, "wb") as out:
        for chunk in stream_bundle(rt, filters or Filters()):
            out.write(chunk)
    return path


def read_bundle(path: Path) -> dict[str, bytes]:
    """Every entry of a bundle."""
    with zipfile.ZipFile(path) as bundle:
        return {name: bundle.read(name) for name in bundle.namelist()}


def write_bundle(path: Path, entries: dict[str, bytes]) -> Path:
    """A bundle with these entries (what an adversary holding the file can make)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as bundle:
        for name, data in entries.items():
            bundle.writestr(name, data)
    return path


def standalone(path: Path, *args: str) -> tuple[int, dict | None, str]:
    """Run tools/verify_bundle.py with --json: (exit status, report, stderr)."""
    done = subprocess.run([sys.executable, str(STANDALONE), str(path), "--json", *args], capture_output=True,
                          text=True, timeout=300)
    report = json.loads(done.stdout) if done.stdout.strip() else None
    return done.returncode, report, done.stderr


def named(findings: list[dict]) -> dict[str, int | None]:
    """Item id -> the seq each finding names."""
    return {f["item_id"]: f["seq"] for f in findings}

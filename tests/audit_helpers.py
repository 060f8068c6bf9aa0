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
from engine.canonical import sha256_hex
from engine.history import GENESIS
from engine.models import HistoryRecord, Item
from engine.store.bulk import Rows
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
    return _chained(records, [(json.loads(r["evidence"]), json.loads(r["fields"])) for r in records], item_id)


# The documented formula (engine/canonical.py) applied to values read from JSON, which are plain already.
_canonical = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode


def _chained(records: list[dict], values: list[tuple[list, dict]], item_id: str) -> list[dict]:
    """``records`` re-chained under ``item_id``; ``values`` holds each one's evidence and fields as read."""
    prev, out = GENESIS, []
    for raw, (evidence, fields) in zip(records, values):
        record = {**raw, "item_id": item_id, "prev_hash": prev}
        hashed = {k: record[k] for k in ("seq", "trigger", "from_state", "to_state", "actor", "at", "comment")}
        hashed.update(item=item_id, prev_hash=prev, evidence=evidence, fields=fields)
        record["hash"] = prev = sha256_hex(_canonical(hashed).encode("utf-8"))
        out.append(record)
    return out


def clone_history(rt, sources: list[dict], *, records: int, batch: int = 20_000) -> int:
    """Copy the source items (and their chains, re-hashed) until the history holds ``records``; return items made.

    A transaction per ``batch`` records or so, then a checkpoint of SQLite's write-ahead log: the store
    checkpoints only every few hundred commits, so a few large ones would pile a million records up in the log
    (gigabytes), which every later write searches.
    """
    with rt.store.read() as conn:
        rows = {s["id"]: dict(conn.execute(sa.text("SELECT * FROM items WHERE id = :i"), {"i": s["id"]})
                              .mappings().one()) for s in sources}
        chains = {s["id"]: [dict(r) for r in conn.execute(sa.text(
            f"SELECT {', '.join(_HISTORY_COLUMNS)} FROM history WHERE item_id = :i ORDER BY seq"), {"i": s["id"]})
            .mappings()] for s in sources}
        total = conn.execute(sa.text("SELECT COUNT(*) FROM history")).scalar_one()
    values = {}
    for source, chain in chains.items():
        values[source] = [(json.loads(r["evidence"]), json.loads(r["fields"])) for r in chain]
        # The formula here is the engine's: re-chained under its own id, a chain comes out as stored.
        assert [r["hash"] for r in _chained(chain, values[source], source)] == [r["hash"] for r in chain]
    item_columns = list(next(iter(rows.values())))
    made, item_rows, history_rows = 0, [], []
    while total < records:
        source = sources[made % len(sources)]["id"]
        item_id, number = str(uuid.uuid4()), f"ZG-2026-{900000 + made:07d}"
        chain = _chained(*_renumbered(chains[source], values[source], number), item_id)
        row = {**rows[source], "id": item_id, "number": number, "history_hash": chain[-1]["hash"]}
        item_rows.append(tuple(row[c] for c in item_columns))
        history_rows.extend(tuple(r[c] for c in _HISTORY_COLUMNS) for r in chain)
        total += len(chain)
        made += 1
        if len(history_rows) >= batch or total >= records:  # a million records need not fit in memory
            _insert(rt, item_columns, item_rows, history_rows)
            item_rows, history_rows = [], []
    return made


def _renumbered(chain: list[dict], values: list[tuple[list, dict]], number: str) -> tuple[list[dict], list]:
    """A chain and its values with the creation record naming ``number`` (when it names a number at all): a
    clone's number is its own, and its creation record must say so."""
    evidence, fields = values[0]
    if "number" not in fields:
        return chain, values
    fields = {**fields, "number": number}
    return [{**chain[0], "fields": _canonical(fields)}, *chain[1:]], [(evidence, fields), *values[1:]]


# SQLite's page cache while cloning: the items' and the history's indexes take random keys (uuids).
_CACHE_KB = 1_000_000


def _insert(rt, item_columns: list[str], item_rows: list[tuple], history_rows: list[tuple]) -> None:
    """Insert tuples in the driver's form, then (SQLite) fold the write-ahead log back into the database."""
    with rt.store.write() as conn:
        if rt.store.is_sqlite:
            conn.exec_driver_sql(f"PRAGMA cache_size = -{_CACHE_KB}")
        rows = Rows(conn)
        rows.insert(Item.__table__, item_columns, item_rows)
        rows.insert(HistoryRecord.__table__, _HISTORY_COLUMNS, history_rows)
    if rt.store.is_sqlite:
        rt.store.settle_checkpoints()  # the store's own, scheduled by the rows just written: a second one at the same
        # time would find the log busy and leave it as it is
        with rt.store.reader.connect() as conn:  # outside any transaction, as a checkpoint must be
            conn.connection.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")


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

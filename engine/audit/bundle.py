"""The audit bundle: one zip streamed from the database in batches (constant memory), verifiable offline.

Entries (docs/AUDIT.md is the full description): ``keys.jsonl``, ``checkpoints.jsonl``,
``checkpoint_heads.jsonl``, ``items.jsonl`` (each item's row and its full history, one item a line),
``workflows.jsonl`` (the stored workflow versions those items use), ``admin_log.jsonl`` (the whole admin
log, whatever the filters), ``evidence/<sha256>`` (the stored files the items refer to, when asked for:
engine.audit.evidence), and ``manifest.json`` last, when the counts are known.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import zipfile
from dataclasses import dataclass
from typing import Iterator

import orjson
import sqlalchemy as sa

from engine.accounts import unit_by_code
from engine.audit.evidence import EvidenceExport
from engine.audit.keys import list_keys
from engine.clock import UTC, local_midnight, rfc3339
from engine.errors import InvalidInput
from engine.evidence.storage import store_for
from engine.history import GENESIS
from engine.models import UTCDateTime

FORMAT = "closeloop-bundle/1"
BATCH = 500
_ITEM_COLUMNS = (
    "i.id, i.number, i.workflow, i.workflow_hash, i.state, i.version, i.title, i.description, i.source, "
    "i.severity, u.code AS unit, i.assignee, i.due_date, i.requested_due_date, i.measures, i.external_ref, "
    "i.campaign, i.tags, i.submitted_by, i.reopened_count, i.history_seq, i.history_hash, i.closed_at, i.created_at")
_HISTORY = sa.text(
    "SELECT item_id, seq, trigger, from_state, to_state, actor, at, comment, evidence, fields, prev_hash, hash "
    "FROM history WHERE item_id IN :ids ORDER BY item_id, seq").bindparams(sa.bindparam("ids", expanding=True))
_ROWS = sa.text(f"SELECT {_ITEM_COLUMNS} FROM items i LEFT JOIN units u ON u.id = i.unit_id WHERE i.id IN :ids"
                ).bindparams(sa.bindparam("ids", expanding=True))


@dataclass(frozen=True)
class Filters:
    """Which items go into the bundle: a unit's subtree, a campaign, registered within [from, to] (local dates)."""

    unit: str | None = None
    campaign: str | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None

    def __post_init__(self) -> None:
        if self.date_from is not None and self.date_to is not None and self.date_from > self.date_to:
            raise InvalidInput(f"from ({self.date_from}) is after to ({self.date_to})", field="from")

    @property
    def complete(self) -> bool:
        """No filter: the bundle holds every item, so a covered item missing from it was removed."""
        return self == Filters()

    def as_json(self) -> dict:
        """The filters as the manifest states them."""
        return {"unit": self.unit, "campaign": self.campaign,
                "from": self.date_from.isoformat() if self.date_from else None,
                "to": self.date_to.isoformat() if self.date_to else None}


def _plain(value: object) -> object:
    """A raw column value as bundle text: times as ``YYYY-MM-DD HH:MM:SS.ffffff`` (UTC), dates as ISO dates."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.isoformat(" ", "microseconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


class _Sink:
    """A write-only file the zip writes into; what it holds is handed out and dropped after each batch."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data, self.parts = b"".join(self.parts), []
        return data


def _line(value: object) -> bytes:
    return orjson.dumps(value) + b"\n"


def _item_ids(conn: sa.Connection, filters: Filters, tz, after: str) -> list[str]:
    c = ' COLLATE "C"' if conn.dialect.name == "postgresql" else ""
    if filters.complete:
        # Items and any history whose item row is gone: the verifier must see both. Two ordered index reads
        # merged here (a UNION would be built whole again for every batch).
        params = {"after": after, "n": BATCH}
        rows = conn.execute(sa.text(f"SELECT id FROM items WHERE id{c} > :after ORDER BY id{c} LIMIT :n"), params)
        chained = conn.execute(sa.text(f"SELECT DISTINCT item_id{c} AS id FROM history WHERE item_id{c} > :after "
                                       f"ORDER BY id LIMIT :n"), params)
        return sorted({r[0] for r in rows} | {r[0] for r in chained})[:BATCH]
    where, params = [f"i.id{c} > :after"], {"after": after, "n": BATCH}
    if filters.unit is not None:
        where.append("u.path LIKE (SELECT path FROM units WHERE code = :unit) || '%'")
        params["unit"] = filters.unit
    if filters.campaign is not None:
        where.append("i.campaign = :campaign")
        params["campaign"] = filters.campaign
    stmt_binds = []
    for name, day, later, op in (("from_ts", filters.date_from, 0, ">="), ("to_ts", filters.date_to, 1, "<")):
        bound = local_midnight(day, tz, days_later=later)
        if bound is not None:
            where.append(f"i.created_at {op} :{name}")
            params[name] = bound
            stmt_binds.append(sa.bindparam(name, type_=UTCDateTime()))
    stmt = sa.text(f"SELECT i.id FROM items i JOIN units u ON u.id = i.unit_id WHERE {' AND '.join(where)} "
                   f"ORDER BY i.id{c} LIMIT :n").bindparams(*stmt_binds)
    return [r[0] for r in conn.execute(stmt, params)]


def _workflow_hashes(row: dict | None, records: list[dict]) -> set[str]:
    found = {row["workflow_hash"]} if row is not None and isinstance(row.get("workflow_hash"), str) else set()
    if records:
        try:
            named = orjson.loads(records[0]["fields"]).get("workflow_hash")
        except (orjson.JSONDecodeError, TypeError, AttributeError):
            named = None
        if isinstance(named, str):
            found.add(named)
    return found


def _snapshot(store) -> sa.Connection:
    conn = store.reader.connect()
    if conn.dialect.name == "postgresql":
        # One snapshot for the whole export: batches must not see transitions committed in between.
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
    return conn


_ADMIN_LOG = sa.text("SELECT seq, at, actor, action, target, before, after, prev_hash, hash FROM admin_log "
                     "ORDER BY seq")


def _write_admin_log(conn: sa.Connection, bundle: zipfile.ZipFile, sink: _Sink, summary: dict) -> Iterator[bytes]:
    """``admin_log.jsonl``: every entry, oldest first, as stored (``before``/``after`` as JSON text or null).

    Never filtered: the log is one chain, and a part of it could not be checked against a checkpoint.
    Yields the zip bytes as they are made; the manifest's ``admin_log`` object is left in ``summary``.
    """
    entries, head = 0, GENESIS
    with bundle.open("admin_log.jsonl", "w", force_zip64=True) as out:
        for row in conn.execute(_ADMIN_LOG.execution_options(yield_per=5000)).mappings():
            out.write(_line(dict(row)))
            entries, head = entries + 1, row["hash"]
            if entries % 5000 == 0:
                yield sink.take()
    summary.update({"chained": True, "complete": True, "entries": entries, "head": head,
                      "note": "the whole admin log, whatever the filters: one hash chain, never cut"})


def checked_filters(rt, filters: Filters) -> Filters:
    """``filters`` with its unit as the unit's own code (codes are unique whatever their case); InvalidInput when
    no unit has it, or when no campaign of that code is registered and no item names it: an export of nothing
    must not pass for the export of a unit or a campaign."""
    if filters.unit is None and filters.campaign is None:
        return filters
    code = filters.unit
    with rt.store.read() as conn:
        if filters.unit is not None:
            unit = unit_by_code(conn, filters.unit)
            if unit is None:
                raise InvalidInput(f"unit {filters.unit!r} does not exist", field="unit")
            code = unit.code
        if filters.campaign is not None and conn.execute(sa.text(
                "SELECT 1 FROM campaigns WHERE code = :c UNION ALL SELECT 1 FROM items WHERE campaign = :c LIMIT 1"),
                {"c": filters.campaign}).first() is None:
            raise InvalidInput(f"campaign {filters.campaign!r} is not registered and no item names it", field="campaign")
    return dataclasses.replace(filters, unit=code)


def stream_bundle(rt, filters: Filters, *, with_evidence: bool = False) -> Iterator[bytes]:
    """The bundle as a stream of zip bytes, read from one database snapshot a batch of items at a time;
    ``with_evidence`` adds the stored files the items refer to (``evidence/<sha256>``)."""
    sink = _Sink()
    evidence = EvidenceExport(store_for(rt.settings) if with_evidence else None)
    counts = {"items": 0, "records": 0, "workflows": 0, "checkpoints": 0, "checkpoint_heads": 0, "keys": 0,
              "admin_log": 0, "evidence": 0}
    with _snapshot(rt.store) as conn, conn.begin(), \
            zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as bundle:
        with bundle.open("keys.jsonl", "w") as out:
            for key in list_keys(conn):
                out.write(_line(key))
                counts["keys"] += 1
        with bundle.open("checkpoints.jsonl", "w") as out:
            for row in conn.execute(sa.text("SELECT body, signature FROM audit_checkpoints ORDER BY number")):
                out.write(b'{"checkpoint":' + row.body.encode("utf-8") + b',"signature":'
                          + orjson.dumps(row.signature) + b"}\n")
                counts["checkpoints"] += 1
        yield sink.take()
        with bundle.open("checkpoint_heads.jsonl", "w", force_zip64=True) as out:
            rows = conn.execution_options(stream_results=True, yield_per=5000).execute(sa.text(
                "SELECT checkpoint, item_id, seq, hash FROM audit_checkpoint_heads ORDER BY checkpoint, item_id"
                + (' COLLATE "C"' if conn.dialect.name == "postgresql" else "")))
            for row in rows:
                out.write(_line([row[0], row[1], row[2], row[3]]))
                counts["checkpoint_heads"] += 1
                if counts["checkpoint_heads"] % 5000 == 0:
                    yield sink.take()
        yield sink.take()
        used: set[str] = set()
        with bundle.open("items.jsonl", "w", force_zip64=True) as out:
            after = ""
            while ids := _item_ids(conn, filters, rt.settings.tz, after):
                rows = {r["id"]: {k: _plain(v) for k, v in r.items()}
                        for r in conn.execute(_ROWS, {"ids": ids}).mappings()}
                history: dict[str, list[dict]] = {}
                for r in conn.execute(_HISTORY, {"ids": ids}).mappings():
                    history.setdefault(r["item_id"], []).append(dict(r))
                for item_id in ids:
                    row, records = rows.get(item_id), history.get(item_id, [])
                    used |= _workflow_hashes(row, records)
                    evidence.note(records)
                    out.write(_line({"id": item_id, "item": row, "history": records}))
                    counts["items"] += 1
                    counts["records"] += len(records)
                after = ids[-1]
                yield sink.take()
        with bundle.open("workflows.jsonl", "w") as out:
            for row in conn.execute(sa.text("SELECT hash, name, version, definition FROM workflow_versions "
                                            "ORDER BY hash")).mappings():
                if row["hash"] in used:
                    out.write(_line(dict(row)))
                    counts["workflows"] += 1
        admin_log: dict = {}
        yield from _write_admin_log(conn, bundle, sink, admin_log)
        counts["admin_log"] = admin_log["entries"]
        yield from evidence.write(bundle, sink)
        counts["evidence"] = evidence.files
        manifest = {
            "format": FORMAT, "created_at": rfc3339(rt.clock.now()), "filters": filters.as_json(),
            "complete": filters.complete, "counts": counts,
            "files": {"keys": "keys.jsonl", "checkpoints": "checkpoints.jsonl",
                      "checkpoint_heads": "checkpoint_heads.jsonl", "items": "items.jsonl",
                      "workflows": "workflows.jsonl", "admin_log": "admin_log.jsonl", "evidence": "evidence/"},
            "admin_log": admin_log,
            "evidence": evidence.manifest(),
        }
        bundle.writestr("manifest.json", orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
    yield sink.take()

"""Checking a whole database: every workflow version against its hash, every item's chain, every item row
against its chain. Rows are read raw (no type conversion that could raise) and checked item by item.

The answer names the first broken record of the oldest broken item (so it does not depend on ids), and
every stored workflow version whose content does not match its hash. The admin log's chain is checked too,
and against what every stored checkpoint said of it (a cut-off tail shows only there).
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Iterator

import orjson
import sqlalchemy as sa

from engine.audit.admin_chain import AdminChain, claim_of
from engine.audit.replay import Finding, check_records, check_row, decode_record
from engine.canonical import canonical_bytes, sha256_hex
from engine.definitions import WorkflowDef

log = logging.getLogger("closeloop.audit")
BATCH = 500

_ITEMS = sa.text(
    "SELECT i.id, i.number, i.workflow, i.workflow_hash, i.state, i.version, i.title, i.description, i.source, "
    "i.severity, u.code AS unit, i.assignee, i.due_date, i.requested_due_date, i.measures, i.external_ref, "
    "i.campaign, i.tags, i.submitted_by, i.reopened_count, i.history_seq, i.history_hash, i.closed_at, "
    "i.created_at FROM items i LEFT JOIN units u ON u.id = i.unit_id WHERE i.id IN :ids"
).bindparams(sa.bindparam("ids", expanding=True))
_HISTORY = sa.text(
    "SELECT item_id, seq, trigger, from_state, to_state, actor, at, comment, evidence, fields, prev_hash, hash "
    "FROM history WHERE item_id IN :ids ORDER BY item_id, seq"
).bindparams(sa.bindparam("ids", expanding=True))


@dataclass
class VerifyResult:
    """The outcome: ok, records intact, the ledger head, or the first bad record and any bad workflow versions."""

    ok: bool
    records: int
    head: str | None = None
    first_bad: dict | None = None
    workflow_problems: list[dict] = field(default_factory=list)
    # Every broken item's first bad record, oldest item first (first_bad is the first of them).
    findings: list[dict] = field(default_factory=list)
    # The admin log: {"ok", "entries", "head", "first_bad": {"seq", "reason"} or None}.
    admin_log: dict = field(default_factory=dict)


def check_workflow_row(content_hash: object, text: object) -> tuple[WorkflowDef | None, str | None]:
    """A stored workflow version checked against its hash and parsed: (definition, None) or (None, why not).

    The hash is of the stored text itself (the canonical JSON written when the version was recorded), so
    the check holds across schema changes that would serialise the same rules differently today.
    """
    if not isinstance(text, str) or sha256_hex(text.encode("utf-8", "surrogatepass")) != content_hash:
        return None, "the stored definition does not match its hash: it was altered"
    try:
        return WorkflowDef.model_validate_json(text), None
    except (ValueError, TypeError) as exc:
        return None, f"the stored definition is not a valid workflow ({str(exc).splitlines()[0]})"


def _workflows(conn: sa.Connection) -> tuple[dict[str, WorkflowDef], dict[str, str], list[dict]]:
    good, bad, problems = {}, {}, []
    for row in conn.execute(sa.text("SELECT hash, name, definition FROM workflow_versions ORDER BY hash")):
        definition, reason = check_workflow_row(row.hash, row.definition)
        if definition is None:
            bad[row.hash] = reason
            problems.append({"hash": row.hash, "name": row.name, "reason": reason})
        else:
            good[row.hash] = definition
    return good, bad, problems


def _order_key(created_at: object) -> str:
    """Sorts items by creation whatever a tampered created_at holds."""
    return created_at.isoformat(" ") if isinstance(created_at, dt.datetime) else str(created_at)


def finding_key(row: dict | None, item_id: str) -> tuple:
    """Where a broken item sorts among the findings: oldest first, then by number; items without a row last."""
    if row is None:
        return (1, "", "", str(item_id))
    # Items registered in the same microsecond by their number, which is handed out in order.
    return (0, _order_key(row.get("created_at")), str(row.get("number")), str(item_id))


def _item_ids(conn: sa.Connection) -> list[str]:
    ids = {r[0] for r in conn.execute(sa.text("SELECT id FROM items"))}
    ids.update(r[0] for r in conn.execute(sa.text("SELECT DISTINCT item_id FROM history")))
    return sorted(ids, key=str)


def _batches(conn: sa.Connection, ids: list[str]) -> Iterator[tuple[str, dict | None, list[dict]]]:
    """(item id, item row or None, its raw history rows in seq order), a batch of items at a time."""
    for start in range(0, len(ids), BATCH):
        chunk = ids[start:start + BATCH]
        rows = {r["id"]: dict(r) for r in conn.execute(_ITEMS, {"ids": chunk}).mappings()}
        history: dict[str, list[dict]] = {}
        for r in conn.execute(_HISTORY, {"ids": chunk}).mappings():
            history.setdefault(r["item_id"], []).append(dict(r))
        for item_id in chunk:
            yield item_id, rows.get(item_id), history.get(item_id, [])


def check_item(row: dict | None, raw_records: list[dict], workflows: dict[str, WorkflowDef],
               bad_workflows: dict[str, str]) -> tuple[int, Finding | None, str | None]:
    """One item: (records intact, first finding, chain head hash)."""
    records = []
    for raw in raw_records:
        record, problem = decode_record(raw)
        if record is None:
            seq = raw.get("seq") if type(raw.get("seq")) is int else None
            return len(records), Finding(seq, problem), None
        records.append(record)
    intact, finding, replayed = check_records(records, workflows, bad_workflows)
    if finding is not None:
        return intact, finding, None
    if row is None:
        return intact, Finding(replayed["seq"], "history refers to an item that does not exist"), None
    finding = check_row(row, replayed)
    return intact, finding, replayed["hash"] if finding is None else None


_ADMIN_LOG = sa.text("SELECT seq, at, actor, action, target, before, after, prev_hash, hash FROM admin_log ORDER BY seq")


def verify_admin_log(conn: sa.Connection) -> dict:
    """The admin log's chain, and every stored checkpoint's claim about it: ``{"ok", "entries", "head", "first_bad"}``."""
    claims = []
    for row in conn.execute(sa.text("SELECT body FROM audit_checkpoints ORDER BY number")):
        try:
            claim = claim_of(orjson.loads(row.body))
        except (orjson.JSONDecodeError, TypeError):
            claim = None  # a mangled checkpoint is the bundle verifier's to name (its signature fails)
        if claim is not None:
            claims.append(claim)
    chain = AdminChain(claims)
    for row in conn.execute(_ADMIN_LOG.execution_options(yield_per=5000)).mappings():
        chain.add(dict(row))
    result = chain.finish()
    if not result["ok"]:
        bad = result["first_bad"]
        log.error("admin log verification failed at entry %s: %s", bad["seq"], bad["reason"])
    return result


def verify_database(conn: sa.Connection) -> VerifyResult:
    """Check every workflow version, chain and item row, and the admin log, streaming items in batches."""
    admin_log = verify_admin_log(conn)
    workflows, bad_workflows, workflow_problems = _workflows(conn)
    intact, heads, problems = 0, [], []
    for item_id, row, raw_records in _batches(conn, _item_ids(conn)):
        count, finding, head = check_item(row, raw_records, workflows, bad_workflows)
        intact += count
        if finding is None:
            heads.append([item_id, head])
            continue
        number = row["number"] if row is not None else item_id
        problems.append((finding_key(row, item_id),
                         {"item": number, "item_id": item_id, "seq": finding.seq, "reason": finding.reason}))
    for problem in workflow_problems:
        log.error("workflow version %s (%s) fails verification: %s", problem["hash"], problem["name"],
                  problem["reason"])
    if problems or workflow_problems or not admin_log["ok"]:
        problems.sort(key=lambda p: p[0])
        first = problems[0][1] if problems else None
        if first is not None:
            log.error("history verification failed at item %s seq %s: %s", first["item"], first["seq"],
                      first["reason"])
        return VerifyResult(False, intact, first_bad=first, workflow_problems=workflow_problems,
                            findings=[p[1] for p in problems], admin_log=admin_log)
    return VerifyResult(True, intact, head=sha256_hex(canonical_bytes(sorted(heads))), admin_log=admin_log)

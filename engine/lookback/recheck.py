"""Recording one re-check of a sampled item: a record in the item's own hash chain, then, if it failed, the
workflow's ``reopen`` with the finding as its comment, both in the caller's one write transaction.

The re-check record (trigger ``lookback``) leaves the item where it is (from_state = to_state, a closed state)
and names the look-back and the result in its fields; the chain check accepts it only in that form
(engine/audit/replay.py).
"""
from __future__ import annotations

import sqlalchemy as sa

from engine import history, itemrows
from engine.accounts import Actor
from engine.audit.head import require_agreement
from engine.clock import rfc3339
from engine.errors import Conflict, NotFound
from engine.inputs import TransitionRequest
from engine.items import outbox_row
from engine.lookback.draw import check_view, checks, lookbacks, require_auditor, sampled
from engine.lookback.schemas import RECHECK_TRIGGER, Recheck
from engine.reports.population import StateSets
from engine.runtime import Runtime
from engine.service import fire


def _sampled_item(conn: sa.Connection, lookback_id: int, item_ref: str) -> dict:
    if conn.execute(sa.select(lookbacks.c.id).where(lookbacks.c.id == lookback_id)).first() is None:
        raise NotFound(f"look-back {lookback_id} not found")
    item = itemrows.load_item(conn, item_ref, lock=True)
    in_sample = item is not None and conn.execute(sa.select(sampled.c.position).where(
        sampled.c.lookback_id == lookback_id, sampled.c.item_id == item["id"])).first() is not None
    if not in_sample:
        raise NotFound(f"item {item_ref} is not in the sample of look-back {lookback_id}")
    return item


def _append_record(conn: sa.Connection, rt: Runtime, item: dict, actor: Actor, lookback_id: int,
                   check: Recheck) -> dict:
    """The re-check record at the head of the item's chain; the item's version and head move with it."""
    now = rt.clock.now()
    record, params = history.new_record(
        item_id=item["id"], seq=item["history_seq"] + 1, trigger=RECHECK_TRIGGER, from_state=item["state"],
        to_state=item["state"], actor=actor.username, at=rfc3339(now), comment=check.note, evidence=[],
        fields={"lookback": lookback_id, "result": check.result}, prev_hash=item["history_hash"])
    updated = conn.execute(itemrows.UPDATE_ITEM.values(
        version=item["version"] + 1, history_seq=record["seq"], history_hash=record["hash"], updated_at=now),
        {"_id": item["id"], "_version": item["version"]}).rowcount
    if updated != 1:  # the row is locked: only an edit outside closeloop gets here
        raise Conflict(f"item {item['number']} changed while the re-check was recorded; try again")
    itemrows.INSERT_HISTORY.run(conn, params)
    after = {**item, "version": item["version"] + 1}
    itemrows.INSERT_OUTBOX.run(conn, outbox_row("item.transitioned", after, record, now))
    return record


def record_recheck(conn: sa.Connection, rt: Runtime, *, actor: Actor, lookback_id: int, item_ref: str,
                   check: Recheck) -> dict:
    """Record the re-check of one sampled item; a failed one reopens it. Returns the stored re-check."""
    require_auditor(actor)
    item = _sampled_item(conn, lookback_id, item_ref)
    require_agreement(conn, item)
    done = conn.execute(sa.select(checks).where(checks.c.lookback_id == lookback_id,
                                                checks.c.item_id == item["id"])).first()
    if done is not None:
        raise Conflict(f"item {item['number']} was already re-checked in look-back {lookback_id} ({done.result})")
    if item["state"] not in StateSets.of(rt.registry).closed:
        raise Conflict(f"item {item['number']} is no longer closed (it is {item['state']}): only a closed item is "
                       f"re-checked")
    record = _append_record(conn, rt, item, actor, lookback_id, check)
    if check.result == "failed":
        fire(conn, rt, item_ref=item["id"], actor=actor, request=TransitionRequest(trigger="reopen", comment=check.note))
    row = {"lookback_id": lookback_id, "item_id": item["id"], "result": check.result, "note": check.note,
           "checked_by": actor.username, "checked_at": rt.clock.now(), "history_seq": record["seq"]}
    conn.execute(checks.insert().values(**row))
    return {"item_id": item["id"], "number": item["number"], **check_view(row)}

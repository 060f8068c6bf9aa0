"""Drawing a look-back: the population of closed items, the sample, and the record of both.

The draw is kept twice: in the append-only look-back tables (for reading it back) and in the admin log, whose
hash chain and signed checkpoints make the seed, the population's digest and the sampled numbers tamper-evident.
An auditor can draw the same sample again offline (engine/lookback/sample.py, docs/CAMPAIGNS.md).
"""
from __future__ import annotations

from typing import Mapping

import sqlalchemy as sa

from engine import itemrows
from engine.accounts import Actor, unit_by_code
from engine.audit import admin_log
from engine.audit.models import AdminLogEntry
from engine.clock import Clock, rfc3339
from engine.errors import Forbidden, InvalidInput, NotFound
from engine.lookback import sample
from engine.lookback.models import Lookback, LookbackCheck, LookbackItem
from engine.lookback.schemas import MAX_SAMPLE, NewLookback
from engine.registry import WorkflowRegistry
from engine.reports.population import StateSets, items, unit_subtree_clause

lookbacks, sampled, checks = Lookback.__table__, LookbackItem.__table__, LookbackCheck.__table__
_log = AdminLogEntry.__table__
DRAW_ACTION = "lookback.draw"


def require_auditor(actor: Actor) -> None:
    """Look-backs are the auditors' own check on closures: only they draw and re-check."""
    if "auditor" not in actor.roles:
        raise Forbidden("look-backs are drawn and re-checked by auditors", reason="role")


def _population(conn: sa.Connection, actor: Actor, registry: WorkflowRegistry, data: NewLookback) -> list[tuple]:
    """(number, id) of every closed item matching the criteria, by number."""
    query = sa.select(items.c.number, items.c.id).where(items.c.state.in_(sorted(StateSets.of(registry).closed)))
    if data.unit is not None:
        query = query.where(unit_subtree_clause(conn, actor, data.unit))
    if data.campaign is not None:
        query = query.where(items.c.campaign == data.campaign)
    return [tuple(r) for r in conn.execute(query.order_by(items.c.number))]


def draw_lookback(conn: sa.Connection, *, clock: Clock, registry: WorkflowRegistry, actor: Actor,
                  data: NewLookback) -> int:
    """Draw and record a sample; return the look-back's id."""
    require_auditor(actor)
    population = _population(conn, actor, registry, data)
    numbers = [number for number, _ in population]
    asked = "size" if data.size is not None else "percent"
    if not numbers:
        raise InvalidInput("no closed items match the look-back's criteria", field=asked)
    k = sample.sample_size(len(numbers), size=data.size, percent=data.percent)
    if k > len(numbers):
        raise InvalidInput(f"size {k} is more than the {len(numbers)} closed items that match", field="size")
    if k > MAX_SAMPLE:
        raise InvalidInput(f"{data.percent}% of {len(numbers)} items is {k}, more than the {MAX_SAMPLE} one look-back "
                           f"re-checks", field="percent")
    seed = data.seed or sample.new_seed()
    chosen = sample.draw(seed, numbers, k)
    ids = dict(population)
    now = clock.now()
    # The unit's own code (its subtree was found whatever case the code was written in): the record names it.
    unit = None if data.unit is None else unit_by_code(conn, data.unit).code
    row = {"seed": seed, "size": data.size, "percent": data.percent, "unit": unit, "campaign": data.campaign,
           "population": len(numbers), "population_digest": sample.population_digest(numbers)}
    lookback_id = conn.execute(lookbacks.insert().values(**row, created_by=actor.username, created_at=now)
                               ).inserted_primary_key[0]
    conn.execute(sampled.insert(), [{"lookback_id": lookback_id, "position": n, "item_id": ids[number]}
                                    for n, number in enumerate(chosen, start=1)])
    admin_log.record(conn, actor=actor.username, action=DRAW_ACTION, target=f"lookback:{lookback_id}", before=None,
                     after={**row, "sample": chosen}, now=now)
    return lookback_id


def lookback_view(conn: sa.Connection, lookback_id: int) -> dict:
    """A look-back with its sample in order and each item's re-check so far."""
    row = conn.execute(sa.select(lookbacks).where(lookbacks.c.id == lookback_id)).first()
    if row is None:
        raise NotFound(f"look-back {lookback_id} not found")
    logged = conn.execute(sa.select(_log.c.seq).where(_log.c.action == DRAW_ACTION,
                                                      _log.c.target == f"lookback:{lookback_id}")).scalar()
    found = {r["item_id"]: r for r in conn.execute(sa.select(checks).where(checks.c.lookback_id == lookback_id)).mappings()}
    units = itemrows.units
    lines = conn.execute(
        sa.select(sampled.c.position, items.c.id, items.c.number, items.c.title, items.c.state, units.c.code)
        .select_from(sampled.join(items, items.c.id == sampled.c.item_id).join(units, units.c.id == items.c.unit_id))
        .where(sampled.c.lookback_id == lookback_id).order_by(sampled.c.position))
    out = [{"position": r.position, "id": r.id, "number": r.number, "title": r.title, "unit": r.code, "state": r.state,
            "check": check_view(found[r.id]) if r.id in found else None} for r in lines]
    results = [c.result for c in found.values()]
    return {"id": row.id, "seed": row.seed, "size": row.size, "percent": row.percent, "unit": row.unit,
            "campaign": row.campaign, "population": row.population, "population_digest": row.population_digest,
            "admin_log_seq": logged, "created_by": row.created_by, "created_at": rfc3339(row.created_at),
            "checked": len(results), "passed": results.count("passed"), "failed": results.count("failed"),
            "items": out}


def check_view(row: Mapping) -> dict:
    """A stored re-check as the API shows it."""
    return {"result": row["result"], "note": row["note"], "checked_by": row["checked_by"],
            "checked_at": rfc3339(row["checked_at"]), "history_seq": row["history_seq"]}

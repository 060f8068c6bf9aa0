"""Reading the admin log as the API lists it: filtered, paged by seq, newest or oldest first."""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import sqlalchemy as sa

from engine.audit.models import AdminLogEntry
from engine.clock import rfc3339
from engine.errors import IntegrityViolation

_log = AdminLogEntry.__table__


def entry_view(row: sa.RowMapping) -> dict:
    """A stored entry as the API shows it (``before``/``after`` parsed); a malformed one is an IntegrityViolation."""
    try:
        before = None if row["before"] is None else json.loads(row["before"])
        after = None if row["after"] is None else json.loads(row["after"])
    except (TypeError, ValueError):
        raise IntegrityViolation(f"admin log entry {row['seq']} is malformed (its before or after is not valid "
                                 f"JSON); run `closeloop audit verify`") from None
    return {"seq": row["seq"], "at": row["at"], "actor": row["actor"], "action": row["action"],
            "target": row["target"], "before": before, "after": after, "prev_hash": row["prev_hash"],
            "hash": row["hash"]}


@dataclass(frozen=True)
class LogFilters:
    """Which entries to list: one action, one actor, made within [since, until) (UTC instants)."""

    action: str | None = None
    actor: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None


def list_entries(conn: sa.Connection, filters: LogFilters, *, limit: int, oldest_first: bool = False,
                 after_seq: int | None = None) -> list[dict]:
    """Entries matching ``filters``, newest first (or oldest first), those past ``after_seq`` in that order."""
    query = sa.select(_log)
    if filters.action is not None:
        query = query.where(_log.c.action == filters.action)
    if filters.actor is not None:
        query = query.where(_log.c.actor == filters.actor)
    # ``at`` is fixed-width RFC 3339 UTC text, so text order is time order on both stores.
    if filters.since is not None:
        query = query.where(_log.c.at >= rfc3339(filters.since))
    if filters.until is not None:
        query = query.where(_log.c.at < rfc3339(filters.until))
    if after_seq is not None:
        query = query.where(_log.c.seq > after_seq if oldest_first else _log.c.seq < after_seq)
    order = _log.c.seq.asc() if oldest_first else _log.c.seq.desc()
    return [entry_view(r) for r in conn.execute(query.order_by(order).limit(limit)).mappings()]

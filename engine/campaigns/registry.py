"""Registering campaigns and correcting them, each change in the admin log; listing them with their item counts.

An item may name a campaign that is not registered (yet): offices register the items of a round as the
inspection report arrives, and the round itself is often entered later. Such codes are listed too, marked
unregistered, and a campaign cannot be reported closed while it is unregistered (engine.campaigns.reconcile).
"""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from engine.accounts import Actor
from engine.audit import admin_log
from engine.campaigns.models import Campaign
from engine.campaigns.schemas import CampaignChange, NewCampaign
from engine.clock import Clock, rfc3339
from engine.deadlines import implausible_day
from engine.errors import Conflict, Forbidden, InvalidInput, NotFound
from engine.reports.population import items, scope_clause

campaigns = Campaign.__table__
# Campaigns are issued by the offices that run the loop, not by the units that fix the problems.
WRITE_ROLES = frozenset({"supervisor", "admin"})
_SHOWN = ("code", "name", "issued_by", "issued_on")


def _require_writer(actor: Actor) -> None:
    if not actor.roles & WRITE_ROLES:
        raise Forbidden("registering or changing a campaign needs one of the roles: admin, supervisor", reason="role")


def _view(row) -> dict:
    return {"code": row.code, "name": row.name, "issued_by": row.issued_by, "issued_on": row.issued_on.isoformat(),
            "registered": True, "created_by": row.created_by, "created_at": rfc3339(row.created_at)}


def find(conn: sa.Connection, code: str):
    """The registered campaign row, or None."""
    if not can_exist(code):
        return None
    return conn.execute(sa.select(campaigns).where(campaigns.c.code == code)).first()


def can_exist(code: str) -> bool:
    """Whether a campaign code could be stored at all: no NUL (PostgreSQL cannot even compare text holding one)."""
    return "\x00" not in code


def _check_issued_on(day: dt.date | None, today: dt.date) -> None:
    # The same bounds as a due date: 0001-01-01 or 2099 is a slip, and reports would date the round by it.
    slip = implausible_day("issued_on", day, today, far_off=None)
    if slip is not None:
        raise InvalidInput(slip, field="issued_on")


def create(conn: sa.Connection, *, clock: Clock, actor: Actor, data: NewCampaign, today: dt.date) -> dict:
    """Register a campaign (``today``: the deployment's local date); 409 if the code is taken."""
    _require_writer(actor)
    _check_issued_on(data.issued_on, today)
    if find(conn, data.code) is not None:
        raise Conflict(f"campaign {data.code!r} already exists")
    now = clock.now()
    row = {**data.model_dump(), "created_by": actor.username, "created_at": now}
    conn.execute(campaigns.insert().values(**row))
    admin_log.record(conn, actor=actor.username, action="campaign.add", target=f"campaign:{data.code}", before=None,
                     after={k: row[k] for k in _SHOWN}, now=now)
    return _view(find(conn, data.code))


def change(conn: sa.Connection, *, clock: Clock, actor: Actor, code: str, data: CampaignChange,
           today: dt.date) -> dict:
    """Correct a registered campaign's name, issuing body or date; the admin log keeps before and after."""
    _require_writer(actor)
    given = data.model_dump(exclude_unset=True)
    if not given or any(v is None for v in given.values()):
        raise InvalidInput("give one or more of name, issued_by, issued_on (none of them null)", field="body")
    _check_issued_on(given.get("issued_on"), today)
    row = find(conn, code)
    if row is None:
        raise NotFound(f"campaign {code!r} is not registered")
    before = {k: getattr(row, k) for k in _SHOWN}
    after = {**before, **given}
    if after == before:
        return _view(row)
    conn.execute(campaigns.update().where(campaigns.c.code == code).values(**given))
    admin_log.record(conn, actor=actor.username, action="campaign.change", target=f"campaign:{code}",
                     before={k: before[k] for k in given}, after=given, now=clock.now())
    return _view(find(conn, code))


def list_campaigns(conn: sa.Connection, actor: Actor) -> list[dict]:
    """Registered campaigns and the codes items name without one, each with its item count in the actor's scope."""
    query = sa.select(items.c.campaign, sa.func.count()).where(items.c.campaign.is_not(None))
    scope = scope_clause(actor)
    if scope is not None:
        query = query.where(scope)
    counts = dict(conn.execute(query.group_by(items.c.campaign)).all())
    out = [{**_view(row), "items": counts.pop(row.code, 0)}
           for row in conn.execute(sa.select(campaigns).order_by(campaigns.c.code))]
    out += [{"code": code, "name": None, "issued_by": None, "issued_on": None, "registered": False,
             "created_by": None, "created_at": None, "items": n} for code, n in sorted(counts.items())]
    return sorted(out, key=lambda c: c["code"])


def registered_view(row) -> dict | None:
    """A registered campaign as the API shows it (None for a code no campaign is registered under)."""
    return _view(row) if row is not None else None

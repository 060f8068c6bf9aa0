"""Changing a user: roles, unit, e-mail, display name, and whether they are active at all.

A deactivated user's tokens stop working at once (authentication reads ``active`` on every request) and
the reminder sweep passes them over; reactivating brings back the tokens that were not revoked.
"""
from __future__ import annotations

import sqlalchemy as sa

from engine import accounts
from engine.audit import admin_log
from engine.clock import Clock
from engine.errors import Conflict, InvalidInput, NotFound
from engine.models import Item, Unit, User
from engine.people.email import check_email

_users, _units, _items = User.__table__, Unit.__table__, Item.__table__
CHANGEABLE = ("roles", "unit", "email", "display_name", "active")


def user_view(conn: sa.Connection, username: str) -> dict:
    """A user as the admin API shows them, with the open items that name them as assignee (责任人)."""
    row = accounts.user_by_username(conn, username)
    if row is None:
        raise NotFound(f"user {username!r} does not exist")
    assigned = conn.execute(sa.select(sa.func.count()).select_from(_items).where(
        _items.c.assignee == username, _items.c.closed_at.is_(None))).scalar_one()
    return {"username": row.username, "display_name": row.display_name, "roles": row.roles.split(","),
            "unit": row.unit_code, "email": row.email, "active": row.active, "assigned_open_items": assigned}


def _other_active_admins(conn: sa.Connection, user_id: int) -> int:
    rows = conn.execute(sa.select(_users.c.roles).where(_users.c.active.is_(True), _users.c.id != user_id))
    return sum(1 for r in rows if "admin" in r.roles.split(","))


def _log_changes(conn: sa.Connection, *, clock: Clock, actor: str, before: dict, after: dict) -> None:
    """One admin-log entry per kind of change, each a true before/after: grants, revocations, deactivation, the rest.

    Roles granted and revoked in one request are two entries (grant first), so an auditor can look for either.
    """
    target, now = f"user:{before['username']}", clock.now()

    def log(action: str, old: dict, new: dict) -> None:
        admin_log.record(conn, actor=actor, action=action, target=target, before=old, after=new, now=now)

    old_roles, new_roles = before["roles"], after["roles"]
    granted = sorted(set(new_roles) - set(old_roles))
    if granted:
        log("role.grant", {"roles": old_roles}, {"roles": sorted(set(old_roles) | set(granted)), "granted": granted})
    revoked = sorted(set(old_roles) - set(new_roles))
    if revoked:
        log("role.revoke", {"roles": sorted(set(old_roles) | set(granted))}, {"roles": new_roles, "revoked": revoked})
    changed = [k for k in ("unit", "email", "display_name") if before[k] != after[k]]
    if changed:
        log("user.change", {k: before[k] for k in changed}, {k: after[k] for k in changed})
    if before["active"] != after["active"]:
        log("user.deactivate" if before["active"] else "user.reactivate", {"active": before["active"]},
            {"active": after["active"]})


def update_user(conn: sa.Connection, username: str, changes: dict, *, clock: Clock, actor: str) -> dict:
    """Apply ``changes`` (keys from CHANGEABLE; ``email`` None removes it) and return the user as shown.

    What changed goes into the admin log under ``actor``, in the same transaction.
    """
    row = accounts.user_by_username(conn, username)
    if row is None:
        raise NotFound(f"user {username!r} does not exist")
    unknown = set(changes) - set(CHANGEABLE)
    if unknown:
        raise InvalidInput(f"cannot change {sorted(unknown)[0]!r} (changeable: {', '.join(CHANGEABLE)})",
                           field=sorted(unknown)[0])
    values: dict = {}
    if "roles" in changes:
        values["roles"] = ",".join(accounts.check_roles(list(changes["roles"] or [])))
    if "unit" in changes:
        unit = accounts.unit_by_code(conn, changes["unit"])
        if unit is None:
            raise InvalidInput(f"unit {changes['unit']!r} does not exist", field="unit")
        values["unit_id"] = unit.id
    if "email" in changes:
        values["email"] = None if changes["email"] is None else check_email(changes["email"])
    if "display_name" in changes:
        values["display_name"] = accounts.check_display_name(changes["display_name"] or "")
    if "active" in changes:
        values["active"] = bool(changes["active"])
    # Nobody could add users or fix this one again: the last active admin stays an active admin.
    was_admin = row.active and "admin" in row.roles.split(",")
    stays_admin = values.get("active", row.active) and "admin" in values.get("roles", row.roles).split(",")
    if was_admin and not stays_admin and _other_active_admins(conn, row.id) == 0:
        raise Conflict(f"{username} is the last active admin: make another admin first")
    if not values:
        return user_view(conn, username)
    before = user_view(conn, username)
    conn.execute(_users.update().where(_users.c.id == row.id).values(**values))
    after = user_view(conn, username)
    _log_changes(conn, clock=clock, actor=actor, before=before, after=after)
    return after


def display_names(conn: sa.Connection, usernames: set[str]) -> dict[str, str]:
    """Each username's display name (the username itself where none is set), for pages that name people."""
    if not usernames:
        return {}
    rows = conn.execute(sa.select(_users.c.username, _users.c.display_name).where(_users.c.username.in_(usernames)))
    return {r.username: r.display_name or r.username for r in rows}

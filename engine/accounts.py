"""Units, users and tokens: who may act, from which unit, and how a request proves it."""
from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

import sqlalchemy as sa

from engine.audit import admin_log
from engine.clock import Clock
from engine.definitions.workflow import ROLES
from engine.errors import Conflict, InvalidInput, NotFound
from engine.models import Token, Unit, User
from engine.people.email import check_email
from engine.store.fastpath import Prebuilt
from engine.text import has_control, is_blank

_units, _users, _tokens = Unit.__table__, User.__table__, Token.__table__
GLOBAL_READ_ROLES = frozenset({"auditor", "admin"})
# Roles whose *actions* reach every unit: an auditor reopens (回头看) wherever they read, an admin registers
# anywhere. Every other role acts only in its holder's unit subtree, whatever other roles that person holds.
GLOBAL_ACTION_ROLES = frozenset({"auditor", "admin"})
CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# Levels of the unit tree, the root being level 1 (national > province > city > district > street ...
# with departments below needs about ten). The bound keeps a unit's path within its 1000-character column on
# every store: a level adds "/" and an id of at most 10 digits (PostgreSQL's integer; 19 in SQLite's), so
# 32 levels take at most 353 characters (641 on SQLite, which does not enforce the length anyway).
MAX_UNIT_DEPTH = 32
# The longest name of a unit or a user, or label of a token (the columns hold 200).
NAME_MAX = 200
USERNAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class Actor:
    """The authenticated caller: who, with which roles, from which unit (and its subtree)."""

    user_id: int
    username: str
    roles: frozenset[str]
    unit_id: int
    unit_code: str
    unit_path: str

    @property
    def sees_everything(self) -> bool:
        """Auditors and admins read across all units."""
        return bool(self.roles & GLOBAL_READ_ROLES)

    def covers(self, unit_path: str) -> bool:
        """Whether a unit (by its path) is this actor's own unit or below it."""
        return unit_path.startswith(self.unit_path)

    def can_see(self, unit_path: str) -> bool:
        """Read scope: own unit and sub-units, or everything for auditors and admins."""
        return self.sees_everything or self.covers(unit_path)

    def can_act(self, granting_roles: frozenset[str] | set[str], unit_path: str) -> bool:
        """Write scope for an action that ``granting_roles`` permit: the scope of the roles that grant it.

        Read scope never widens it: a supervisor who is also an auditor assigns only in their own subtree.
        """
        return bool(self.roles & granting_roles & GLOBAL_ACTION_ROLES) or self.covers(unit_path)


def hash_token(token: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def new_token() -> str:
    """A fresh random token (32 random bytes, URL-safe), shown to its owner once."""
    return "cl_" + secrets.token_urlsafe(32)


# Runs on every request, so it is prebuilt and run on the driver's cursor (see engine.store.fastpath).
_AUTH = Prebuilt(
    sa.select(_users.c.id, _users.c.username, _users.c.roles, _users.c.unit_id, _units.c.code, _units.c.path)
    .select_from(_tokens.join(_users, _users.c.id == _tokens.c.user_id).join(_units, _units.c.id == _users.c.unit_id))
    .where(_tokens.c.token_hash == sa.bindparam("h"), _tokens.c.revoked_at.is_(None), _users.c.active.is_(True))
)


def authenticate(conn: sa.Connection, token: str) -> Actor | None:
    """The actor a bearer token belongs to, or None if the token is unknown, revoked or its user inactive."""
    if not token or len(token) > 200:
        return None
    row = _AUTH.first(conn, {"h": hash_token(token)})
    if row is None:
        return None
    return Actor(row["id"], row["username"], frozenset(row["roles"].split(",")), row["unit_id"], row["code"],
                 row["path"])


def unit_by_code(conn: sa.Connection, code: str) -> sa.Row | None:
    """The unit row with this code, if any, whatever the case it is written in (codes are unique regardless of
    case: ``unit add`` refuses city-edu beside CITY-EDU, so city-edu can only mean CITY-EDU)."""
    return conn.execute(sa.select(_units).where(sa.func.lower(_units.c.code) == code.lower())).first()


def add_unit(conn: sa.Connection, *, clock: Clock, actor: str, code: str, name: str, parent: str | None = None) -> dict:
    """Create a unit under ``parent`` (or as a root); ``actor`` is who the admin log names."""
    if not CODE.fullmatch(code):  # match() would let '$' pass a trailing newline
        raise InvalidInput(f"unit code {code!r} must be 1-64 letters, digits, '_', '.' or '-'", field="code")
    if is_blank(name) or len(name) > NAME_MAX or has_control(name):
        raise InvalidInput(f"unit name must be 1-{NAME_MAX} characters, without control characters", field="name")
    same = conn.execute(sa.select(_units.c.code).where(sa.func.lower(_units.c.code) == code.lower())).first()
    if same is not None:
        raise Conflict(f"unit {code!r} already exists" if same.code == code else
                       f"unit {code!r} clashes with the existing unit {same.code!r} (codes ignore case)")
    parent_row = None
    if parent is not None:
        parent_row = unit_by_code(conn, parent)
        if parent_row is None:
            raise InvalidInput(f"parent unit {parent!r} does not exist", field="parent")
        if unit_depth(parent_row.path) >= MAX_UNIT_DEPTH:
            raise InvalidInput(f"unit {parent!r} is at level {MAX_UNIT_DEPTH}, the deepest the unit tree goes; "
                               "add the unit higher up", field="parent")
    new_id = conn.execute(_units.insert().values(code=code, name=name.strip(), parent_id=parent_row.id if parent_row else None,
                                                 path="", created_at=clock.now())).inserted_primary_key[0]
    path = f"{parent_row.path if parent_row else '/'}{new_id}/"
    conn.execute(_units.update().where(_units.c.id == new_id).values(path=path))
    unit = {"code": code, "name": name.strip(), "parent": parent_row.code if parent_row else None}
    admin_log.record(conn, actor=actor, action="unit.add", target=f"unit:{code}", before=None, after=unit,
                     now=clock.now())
    return unit


def unit_depth(path: str) -> int:
    """The level of a unit from its path: '/1/' is level 1, '/1/4/' level 2."""
    return path.count("/") - 1


def list_units(conn: sa.Connection) -> list[dict]:
    """All units, each with its parent's code and depth, in tree order."""
    parent = _units.alias("parent")
    rows = conn.execute(sa.select(_units.c.code, _units.c.name, _units.c.path, parent.c.code.label("parent"))
                        .select_from(_units.outerjoin(parent, parent.c.id == _units.c.parent_id))
                        .order_by(_units.c.path)).all()
    return [{"code": r.code, "name": r.name, "parent": r.parent, "depth": unit_depth(r.path) - 1} for r in rows]


def check_roles(roles: list[str]) -> list[str]:
    """The roles, sorted and once each; InvalidInput for none or an unknown one."""
    if not roles:
        raise InvalidInput("give at least one role", field="roles")
    unknown = [r for r in roles if r not in ROLES]
    if unknown:
        raise InvalidInput(f"unknown role {unknown[0]!r} (roles: {', '.join(ROLES)})", field="roles")
    return sorted(set(roles))


def check_display_name(name: str) -> str:
    """The name stripped; InvalidInput past 200 characters or when only blanks (an empty name is allowed)."""
    if len(name) > NAME_MAX or (name and is_blank(name)) or has_control(name):
        raise InvalidInput(f"display name must be at most {NAME_MAX} characters, not only blanks, and without "
                           "control characters", field="display_name")
    return name.strip()


def check_label(label: str) -> str:
    """A token's label; InvalidInput past 200 characters (it was cut short without a word)."""
    if len(label) > NAME_MAX:
        raise InvalidInput(f"a token's label must be at most {NAME_MAX} characters", field="label")
    return label


def add_user(conn: sa.Connection, *, clock: Clock, actor: str, username: str, roles: list[str], unit: str,
             display_name: str = "", email: str | None = None) -> tuple[dict, str]:
    """Create a user and a first token; return the user and the token (shown once, stored as a hash)."""
    if not USERNAME.fullmatch(username):
        raise InvalidInput("username must be 1-64 lower-case letters, digits, '_', '.' or '-'", field="username")
    role_list = check_roles(roles)
    display_name = check_display_name(display_name)
    address = check_email(email) if email is not None else None
    unit_row = unit_by_code(conn, unit)
    if unit_row is None:
        raise InvalidInput(f"unit {unit!r} does not exist", field="unit")
    if conn.execute(sa.select(_users.c.id).where(_users.c.username == username)).first():
        raise Conflict(f"user {username!r} already exists")
    user_id = conn.execute(_users.insert().values(
        username=username, display_name=display_name, unit_id=unit_row.id, roles=",".join(role_list),
        email=address, active=True, created_at=clock.now())).inserted_primary_key[0]
    user = {"username": username, "display_name": display_name, "roles": role_list, "unit": unit_row.code,
            "email": address}
    admin_log.record(conn, actor=actor, action="user.add", target=f"user:{username}", before=None,
                     after={**user, "active": True}, now=clock.now())
    token = issue_token(conn, clock=clock, actor=actor, user_id=user_id, label="created with the user")
    return user, token


def issue_token(conn: sa.Connection, *, clock: Clock, actor: str, user_id: int, label: str = "") -> str:
    """Make a new token for a user and return it; only its hash is stored (the admin log names its fingerprint)."""
    label = check_label(label)
    token = new_token()
    digest = hash_token(token)
    token_id = conn.execute(_tokens.insert().values(user_id=user_id, token_hash=digest, label=label,
                                                    created_at=clock.now())).inserted_primary_key[0]
    username = conn.execute(sa.select(_users.c.username).where(_users.c.id == user_id)).scalar_one()
    admin_log.record(conn, actor=actor, action="token.issue", target=f"user:{username}", before=None,
                     after={"token_id": token_id, "label": label, "fingerprint": admin_log.fingerprint(digest)},
                     now=clock.now())
    return token


def user_by_username(conn: sa.Connection, username: str) -> sa.Row | None:
    """The user row (with unit code and path) for a username, if any."""
    if "\x00" in username:  # no username contains NUL, and PostgreSQL refuses to compare text holding one
        return None
    return conn.execute(
        sa.select(_users, _units.c.code.label("unit_code"), _units.c.path.label("unit_path"))
        .select_from(_users.join(_units, _units.c.id == _users.c.unit_id)).where(_users.c.username == username)
    ).first()


def new_token_for(conn: sa.Connection, *, clock: Clock, actor: str, username: str) -> str:
    """Issue another token for an existing user."""
    row = user_by_username(conn, username)
    if row is None:
        raise NotFound(f"user {username!r} does not exist")
    return issue_token(conn, clock=clock, actor=actor, user_id=row.id, label="issued later")


def list_users(conn: sa.Connection) -> list[dict]:
    """All users with their roles, unit, e-mail and whether they are active."""
    rows = conn.execute(sa.select(_users.c.username, _users.c.display_name, _users.c.roles, _users.c.active,
                                  _users.c.email, _units.c.code)
                        .select_from(_users.join(_units, _units.c.id == _users.c.unit_id))
                        .order_by(_users.c.username)).all()
    return [{"username": r.username, "display_name": r.display_name, "roles": r.roles.split(","),
             "unit": r.code, "email": r.email, "active": r.active} for r in rows]

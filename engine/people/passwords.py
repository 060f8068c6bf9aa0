"""Web sign-in passwords: Argon2id hashes (argon2-cffi), set by an admin, checked at sign-in."""
from __future__ import annotations

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from engine import accounts
from engine.audit import admin_log
from engine.clock import Clock
from engine.errors import InvalidInput, NotFound
from engine.models import User

_users = User.__table__
MIN_LENGTH = 10
MAX_LENGTH = 200  # Argon2 takes any length; the bound keeps one sign-in from costing much more than another
_hasher = PasswordHasher()  # the library's defaults (RFC 9106's second recommended setting)
# Checked when no such user exists, so a wrong username costs as long as a wrong password (no user probing).
_DUMMY_HASH = _hasher.hash("no user has this password")


def check_password_text(password: str) -> str:
    """The password if it is acceptable; InvalidInput saying why not."""
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise InvalidInput(f"a password must be {MIN_LENGTH}-{MAX_LENGTH} characters", field="password")
    if "\x00" in password or password.strip() != password:
        raise InvalidInput("a password must not contain NUL or begin or end with blanks", field="password")
    return password


def set_password(conn: sa.Connection, *, clock: Clock, actor: str, username: str, password: str) -> None:
    """Store a new password hash for ``username``; the admin log records that it was set, never the password."""
    row = accounts.user_by_username(conn, username)
    if row is None:
        raise NotFound(f"user {username!r} does not exist")
    digest = _hasher.hash(check_password_text(password))
    conn.execute(_users.update().where(_users.c.id == row.id).values(password_hash=digest))
    admin_log.record(conn, actor=actor, action="user.password", target=f"user:{username}",
                     before={"password": "set" if row.password_hash else "none"}, after={"password": "set"},
                     now=clock.now())


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches the stored hash (a missing hash is checked against a dummy, and fails)."""
    if len(password) > MAX_LENGTH:
        return False
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False

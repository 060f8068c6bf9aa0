"""Web sessions kept on the server: sign in, find the actor behind a session cookie, sign out.

The browser holds a random session id; the table holds only its SHA-256. A session ends on sign-out, after
``idle`` without a request, ``longest`` after sign-in, and at once when its user is deactivated (the lookup
reads ``users.active`` every time, as token authentication does).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

import sqlalchemy as sa

from engine import accounts
from engine.accounts import Actor
from engine.clock import Clock
from engine.models import Unit, User
from engine.people.models import WebSession
from engine.people.passwords import verify_password

_sessions, _users, _units = WebSession.__table__, User.__table__, Unit.__table__
# last_seen_at is written at most this often, so reading pages is not a write per request; idle expiry is
# therefore exact to within this much.
TOUCH_EVERY = dt.timedelta(seconds=60)


def session_digest(session_id: str) -> str:
    """The stored form of a session id."""
    return hashlib.sha256(session_id.encode("utf-8", "surrogatepass")).hexdigest()


def csrf_token(session_id: str) -> str:
    """The CSRF token of a session: derived from its id (which the server never stores), unlike its stored hash."""
    return hmac.new(session_id.encode("utf-8", "surrogatepass"), b"closeloop csrf", hashlib.sha256).hexdigest()


def check_credentials(conn: sa.Connection, *, username: str, password: str) -> int | None:
    """The id of the active user whose password this is, or None (which of the two was wrong is not said).

    Only reads: the slow hash check runs outside any write transaction (SQLite has one writer at a time).
    """
    row = accounts.user_by_username(conn, username) if len(username) <= 64 else None
    stored = row.password_hash if row is not None and row.active else None
    return row.id if verify_password(stored, password) else None


def start_session(conn: sa.Connection, *, clock: Clock, user_id: int) -> str:
    """A new session for the user; returns its id, of which only the hash is stored."""
    session_id = secrets.token_urlsafe(32)
    now = clock.now()
    conn.execute(_sessions.insert().values(session_hash=session_digest(session_id), user_id=user_id, created_at=now,
                                           last_seen_at=now))
    return session_id


@dataclass(frozen=True)
class LiveSession:
    """A session that may go on: its actor, its row id, and whether its last-seen time is due a refresh."""

    actor: Actor
    row_id: int
    stale: bool


def find_session(conn: sa.Connection, *, clock: Clock, session_id: str, idle: dt.timedelta,
                 longest: dt.timedelta) -> LiveSession | None:
    """The live session with this id; None if it is unknown, ended, expired, or its user deactivated."""
    if not session_id or len(session_id) > 100:
        return None
    row = conn.execute(
        sa.select(_sessions.c.id, _sessions.c.created_at, _sessions.c.last_seen_at, _users.c.id.label("user_id"),
                  _users.c.username, _users.c.roles, _users.c.unit_id, _units.c.code, _units.c.path)
        .select_from(_sessions.join(_users, _users.c.id == _sessions.c.user_id)
                     .join(_units, _units.c.id == _users.c.unit_id))
        .where(_sessions.c.session_hash == session_digest(session_id), _sessions.c.ended_at.is_(None),
               _users.c.active.is_(True))).first()
    now = clock.now()
    if row is None or now - row.last_seen_at > idle or now - row.created_at > longest:
        return None
    actor = Actor(row.user_id, row.username, frozenset(row.roles.split(",")), row.unit_id, row.code, row.path)
    return LiveSession(actor, row.id, now - row.last_seen_at > TOUCH_EVERY)


def touch(conn: sa.Connection, *, clock: Clock, row_id: int) -> None:
    """Record that the session was used now (what idle expiry counts from)."""
    conn.execute(_sessions.update().where(_sessions.c.id == row_id).values(last_seen_at=clock.now()))


def sign_out(conn: sa.Connection, *, clock: Clock, session_id: str) -> None:
    """End the session now (signing out twice, or with an unknown id, changes nothing)."""
    conn.execute(_sessions.update().where(_sessions.c.session_hash == session_digest(session_id),
                                          _sessions.c.ended_at.is_(None)).values(ended_at=clock.now()))

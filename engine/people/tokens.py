"""A user's tokens as an admin sees them (labels and dates, never the token or its hash), and revoking one."""
from __future__ import annotations

import sqlalchemy as sa

from engine import accounts
from engine.audit import admin_log
from engine.clock import Clock, rfc3339
from engine.errors import NotFound
from engine.models import Token

_tokens = Token.__table__
_LISTED = (_tokens.c.id, _tokens.c.label, _tokens.c.created_at, _tokens.c.revoked_at)


def _view(row: sa.Row) -> dict:
    return {"id": row.id, "label": row.label, "created_at": rfc3339(row.created_at),
            "revoked_at": rfc3339(row.revoked_at) if row.revoked_at else None, "revoked": row.revoked_at is not None}


def _user_id(conn: sa.Connection, username: str) -> int:
    row = accounts.user_by_username(conn, username)
    if row is None:
        raise NotFound(f"user {username!r} does not exist")
    return row.id


def list_tokens(conn: sa.Connection, username: str) -> list[dict]:
    """The user's tokens, oldest first."""
    user_id = _user_id(conn, username)
    rows = conn.execute(sa.select(*_LISTED).where(_tokens.c.user_id == user_id).order_by(_tokens.c.id))
    return [_view(r) for r in rows]


def revoke_token(conn: sa.Connection, *, clock: Clock, actor: str, username: str, token_id: int) -> dict:
    """Revoke one of the user's tokens (it stops working at once); revoking it again changes nothing.

    A revocation goes into the admin log under ``actor`` (a repeat, which changes nothing, does not).
    """
    user_id = _user_id(conn, username)
    if not 1 <= token_id <= 2**31 - 1:  # ids are 32-bit on PostgreSQL, which refuses to compare a larger one
        raise NotFound(f"user {username!r} has no token {token_id}")
    mine = sa.and_(_tokens.c.id == token_id, _tokens.c.user_id == user_id)
    revoked = conn.execute(_tokens.update().where(mine, _tokens.c.revoked_at.is_(None))
                           .values(revoked_at=clock.now()).returning(_tokens.c.token_hash)).first()
    row = conn.execute(sa.select(*_LISTED).where(mine)).first()
    if row is None:
        raise NotFound(f"user {username!r} has no token {token_id}")
    if revoked is not None:
        named = {"token_id": token_id, "label": row.label, "fingerprint": admin_log.fingerprint(revoked.token_hash)}
        admin_log.record(conn, actor=actor, action="token.revoke", target=f"user:{username}",
                         before={**named, "revoked": False}, after={**named, "revoked": True}, now=clock.now())
    return _view(row)

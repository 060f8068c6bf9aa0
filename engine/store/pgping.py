"""A PostgreSQL pool that checks a connection before use only when it has sat idle, not on every checkout.

SQLAlchemy's pool_pre_ping sends an empty query on each checkout: under load that is one round trip more per
transaction for connections that were in use a moment ago. Here a connection idle for ``idle_seconds`` or more
is pinged (a server restarted or a connection dropped while it sat in the pool is replaced before a request
uses it); a connection that was in use more recently is not. If the server goes away between two uses that
close together, the statement fails as a lost connection (503, engine.store.unavailable), and SQLAlchemy then
replaces every pooled connection older than the failure, as it does with pre-ping too.
"""
from __future__ import annotations

import time

import sqlalchemy as sa

IDLE_SECONDS = 1.0
_USED = "closeloop_used_at"


def ping_when_idle(engine: sa.Engine, idle_seconds: float = IDLE_SECONDS) -> None:
    """Ping ``engine``'s pooled connections at checkout when they have been idle ``idle_seconds`` or more."""

    @sa.event.listens_for(engine, "connect")
    def _connected(dbapi_connection, record) -> None:
        record.info[_USED] = time.monotonic()

    @sa.event.listens_for(engine, "checkin")
    def _returned(dbapi_connection, record) -> None:
        if record is not None:
            record.info[_USED] = time.monotonic()

    @sa.event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection, record, proxy) -> None:
        if time.monotonic() - record.info.get(_USED, 0.0) < idle_seconds:
            return
        try:
            # The dialect's own ping (what pool_pre_ping runs): an empty query sent in autocommit, so that the
            # connection is not left in a transaction it would then refuse to switch to autocommit in.
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            # The pool discards this connection and checks out another (a new one when none is left).
            raise sa.exc.DisconnectionError(f"a pooled connection failed its ping: {exc}") from exc

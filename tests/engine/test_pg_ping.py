"""PostgreSQL's pool pings a connection only after it sat idle (engine.store.pgping): a connection the server dropped
while it was idle is replaced before a statement uses it; one used a moment ago is trusted without a ping."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from engine.store import normalize_url
from engine.store.pgping import ping_when_idle


def _pool(url: str, idle_seconds: float) -> sa.Engine:
    engine = sa.create_engine(normalize_url(url), pool_size=1, max_overflow=0)
    ping_when_idle(engine, idle_seconds)
    return engine


def _backend(engine: sa.Engine, **options) -> int:
    with engine.connect() as conn:
        return conn.execution_options(**options).exec_driver_sql("SELECT pg_backend_pid()").scalar_one()


def _drop(url: str, pid: int) -> None:
    """End the server side of a pooled connection, as a restarted server or a dropped route would."""
    admin = sa.create_engine(normalize_url(url), isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        assert conn.exec_driver_sql(f"SELECT pg_terminate_backend({pid})").scalar_one()
    admin.dispose()


def test_a_connection_dropped_while_idle_is_replaced_before_use(pg_server_url):
    engine = _pool(pg_server_url, idle_seconds=0)  # every checkout counts as after an idle spell
    try:
        first = _backend(engine)
        _drop(pg_server_url, first)
        second = _backend(engine)  # would raise if the dead connection were handed out
        assert second != first
        # The ping leaves no transaction open: a checkout may still switch to autocommit (Store.single does).
        assert _backend(engine, isolation_level="AUTOCOMMIT") == second
    finally:
        engine.dispose()


def test_a_connection_used_a_moment_ago_is_not_pinged(pg_server_url):
    engine = _pool(pg_server_url, idle_seconds=3600)
    try:
        _drop(pg_server_url, _backend(engine))
        with pytest.raises(sa.exc.OperationalError) as failed:  # no ping found it dead: the statement does
            _backend(engine)
        assert failed.value.connection_invalidated
        _backend(engine)  # the failure replaced it
    finally:
        engine.dispose()

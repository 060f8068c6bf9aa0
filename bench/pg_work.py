"""What bench/pg_http.py's clients work on and what it counts in PostgreSQL while they do.

The work: the tests' small unit tree and people (tests.helpers.build_world) added to the filled database, and
items of DEPT-A registered, assigned and accepted in-process, so that they sit in 'rectifying' where
report_progress is a self-loop the assignee may fire again and again.
"""
from __future__ import annotations

import sqlalchemy as sa

from engine import accounts, items, service
from engine.config import Settings
from engine.inputs import NewItem, TransitionRequest
from engine.runtime import Runtime
from tests.helpers import build_world

BATCH = 500


def prepare_work(url: str, count: int) -> tuple[str, list[str]]:
    """Add the tests' units and people and ``count`` items in 'rectifying'; return the assignee's token and
    the items' ids."""
    rt = Runtime.open(Settings(database_url=url))
    try:
        world = build_world(rt)
        ids: list[str] = []
        while len(ids) < count:
            with rt.store.write() as conn:
                reg, sup, doer = (accounts.authenticate(conn, world.tokens[name]) for name in ("reg", "sup", "asg_a"))
                for n in range(len(ids), min(count, len(ids) + BATCH)):
                    row, _ = items.create_item(conn, rt, reg, NewItem.model_validate(
                        {"title": f"婴幼儿托位供给不足 {n}", "source": "inspection", "unit": "DEPT-A",
                         "assignee": "asg_a", "due_date": "2027-06-30"}))
                    service.fire(conn, rt, item_ref=row["id"], actor=sup, request=TransitionRequest(trigger="assign"))
                    service.fire(conn, rt, item_ref=row["id"], actor=doer, request=TransitionRequest(trigger="accept"))
                    ids.append(row["id"])
        return world.tokens["asg_a"], ids
    finally:
        rt.store.dispose()


def _query(url: str, sql: str):
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            result = conn.exec_driver_sql(sql)
            return result.all() if result.returns_rows else []
    finally:
        engine.dispose()


def transactions(url: str) -> int:
    """The transaction id the server hands out next (it takes one itself): write transactions are counted
    exactly this way, where pg_stat_database's counters lag by up to the backends' flush interval."""
    return int(_query(url, "SELECT txid_current()")[0][0])


class StatementCount:
    """pg_stat_statements in closeloop's database: loaded (a restart of the server), reset, read."""

    def __init__(self, filled) -> None:
        self.url = filled.url
        admin = filled.url.rsplit("/", 1)[0] + "/postgres"
        _query(admin, "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'")
        filled.server.halt()
        filled.server.resume()
        _query(self.url, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements")

    def reset(self) -> None:
        """Forget what was counted so far."""
        _query(self.url, "SELECT pg_stat_statements_reset()")

    def top(self, transitions: int, limit: int = 12) -> list[tuple[float, float, str]]:
        """Statements and their execution ms per transition in closeloop's database since the reset: all
        together, then the most frequent."""
        rows = _query(self.url, "SELECT s.calls, s.total_exec_time, regexp_replace(s.query, '\\s+', ' ', 'g') "
                                "FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid "
                                "WHERE d.datname = current_database() AND s.query NOT LIKE '%%pg_stat_statements%%' "
                                "ORDER BY s.calls DESC")
        counted = [(calls / transitions, ms / transitions, query[:100]) for calls, ms, query in rows]
        return [(sum(c for c, _, _ in counted), sum(m for _, m, _ in counted), "(all statements)")] + counted[:limit]

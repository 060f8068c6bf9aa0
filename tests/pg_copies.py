"""The tests' PostgreSQL databases: copies of a template database, made one ahead and dropped in a background
thread, so that a test does not wait for the server to copy, open and remove a database around it."""
from __future__ import annotations

import dataclasses
import uuid
from concurrent.futures import Future, ThreadPoolExecutor

import sqlalchemy as sa

from engine.dbroles.setup import RolePlan, database_statements
from engine.store import Store


def admin_engine(url: str) -> sa.Engine:
    """An engine on ``url`` in autocommit mode, keeping no connection (CREATE and DROP DATABASE need both)."""
    return sa.create_engine(Store(url).url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)


def as_role(url: str, *, user: str | None = None, database: str | None = None) -> str:
    """``url`` with another user or database."""
    parsed = sa.make_url(Store(url).url)
    changes = {k: v for k, v in {"username": user, "database": database}.items() if v is not None}
    return parsed.set(**changes).render_as_string(hide_password=False)


def copy_database(server: str, roles: RolePlan, template: str) -> str:
    """A new PostgreSQL database copied from ``template`` (which nobody may be connected to); returns its name."""
    name = f"cl_{uuid.uuid4().hex[:12]}"
    admin = admin_engine(server)
    with admin.connect() as conn:
        # The copy keeps the schema's and the tables' grants; those on the database itself are made again.
        # PostgreSQL 15's default strategy writes the whole copy to the WAL: 0.05-0.45 s a database here, where
        # copying the files takes 0.03-0.05 s (a test server runs without fsync, so its checkpoint is cheap).
        strategy = " STRATEGY FILE_COPY" if conn.dialect.server_version_info >= (15,) else ""
        conn.exec_driver_sql(f"CREATE DATABASE {name} TEMPLATE {template} OWNER {roles.owner}{strategy}")
        for statement in database_statements(dataclasses.replace(roles, database=name), create=False):
            conn.exec_driver_sql(statement)
    admin.dispose()
    return name


def drop_database(server: str, name: str) -> None:
    """Drop database ``name``, closing whatever connections are still open to it."""
    admin = admin_engine(server)
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.dispose()


class Copies:
    """Fresh copies of the templates named when made: one of each kept ready, made in a background thread while
    the tests run, and the used ones dropped there too. A template outlives this object (close() first)."""

    def __init__(self, server: str, roles: RolePlan, templates: tuple[str, ...]) -> None:
        self.server, self.roles, self.templates = server, roles, templates
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pg-copies")
        self._ready: dict[str, Future[str]] = {}
        self._drops: list[Future[None]] = []

    def _made(self, template: str) -> str:
        name = copy_database(self.server, self.roles, template)
        # The first connection to a new database builds its catalog caches (tens of milliseconds): made here,
        # not in the test's first request.
        warm = admin_engine(as_role(self.server, user=self.roles.app, database=name))
        with warm.connect() as conn:
            conn.exec_driver_sql("SELECT count(*) FROM items")
        warm.dispose()
        return name

    def take(self, template: str) -> str:
        """A fresh copy of ``template``, the one made ahead if there is one; the next one is started."""
        if template not in self.templates:
            return copy_database(self.server, self.roles, template)
        ready = self._ready.pop(template, None)
        name = ready.result() if ready is not None else self._made(template)
        self._ready[template] = self._thread.submit(self._made, template)
        return name

    def drop(self, name: str) -> None:
        """Drop database ``name`` in the background (its failure is raised by close())."""
        self._drops = [d for d in self._drops if not d.done() or d.exception() is not None]
        self._drops.append(self._thread.submit(drop_database, self.server, name))

    def close(self) -> None:
        """Drop the copies made ahead, wait for every drop, and raise the first that failed."""
        for ready in self._ready.values():
            try:
                self.drop(ready.result())
            except Exception:  # noqa: BLE001 - a copy that failed to be made leaves nothing to drop
                pass
        self._thread.shutdown(wait=True)
        for dropped in self._drops:
            dropped.result()

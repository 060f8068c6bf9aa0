"""PostgreSQL test databases have two roles (docs/POSTGRES.md): the application connects as the restricted one;
a test playing an attacker who holds the database acts as the owner, explicitly, through this module."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import sqlalchemy as sa

# application role -> owner role of the test server's databases; tests/conftest.py fills it.
OWNER_OF: dict[str, str] = {}


def owner_url(url: str) -> str:
    """The same database as its owner role (a SQLite URL as it is: the file has no roles)."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() != "postgresql":
        return url
    return parsed.set(username=OWNER_OF[parsed.username]).render_as_string(hide_password=False)


@contextmanager
def owner_write(rt) -> Iterator[sa.Connection]:
    """A write transaction with the power of whoever holds the database: on PostgreSQL the owner role, who may
    drop the triggers and rewrite the history (the application's role may not); on SQLite, the file."""
    if rt.store.is_sqlite:
        with rt.store.write() as conn:
            yield conn
        return
    owner = sa.create_engine(owner_url(rt.store.url), poolclass=sa.pool.NullPool)
    try:
        with owner.begin() as conn:
            yield conn
    finally:
        owner.dispose()


def refuse_inserts(rt, table: str, message: str, *, when: str = "") -> None:
    """A fault made by whoever holds the database: inserts into ``table`` (those whose new row meets ``when``,
    an SQL condition on ``new``) are refused with ``message``."""
    with owner_write(rt) as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text(f"CREATE FUNCTION refuse_{table}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                                 f"RAISE EXCEPTION '{message}'; END $$"))
            conn.execute(sa.text(f"CREATE TRIGGER {table}_refused BEFORE INSERT ON {table} FOR EACH ROW "
                                 f"{f'WHEN ({when})' if when else ''} EXECUTE FUNCTION refuse_{table}()"))
        else:
            conn.execute(sa.text(f"CREATE TRIGGER {table}_refused BEFORE INSERT ON {table} "
                                 f"{f'WHEN {when}' if when else ''} BEGIN SELECT RAISE(ABORT, '{message}'); END"))

"""Alembic environment: the database URL comes from the caller's config or CLOSELOOP_DATABASE_URL."""
from __future__ import annotations

from alembic import context
from sqlalchemy import engine_from_config, pool
from sqlmodel import SQLModel

import engine.models  # noqa: F401  (registers the tables for autogenerate)
from engine.config import Settings
from engine.store import normalize_url

config = context.config
target_metadata = SQLModel.metadata


def _url() -> str:
    # `closeloop migrate` passes the URL in; the plain `alembic` command (configured by [tool.alembic] in
    # pyproject.toml, no alembic.ini) takes it from CLOSELOOP_DATABASE_URL like the application does.
    given = config.get_main_option("sqlalchemy.url") if config.file_config.has_section("alembic") else None
    return normalize_url(given or Settings().database_url)


def run_migrations_offline() -> None:
    """Emit SQL without a connection (alembic --sql)."""
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True,
                      render_as_batch=True, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run against a live database, reusing a connection handed in by the caller when there is one."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    connectable = engine_from_config({"sqlalchemy.url": _url()}, prefix="sqlalchemy.", poolclass=pool.NullPool)
    with connectable.connect() as conn:
        _run(conn)


def _run(connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=True, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()

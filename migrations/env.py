"""Alembic environment: the database URL comes from the caller's config or CLOSELOOP_MIGRATION_DATABASE_URL
(else CLOSELOOP_DATABASE_URL); on PostgreSQL every run ends by granting the application role its privileges."""
from __future__ import annotations

from alembic import context
from sqlalchemy import engine_from_config, pool
from sqlmodel import SQLModel

import engine.models  # noqa: F401  (registers the tables for autogenerate)
from engine.config import Settings
from engine.dbroles.grants import apply_grants
from engine.listing.textsearch import include_object
from engine.store import normalize_url

config = context.config
target_metadata = SQLModel.metadata


def _url() -> str:
    # `closeloop migrate` passes the URL in; the plain `alembic` command (configured by [tool.alembic] in
    # pyproject.toml, no alembic.ini) takes it from the settings like `closeloop migrate` does.
    given = config.get_main_option("sqlalchemy.url") if config.file_config.has_section("alembic") else None
    return normalize_url(given or Settings().migration_url)


def _app_role() -> str | None:
    # `closeloop migrate` says which role (None: none); the plain `alembic` command reads the setting.
    if "app_role" in config.attributes:
        return config.attributes["app_role"]
    return Settings().db_app_role


def run_migrations_offline() -> None:
    """Emit SQL without a connection (alembic --sql)."""
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True,
                      render_as_batch=True, compare_type=True, include_object=include_object)
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
                      render_as_batch=True, compare_type=True, include_object=include_object)
    with context.begin_transaction():
        context.run_migrations()
        app_role = _app_role()
        # After every run, in its transaction: a table a migration just made is covered before anyone uses it.
        if app_role and connection.dialect.name == "postgresql":
            apply_grants(connection, app_role)


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()

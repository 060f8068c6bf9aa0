"""Running the migrations: the only code that imports alembic (it costs a process ~11 MB; engine.store.revisions)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from engine.config import PROJECT_ROOT
from engine.store import Store, normalize_url
from engine.store.sqlite import optimize

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = PROJECT_ROOT / "migrations"


def alembic_config(url: str | None = None) -> Config:
    """An alembic Config pointing at the project's migrations, independent of the working directory."""
    from alembic.config import Config  # only the commands that migrate pay for alembic (engine.store.revisions)

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if url:
        cfg.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    return cfg


def migrate(store: Store, revision: str = "head", *, app_role: str | None = None) -> None:
    """Bring the schema up to ``revision`` in one transaction (on SQLite too); on PostgreSQL, then grant
    ``app_role`` exactly what the application needs (engine.dbroles.grants), in the same transaction."""
    from alembic import command

    cfg = alembic_config()
    cfg.attributes["app_role"] = app_role
    with store.write() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    if store.is_sqlite:
        with store.write() as conn:
            optimize(conn)

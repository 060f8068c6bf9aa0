"""How a process's SQLite connections are set up: the writer's page cache comes from the settings."""
from __future__ import annotations

from engine.config import Settings
from engine.store import Store


def _cache_size(engine) -> int:
    with engine.connect() as conn:
        return conn.exec_driver_sql("PRAGMA cache_size").scalar_one()


def test_the_writer_has_the_page_cache_the_settings_give_and_readers_keep_sqlites(tmp_path):
    url = f"sqlite:///{tmp_path / 'c.db'}"
    default = Store.for_settings(Settings(database_url=url))
    small = Store.for_settings(Settings(database_url=url, sqlite_writer_cache_mb=3))
    try:
        assert _cache_size(default.writer) == -64 * 1024  # KiB when negative (SQLite's own default: -2000)
        assert _cache_size(small.writer) == -3 * 1024
        assert _cache_size(default.reader) == -2000
    finally:
        default.dispose()
        small.dispose()

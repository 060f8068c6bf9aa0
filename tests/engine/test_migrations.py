"""The schema comes only from migrations, and the migrations match the models exactly."""
from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

import engine.models  # noqa: F401  (registers the tables)
from engine.listing.textsearch import include_object
from engine.store import Store
from engine.store.migrate import migrate
from engine.store.revisions import SchemaNotReady, current_revision, head_revision, require_schema_at_head


# The text-search objects of migration 0009 (an FTS5 table, GIN indexes) have no model: alembic skips them.
# SQLite cannot reflect the index on lower(units.code), so alembic skips comparing it there (PostgreSQL
# compares it); tests/engine/test_units.py checks on both stores that the database enforces it.
@pytest.mark.filterwarnings("ignore:.*expression-based index")
def test_migrated_database_matches_the_models(db_url):
    store = Store(db_url)
    with store.reader.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False, "include_object": include_object}), SQLModel.metadata)
    store.dispose()
    assert diff == [], f"models and migrations disagree: {diff}"


def test_migrating_twice_changes_nothing(db_url):
    store = Store(db_url)
    assert current_revision(store) == head_revision()
    migrate(store)
    assert current_revision(store) == head_revision()
    store.dispose()


def test_unmigrated_sqlite_file_is_refused_with_the_command_to_run(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'empty.db'}")
    with pytest.raises(SchemaNotReady, match="closeloop migrate"):
        require_schema_at_head(store)
    with store.reader.connect() as conn:
        assert sa.inspect(conn).get_table_names() == []
    store.dispose()


def test_plain_alembic_command_reads_its_config_from_pyproject(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    alembic = Path(sys.executable).with_name("alembic")
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "CLOSELOOP_DATABASE_URL": f"sqlite:///{tmp_path / 'plain.db'}"}
    upgrade = subprocess.run([str(alembic), "upgrade", "head"], cwd=root, env=env, capture_output=True, text=True,
                             timeout=120)
    assert upgrade.returncode == 0, upgrade.stderr
    current = subprocess.run([str(alembic), "current"], cwd=root, env=env, capture_output=True, text=True, timeout=120)
    assert f"{head_revision()} (head)" in current.stdout, current.stdout + current.stderr

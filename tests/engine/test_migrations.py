"""The schema comes only from migrations, and the migrations match the models exactly."""
from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

import engine.models  # noqa: F401  (registers the tables)
from engine.store import SchemaNotReady, Store, current_revision, head_revision, migrate, require_schema_at_head


def test_migrated_database_matches_the_models(db_url):
    store = Store(db_url)
    with store.reader.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), SQLModel.metadata)
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

"""The schema revisions read without alembic (engine.store.revisions) agree with alembic's own answers."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from engine.store import Store
from engine.store.migrate import alembic_config, migrate
from engine.store.revisions import VERSIONS, current_revision, head_of, head_revision

ROOT = Path(__file__).resolve().parents[2]


def _migration(folder: Path, name: str, revision: str, down: str, *, annotated: bool = False) -> None:
    kind = ": str" if annotated else ""
    (folder / f"{name}.py").write_text(f'"""{name}"""\nrevision{kind} = {revision!r}\ndown_revision = {down}\n'
                                       f"def upgrade():\n    pass\n", encoding="utf-8")


def test_the_head_read_from_the_files_is_alembics():
    assert head_of(VERSIONS) == ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head_revision() == head_of(VERSIONS)


def test_a_merge_is_the_head_and_two_heads_are_left_to_alembic(tmp_path):
    _migration(tmp_path, "a", "a1", "None")
    _migration(tmp_path, "b", "b1", "'a1'", annotated=True)
    _migration(tmp_path, "c", "c1", "'a1'")
    assert head_of(tmp_path) is None  # b1 and c1 both: alembic says which to merge
    _migration(tmp_path, "d", "d1", "('b1', 'c1')")
    assert head_of(tmp_path) == "d1"
    (tmp_path / "e.py").write_text("revision = make_id()\n", encoding="utf-8")
    assert head_of(tmp_path) is None


def test_the_current_revision_is_alembics_on_both_stores(db_url):
    store = Store(db_url)
    with store.reader.connect() as conn:
        expected = MigrationContext.configure(conn).get_current_revision()
    assert current_revision(store) == expected == head_revision()
    store.dispose()


def test_an_older_and_a_new_database_say_so(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'older.db'}")
    assert current_revision(store) is None
    migrate(store, "0012")
    assert current_revision(store) == "0012"
    store.dispose()


def test_a_process_that_opens_the_runtime_and_fires_never_imports_alembic(tmp_path):
    db = tmp_path / "runtime.db"
    store = Store(f"sqlite:///{db}")
    migrate(store)
    store.dispose()
    script = ("import sys\n"
              "from engine.config import Settings\nfrom engine.runtime import Runtime\nimport engine.service\n"
              f"rt = Runtime.open(Settings(database_url={f'sqlite:///{db}'!r}))\nrt.store.dispose()\n"
              "print(sorted(m for m in sys.modules if m.split('.')[0] == 'alembic'))\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"

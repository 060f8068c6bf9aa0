"""The schema revision the code needs and the one a database is at, read without importing alembic.

Every process checks both at start (and /readyz on every call), but only `closeloop migrate` and the db
commands run migrations: alembic and the migration scripts it executes cost a process ~11 MB, so they are
imported by those commands alone. The head is read from the migration files' ``revision`` and
``down_revision`` assignments; anything but one straight head (a branch, an unreadable file) is left to
alembic, which says what is wrong.
"""
from __future__ import annotations

import ast
import functools
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from engine.config import PROJECT_ROOT

if TYPE_CHECKING:
    from engine.store import Store

VERSIONS = PROJECT_ROOT / "migrations" / "versions"
VERSION_TABLE = "alembic_version"  # alembic's own table, one row naming the revision applied last


def _assigned(path: Path) -> dict[str, object]:
    """The module-level ``revision`` and ``down_revision`` literals of one migration file."""
    found: dict[str, object] = {}
    for node in ast.parse(path.read_text(encoding="utf-8"), filename=str(path)).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, ast.Name) and target.id in ("revision", "down_revision"):
            found[target.id] = ast.literal_eval(value)
    return found


def head_of(versions: Path) -> str | None:
    """The one head of the migrations in ``versions`` read from their files, or None when it takes alembic
    to say (no migrations, several heads, an assignment that is not a literal)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    try:
        for path in versions.glob("*.py"):
            found = _assigned(path)
            if "revision" not in found:
                continue
            revisions.add(found["revision"])
            down = found.get("down_revision")
            parents.update(down if isinstance(down, (tuple, list)) else () if down is None else (down,))
    except (SyntaxError, ValueError):
        return None
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


@functools.lru_cache(maxsize=1)
def head_revision() -> str:
    """The newest migration's revision id (read once: the migration files do not change while we run)."""
    head = head_of(VERSIONS)
    if head is not None:
        return head
    from alembic.script import ScriptDirectory

    from engine.store import alembic_config

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(store: Store) -> str | None:
    """The revision the database is at, or None if it was never migrated."""
    with store.reader.connect() as conn:
        if not conn.dialect.has_table(conn, VERSION_TABLE):
            return None
        rows = conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()
    if len(rows) > 1:  # branches applied side by side: closeloop's migrations are one line
        raise RuntimeError(f"the database is at several revisions at once ({', '.join(sorted(rows))})")
    return rows[0] if rows else None

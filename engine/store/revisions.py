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

import sqlalchemy as sa

from engine.config import PROJECT_ROOT
from engine.store import Store, safe_url, sqlite_path

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

    from engine.store.migrate import alembic_config

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


class SchemaNotReady(RuntimeError):
    """The database is unmigrated or behind the code."""


def require_schema_at_head(store: Store) -> None:
    """Refuse to go on with an unmigrated or older database, saying which command fixes it."""
    path = sqlite_path(store.url)
    if path is not None and not path.exists():
        # Connecting would create an empty file under a mistyped name, left behind to confuse the next run.
        raise SchemaNotReady(f"the database file {path} does not exist: check CLOSELOOP_DATABASE_URL, or run "
                             f"`closeloop migrate` to create it")
    try:
        current, head = current_revision(store), head_revision()
    except sa.exc.ProgrammingError as exc:
        if getattr(exc.orig, "sqlstate", None) != "42501":  # insufficient_privilege
            raise
        raise SchemaNotReady(f"the database {safe_url(store.url)} refuses to show its schema revision to this role "
                             f"({str(exc.orig).splitlines()[0]}): run `closeloop migrate` as the owner with "
                             f"CLOSELOOP_DB_APP_ROLE naming this role, which grants what it needs "
                             f"(docs/POSTGRES.md)") from None
    if current != head:
        state = "has never been migrated" if current is None else f"is at revision {current}, the code needs {head}"
        raise SchemaNotReady(f"the database {safe_url(store.url)} {state}: run `closeloop migrate` first")

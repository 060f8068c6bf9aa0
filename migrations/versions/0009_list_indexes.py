"""items: indexes that serve the item list at a province's scale, and text search that works for Chinese

The list is ordered newest first, ``ORDER BY created_at DESC, id DESC``, and pages on by the keyset
``(created_at, id) < (:c, :i)``. Each index below ends in ``created_at, id`` so that a filter's rows come out
of it already in that order: the first page reads 51 index entries and stops, instead of sorting every
match. Their leading column is the filter (state, campaign, assignee, source, severity, workflow, unit);
``unit_id``, ``deadline`` and ``due_date`` ride along in the plain ordering index so that scope, overdue,
the lights and the due-date range are checked on the index entry before the row is read. The single-column
indexes these make redundant are dropped (each costs every insert a B-tree write).

Text search (``q=``) matches a substring of the title, description, number or external reference:
- SQLite: an FTS5 table with the trigram tokenizer (any script, Chinese included; case-insensitive) over
  those four columns, kept in step with ``items`` by triggers. Its rowid is the item's rowid. A trigram
  index answers only strings of 3 characters or more: shorter ones are searched by the LIKE scan along the
  ordering index (engine.listing.textsearch).
- PostgreSQL: ``pg_trgm`` GIN indexes on the same four columns, which serve the ILIKE the list already runs.
  The extension is created here, by the migration's role (the database owner: pg_trgm is a trusted
  extension since PostgreSQL 13, so no superuser is needed).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27
"""
from __future__ import annotations

from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

# (name, leading columns); every one ends in created_at, id: the list's order.
ORDERED = (
    ("ix_items_created", ("created_at", "id", "unit_id", "deadline", "due_date")),
    ("ix_items_unit_created", ("unit_id", "created_at", "id", "deadline")),
    ("ix_items_unit_state_created", ("unit_id", "state", "created_at", "id")),
    ("ix_items_state_created", ("state", "created_at", "id", "unit_id", "deadline")),
    ("ix_items_campaign_created", ("campaign", "created_at", "id")),
    ("ix_items_assignee_created", ("assignee", "created_at", "id")),
    ("ix_items_source_created", ("source", "created_at", "id")),
    ("ix_items_severity_created", ("severity", "created_at", "id")),
    ("ix_items_workflow_created", ("workflow", "created_at", "id")),
)
# Single-column indexes whose column now leads one of the above (and ix_items_unit_state, see upgrade()).
REPLACED = ("state", "campaign", "assignee", "source", "severity", "workflow")
SEARCHED = ("number", "external_ref", "title", "description")

SQLITE_SEARCH = (
    f"CREATE VIRTUAL TABLE items_fts USING fts5({', '.join(SEARCHED)}, tokenize='trigram')",
    f"INSERT INTO items_fts (rowid, {', '.join(SEARCHED)}) SELECT rowid, {', '.join(SEARCHED)} FROM items",
    # Items are never deleted; the text columns change rarely (an edit), the rest (state, deadline) often:
    # only a change of a searched column rewrites the search entry.
    f"""CREATE TRIGGER items_fts_insert AFTER INSERT ON items BEGIN
        INSERT INTO items_fts (rowid, {', '.join(SEARCHED)})
        VALUES (new.rowid, {', '.join(f'new.{c}' for c in SEARCHED)});
    END""",
    f"""CREATE TRIGGER items_fts_update AFTER UPDATE OF {', '.join(SEARCHED)} ON items BEGIN
        DELETE FROM items_fts WHERE rowid = old.rowid;
        INSERT INTO items_fts (rowid, {', '.join(SEARCHED)})
        VALUES (new.rowid, {', '.join(f'new.{c}' for c in SEARCHED)});
    END""",
    "CREATE TRIGGER items_fts_delete AFTER DELETE ON items BEGIN DELETE FROM items_fts WHERE rowid = old.rowid; END",
)


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for name, columns in ORDERED:
        op.create_index(name, "items", list(columns))
    for column in REPLACED:
        op.drop_index(f"ix_items_{column}", table_name="items")
    op.drop_index("ix_items_unit_state", table_name="items")  # the prefix of ix_items_unit_state_created
    if sqlite:
        for statement in SQLITE_SEARCH:
            op.execute(statement)
        op.execute("ANALYZE")
    else:
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        for column in SEARCHED:
            op.execute(f"CREATE INDEX ix_items_{column}_trgm ON items USING gin ({column} gin_trgm_ops)")
        op.execute("ANALYZE items")


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        for trigger in ("items_fts_insert", "items_fts_update", "items_fts_delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS items_fts")
    else:
        for column in SEARCHED:
            op.execute(f"DROP INDEX IF EXISTS ix_items_{column}_trgm")
    for column in REPLACED:
        op.create_index(f"ix_items_{column}", "items", [column])
    op.create_index("ix_items_unit_state", "items", ["unit_id", "state"])
    for name, _columns in ORDERED:
        op.drop_index(name, table_name="items")

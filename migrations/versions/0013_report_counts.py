"""report_counts: the summary report's figures of closed and cancelled items, kept by triggers on items

A closed (or cancelled) item's figures no longer change with time, only when the item itself changes (it is
reopened, moved to another unit, ...). The triggers below add a final item's figures to five rows (one per
grouping: unit, source, severity, workflow, campaign) of its unit, local registration month and state when it
becomes final, and take them away when it stops being final or a counted column changes; an update that leaves
the item open, the common case of a transition, does nothing. The report then reads a few thousand rows
instead of every item, and counts only the open items live (their "overdue" depends on today), from a partial
index of open items that holds every column it counts (ix_items_open).

Months and closing days are reckoned in the zone the one row of report_counts_zone names; it is left empty
here, and the runtime fills the counts for its own zone when it opens the database (engine.reports.kept). Until
then the triggers add nothing.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-28
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

# What a change must touch for the counts to change (the rest of an item's row is not counted).
COUNTED = ("closed_at", "state", "unit_id", "source", "severity", "workflow", "campaign", "due_date",
           "reopened_count", "created_at")
# closed_at too (always NULL there): SQLite reads a column its WHERE names from the index only if it holds it.
# Unit and state first: grouped by unit (the dashboard's report), they come out of it already in order.
OPEN_COLUMNS = ("unit_id", "state", "created_at", "deadline", "reopened_count", "source", "severity", "workflow",
                "campaign", "closed_at")
FIGURES = ("items", "with_due", "on_time", "reopened", "days")
_KEY = "dimension, group_key, unit_id, month, state"
_ON_CONFLICT = (f"ON CONFLICT ({_KEY}) DO UPDATE SET "
                + ", ".join(f"{f} = report_counts.{f} + excluded.{f}" for f in FIGURES))


def _sqlite_add(row: str, sign: str) -> str:
    """Add (sign 1) or take away (-1) the figures of ``row`` (NEW or OLD) when it is final."""
    offset = "z.utc_offset || ' seconds'"
    return f"""INSERT INTO report_counts ({_KEY}, {', '.join(FIGURES)})
        SELECT d.dimension, d.group_key, {row}.unit_id, strftime('%Y-%m', {row}.created_at, {offset}), {row}.state,
               {sign}, {sign} * ({row}.due_date IS NOT NULL),
               {sign} * ({row}.due_date IS NOT NULL AND date({row}.closed_at, {offset}) <= {row}.due_date),
               {sign} * ({row}.reopened_count > 0), {sign} * (julianday({row}.closed_at) - julianday({row}.created_at))
        FROM (SELECT 'unit' AS dimension, CAST({row}.unit_id AS TEXT) AS group_key
              UNION ALL SELECT 'source', {row}.source UNION ALL SELECT 'severity', {row}.severity
              UNION ALL SELECT 'workflow', {row}.workflow UNION ALL SELECT 'campaign', coalesce({row}.campaign, '')) d
        JOIN report_counts_zone z ON z.tz IS NOT NULL
        WHERE {row}.closed_at IS NOT NULL
        {_ON_CONFLICT};"""


def _changed(old_is_new: str) -> str:
    return " OR ".join(old_is_new.format(c=c) for c in COUNTED)


SQLITE = (
    f"""CREATE TRIGGER report_counts_insert AFTER INSERT ON items WHEN new.closed_at IS NOT NULL BEGIN
        {_sqlite_add('new', '1')}
    END""",
    f"""CREATE TRIGGER report_counts_update AFTER UPDATE ON items
        WHEN (old.closed_at IS NOT NULL OR new.closed_at IS NOT NULL) AND ({_changed('old.{c} IS NOT new.{c}')}) BEGIN
        {_sqlite_add('old', '-1')}
        {_sqlite_add('new', '1')}
    END""",
    f"""CREATE TRIGGER report_counts_delete AFTER DELETE ON items WHEN old.closed_at IS NOT NULL BEGIN
        {_sqlite_add('old', '-1')}
    END""",
)

POSTGRES = (
    f"""CREATE FUNCTION report_counts_add(r items, sign integer) RETURNS void LANGUAGE sql AS $$
        INSERT INTO report_counts ({_KEY}, {', '.join(FIGURES)})
        SELECT d.dimension, d.group_key, r.unit_id, to_char(timezone(z.tz, timezone('UTC', r.created_at)), 'YYYY-MM'),
               r.state, sign, sign * (r.due_date IS NOT NULL)::integer,
               sign * (r.due_date IS NOT NULL
                       AND CAST(timezone(z.tz, timezone('UTC', r.closed_at)) AS date) <= r.due_date)::integer,
               sign * (r.reopened_count > 0)::integer,
               sign * extract(epoch FROM r.closed_at - r.created_at) / 86400.0
        FROM (VALUES ('unit', CAST(r.unit_id AS text)), ('source', r.source), ('severity', r.severity),
                     ('workflow', r.workflow), ('campaign', coalesce(r.campaign, ''))) AS d (dimension, group_key)
        JOIN report_counts_zone z ON z.tz IS NOT NULL
        {_ON_CONFLICT}
    $$""",
    """CREATE FUNCTION report_counts_track() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.closed_at IS NOT NULL THEN
            PERFORM report_counts_add(OLD, -1);
        END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.closed_at IS NOT NULL THEN
            PERFORM report_counts_add(NEW, 1);
        END IF;
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER report_counts_insert AFTER INSERT ON items FOR EACH ROW WHEN (NEW.closed_at IS NOT NULL)
        EXECUTE FUNCTION report_counts_track()""",
    f"""CREATE TRIGGER report_counts_update AFTER UPDATE ON items FOR EACH ROW
        WHEN ((OLD.closed_at IS NOT NULL OR NEW.closed_at IS NOT NULL)
              AND ({_changed('OLD.{c} IS DISTINCT FROM NEW.{c}')}))
        EXECUTE FUNCTION report_counts_track()""",
    """CREATE TRIGGER report_counts_delete AFTER DELETE ON items FOR EACH ROW WHEN (OLD.closed_at IS NOT NULL)
        EXECUTE FUNCTION report_counts_track()""",
)


def upgrade() -> None:
    op.create_table(
        'report_counts',
        sa.Column('dimension', sa.String(length=16), nullable=False),
        sa.Column('group_key', sa.String(length=100), nullable=False),
        sa.Column('unit_id', sa.Integer(), nullable=False),
        sa.Column('month', sa.String(length=7), nullable=False),
        sa.Column('state', sa.String(length=64), nullable=False),
        sa.Column('items', sa.Integer(), nullable=False),
        sa.Column('with_due', sa.Integer(), nullable=False),
        sa.Column('on_time', sa.Integer(), nullable=False),
        sa.Column('reopened', sa.Integer(), nullable=False),
        sa.Column('days', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('dimension', 'group_key', 'unit_id', 'month', 'state'),
    )
    op.create_table(
        'report_counts_zone',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('tz', sa.String(length=64), nullable=True),
        sa.Column('utc_offset', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.execute("INSERT INTO report_counts_zone (id, tz, utc_offset) VALUES (1, NULL, 0)")
    # The open items, the report's live part, with every column it counts: read without touching the rows.
    op.create_index("ix_items_open", "items", list(OPEN_COLUMNS), sqlite_where=sa.text("closed_at IS NULL"),
                    postgresql_where=sa.text("closed_at IS NULL"))
    for statement in SQLITE if op.get_bind().dialect.name == "sqlite" else POSTGRES:
        op.execute(statement)


def downgrade() -> None:
    for trigger in ("report_counts_insert", "report_counts_update", "report_counts_delete"):
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}" + (" ON items" if op.get_bind().dialect.name != "sqlite" else ""))
    if op.get_bind().dialect.name != "sqlite":
        op.execute("DROP FUNCTION IF EXISTS report_counts_track()")
        op.execute("DROP FUNCTION IF EXISTS report_counts_add(items, integer)")
    op.drop_index("ix_items_open", table_name="items")
    op.drop_table('report_counts_zone')
    op.drop_table('report_counts')

"""PostgreSQL roles: what the application role may do with each table, the grants that give exactly that,
and the checks that it holds no more and no less.

The owner role owns the schema and runs the migrations; after every run they re-apply these grants to the
application role (CLOSELOOP_DB_APP_ROLE), so a table made by a later migration is covered at once. A table
that neither APPEND_ONLY_TABLES nor WRITTEN_TABLES names stops the migration: it must be decided, never
silently left out or given too much.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

import sqlalchemy as sa

from engine.audit.append_only import APPEND_ONLY_TABLES
from engine.store.revisions import SchemaNotReady

log = logging.getLogger("closeloop.database")

SCHEMA = "public"
ROLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
# Every privilege a table can carry; the application role must hold exactly its plan's share of them.
TABLE_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")
APPEND_ONLY = ("SELECT", "INSERT")
# The tables outside APPEND_ONLY_TABLES, with what the application really does to them (its SQL, not its
# wishes): UPDATE where it changes rows (a row lock, SELECT ... FOR UPDATE, needs it too), DELETE only
# where it removes rows. Nothing gets TRUNCATE, REFERENCES or TRIGGER.
WRITTEN_TABLES: dict[str, tuple[str, ...]] = {
    "alembic_version": ("SELECT",),  # read at start-up to refuse an unmigrated database
    "units": ("SELECT", "INSERT", "UPDATE"),
    "users": ("SELECT", "INSERT", "UPDATE"),
    "tokens": ("SELECT", "INSERT", "UPDATE"),  # revoking sets revoked_at
    "workflow_versions": ("SELECT", "INSERT"),
    "number_sequences": ("SELECT", "INSERT", "UPDATE"),  # INSERT ... ON CONFLICT DO UPDATE
    "items": ("SELECT", "INSERT", "UPDATE"),
    "outbox": ("SELECT", "INSERT", "UPDATE"),  # fan-out marks rows dispatched
    "idempotency_keys": ("SELECT", "INSERT"),
    "notices": ("SELECT", "INSERT"),
    "notice_recipients": ("SELECT", "INSERT", "UPDATE"),  # read_at
    "webhook_endpoints": ("SELECT", "INSERT", "UPDATE"),  # disabled, never deleted
    "deliveries": ("SELECT", "INSERT", "UPDATE"),
    "delivery_attempts": ("SELECT", "INSERT", "UPDATE", "DELETE"),  # an attempt given back unsent is removed
    "delivery_events": ("SELECT", "INSERT"),
    "web_sessions": ("SELECT", "INSERT", "UPDATE"),  # last seen, ended; never deleted
    "campaigns": ("SELECT", "INSERT", "UPDATE"),  # name, issuing body and date can be corrected
    # Kept by the triggers on items as they change; emptied and filled again when the zone changes.
    "report_counts": ("SELECT", "INSERT", "UPDATE", "DELETE"),
    "report_counts_zone": ("SELECT", "UPDATE"),
    # The text search's trigram counts, written anew each night (engine.listing.termstats).
    "search_terms": ("SELECT", "INSERT", "DELETE"),
}


class RolesError(SchemaNotReady):
    """The application role is missing, misnamed, or would hold other privileges than closeloop's plan."""


def check_role_name(name: str) -> str:
    """The name, if it is a plain lower-case PostgreSQL identifier (so it never needs quoting)."""
    if not ROLE_NAME.fullmatch(name):
        raise ValueError(f"name {name!r}: use 1 to 63 lower-case letters, digits and _, not starting "
                         f"with a digit")
    return name


def app_privileges() -> dict[str, tuple[str, ...]]:
    """Each table's privileges for the application role: append-only tables SELECT and INSERT only."""
    plan = dict(WRITTEN_TABLES)
    for table in APPEND_ONLY_TABLES:
        if table in plan:
            raise RolesError(f"table {table} is both append-only and in WRITTEN_TABLES: keep it in one")
        plan[table] = APPEND_ONLY
    return plan


def grant_statements(app_role: str, tables: list[str] | None = None) -> list[str]:
    """The statements giving ``app_role`` exactly the plan on ``tables`` (default: every planned table).

    Everything is revoked first, so a privilege the plan no longer gives does not linger.
    """
    app_role = check_role_name(app_role)
    plan = app_privileges()
    chosen = sorted(plan if tables is None else tables)
    unplanned = [t for t in chosen if t not in plan]
    if unplanned:
        raise RolesError(f"no privileges are planned for table(s) {', '.join(unplanned)}: add each to "
                         f"APPEND_ONLY_TABLES (engine/audit/append_only.py) or WRITTEN_TABLES (engine/dbroles/grants.py)")
    return ([f"REVOKE ALL ON ALL TABLES IN SCHEMA {SCHEMA} FROM {app_role}",
             f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {SCHEMA} FROM {app_role}"]
            + [f"GRANT {', '.join(plan[t])} ON TABLE {t} TO {app_role}" for t in chosen]
            # Serial ids: INSERT draws from the table's sequence (USAGE allows nextval, not setval).
            + [f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA {SCHEMA} TO {app_role}"])


@dataclass
class PrivilegeReport:
    """How a role's privileges on the schema's tables differ from the plan."""

    role: str
    missing: dict[str, list[str]] = field(default_factory=dict)
    extra: dict[str, list[str]] = field(default_factory=dict)
    may_create: bool = False  # CREATE on the schema: the role could make tables, functions, ...

    def describe(self) -> list[str]:
        """One line per problem, naming the table and the privileges."""
        lines = [f"role {self.role} lacks {', '.join(p)} on table {t}" for t, p in sorted(self.missing.items())]
        lines += [f"role {self.role} may {', '.join(p)} on table {t}" for t, p in sorted(self.extra.items())]
        if self.may_create:
            lines.append(f"role {self.role} may CREATE in schema {SCHEMA} (make or replace tables and functions)")
        return lines


_HELD = sa.text(f"""
    SELECT c.relname AS table_name, p.privilege, has_table_privilege(:role, c.oid, p.privilege) AS held
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    CROSS JOIN unnest(CAST(:privileges AS text[])) AS p(privilege)
    WHERE n.nspname = '{SCHEMA}' AND c.relkind IN ('r', 'p', 'v', 'm', 'f')""")


def schema_tables(conn: sa.Connection) -> list[str]:
    """The tables (and views) in the schema now."""
    return sorted(conn.execute(sa.text(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        f"WHERE n.nspname = '{SCHEMA}' AND c.relkind IN ('r', 'p', 'v', 'm', 'f')")).scalars())


def privilege_report(conn: sa.Connection, role: str) -> PrivilegeReport:
    """Compare what ``role`` holds (directly, through PUBLIC, membership or ownership) with the plan."""
    plan = app_privileges()
    report = PrivilegeReport(role)
    for row in conn.execute(_HELD, {"role": role, "privileges": list(TABLE_PRIVILEGES)}):
        wanted = row.privilege in plan.get(row.table_name, ())
        if wanted and not row.held:
            report.missing.setdefault(row.table_name, []).append(row.privilege)
        elif row.held and not wanted:
            report.extra.setdefault(row.table_name, []).append(row.privilege)
    report.may_create = conn.execute(sa.text(f"SELECT has_schema_privilege(:role, '{SCHEMA}', 'CREATE')"),
                                     {"role": role}).scalar_one()
    return report


def apply_grants(conn: sa.Connection, app_role: str) -> list[str]:
    """Give ``app_role`` exactly the plan on the schema's tables, in ``conn``'s transaction; return the
    statements run. Raises RolesError, naming what is wrong, when the result is not exactly the plan."""
    app_role = check_role_name(app_role)
    if conn.execute(sa.text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": app_role}).first() is None:
        raise RolesError(f"the application role {app_role} (CLOSELOOP_DB_APP_ROLE) does not exist: create it "
                         f"first (`closeloop db roles` prints the SQL; docs/POSTGRES.md)")
    statements = grant_statements(app_role, schema_tables(conn))
    for statement in statements:
        conn.execute(sa.text(statement))
    # A grant by a role that does not own the table is only a warning in PostgreSQL, and membership or
    # ownership gives privileges no REVOKE takes away: check the outcome, not the statements.
    problems = privilege_report(conn, app_role).describe()
    if problems:
        raise RolesError("the application role would not hold exactly what closeloop needs:\n  "
                         + "\n  ".join(problems) + "\nrun the migrations as the owner of the schema and its tables, "
                         "and give the application role no membership in the owner role (docs/POSTGRES.md)")
    return statements


def require_app_privileges(conn: sa.Connection) -> None:
    """Refuse to start when the connected role lacks a privilege closeloop needs; warn when it may change the
    append-only tables (then only the triggers protect the history)."""
    role = conn.execute(sa.text("SELECT current_user")).scalar_one()
    report = privilege_report(conn, role)
    if report.missing:
        lacking = [line for line in report.describe() if " lacks " in line]
        raise RolesError("the database role closeloop connects as cannot do its work:\n  " + "\n  ".join(lacking)
                         + f"\nrun `closeloop migrate` as the owner with CLOSELOOP_DB_APP_ROLE={role}, which grants "
                         "these (docs/POSTGRES.md)")
    risky = sorted(t for t in APPEND_ONLY_TABLES if set(report.extra.get(t, ())) & {"UPDATE", "DELETE", "TRUNCATE"})
    if risky:
        log.warning("the database role %s may UPDATE, DELETE or TRUNCATE %s: only the triggers and the hash chains "
                    "protect them; docs/POSTGRES.md sets up an application role that may not", role, ", ".join(risky))

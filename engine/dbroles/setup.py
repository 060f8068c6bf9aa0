"""The one-time PostgreSQL set-up, as SQL: an owner role, an application role, the database and its schema.

`closeloop db roles` prints it as a psql script for a superuser to run; the tests build their databases
with the same statements. The table grants come after the migrations (engine.dbroles.grants).
"""
from __future__ import annotations

from dataclasses import dataclass

from engine.dbroles.grants import SCHEMA, check_role_name, grant_statements

# Roles are made with nothing but LOGIN: no superuser, no role or database creation, no replication.
_PLAIN_ROLE = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"


@dataclass(frozen=True)
class RolePlan:
    """The names of the database and of its two roles."""

    owner: str = "closeloop_owner"
    app: str = "closeloop_app"
    database: str = "closeloop"

    def __post_init__(self) -> None:
        for name in (self.owner, self.app, self.database):
            check_role_name(name)
        if self.owner == self.app:
            raise ValueError("the owner and the application role must be two roles")


def sql_literal(text: str) -> str:
    """A SQL string literal (standard_conforming_strings, on by default since PostgreSQL 9.1)."""
    if "\x00" in text:
        raise ValueError("a password cannot hold a NUL character")
    return "'" + text.replace("'", "''") + "'"


def role_statements(plan: RolePlan, owner_password: str, app_password: str) -> list[str]:
    """Make the two roles; passwords are SQL expressions (a literal, or a psql variable like :'app_password')."""
    return [f"CREATE ROLE {plan.owner} {_PLAIN_ROLE} PASSWORD {owner_password}",
            f"CREATE ROLE {plan.app} {_PLAIN_ROLE} PASSWORD {app_password}"]


def database_statements(plan: RolePlan, *, create: bool = True) -> list[str]:
    """The database, owned by the owner role; only the two roles may connect, and nobody makes temp tables."""
    made = [f"CREATE DATABASE {plan.database} OWNER {plan.owner} ENCODING 'UTF8'"] if create else []
    return made + [f"REVOKE ALL ON DATABASE {plan.database} FROM PUBLIC",
                   f"GRANT CONNECT ON DATABASE {plan.database} TO {plan.owner}, {plan.app}"]


def schema_statements(plan: RolePlan) -> list[str]:
    """Inside the database: the owner owns the schema; the application role may use it but create nothing."""
    return [f"ALTER SCHEMA {SCHEMA} OWNER TO {plan.owner}",
            f"REVOKE ALL ON SCHEMA {SCHEMA} FROM PUBLIC",
            f"GRANT USAGE ON SCHEMA {SCHEMA} TO {plan.app}"]


def handover_statements(plan: RolePlan) -> list[str]:
    """Inside an existing database: give the owner role every table (with its sequences and indexes) and
    function in the schema, whoever made them."""
    return [f"""DO $$
DECLARE
  name text;
BEGIN
  FOR name IN SELECT format('%I.%I', schemaname, tablename) FROM pg_tables WHERE schemaname = '{SCHEMA}' LOOP
    EXECUTE format('ALTER TABLE %s OWNER TO {plan.owner}', name);
  END LOOP;
  FOR name IN SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
              WHERE n.nspname = '{SCHEMA}' LOOP
    EXECUTE format('ALTER FUNCTION %s OWNER TO {plan.owner}', name);
  END LOOP;
END $$"""]


def _password(given: str | None, variable: str) -> tuple[str, list[str]]:
    """The password expression, and the psql lines that stop the script when it must come from a variable."""
    if given is not None:
        if not given.strip():
            # PostgreSQL takes PASSWORD '' as no password: a login role anyone may use where trust is configured.
            raise ValueError(f"--{variable.replace('_', '-')} must not be empty")
        return sql_literal(given), []
    flag = f"closeloop_{variable}_blank"
    return f":'{variable}'", [
        f"\\if :{{?{variable}}}",
        # psql -v app_password= sets the variable to nothing, which PASSWORD would take as no password.
        f"  SELECT :'{variable}' !~ '\\S' AS {flag} \\gset",  # nothing but spaces, tabs or newlines
        f"  \\if :{flag}",
        f"    DO $$ BEGIN RAISE EXCEPTION '{variable} must not be empty'; END $$;",
        "  \\endif",
        "\\else",  # ON_ERROR_STOP: this ends the script with a non-zero exit status, having made nothing
        f"  DO $$ BEGIN RAISE EXCEPTION 'give the password: psql -v {variable}=... (or closeloop db roles "
        f"--{variable.replace('_', '-')} ...)'; END $$;",
        "\\endif"]


def setup_script(plan: RolePlan, owner_password: str | None = None, app_password: str | None = None, *,
                 existing: bool = False) -> str:
    """The psql script a superuser runs once, then the grants the migrations apply, as comments. ``existing``:
    the database is there already (migrated by another role), and is handed over to the owner role."""
    owner_expr, owner_check = _password(owner_password, "owner_password")
    app_expr, app_check = _password(app_password, "app_password")
    made = [f"ALTER DATABASE {plan.database} OWNER TO {plan.owner}"] if existing else []
    lines = [
        "-- closeloop on PostgreSQL: the owner role owns the schema and runs the migrations; the application",
        "-- role may not UPDATE, DELETE or TRUNCATE the history tables and may not change the schema.",
        "-- Run once, as a superuser:  psql -v owner_password=... -v app_password=... -f this-file.sql",
        "\\set ON_ERROR_STOP on",
        *owner_check, *app_check,
        *(s + ";" for s in role_statements(plan, owner_expr, app_expr)),
        *(s + ";" for s in made + database_statements(plan, create=not existing)),
        f"\\connect {plan.database}",
        *(s + ";" for s in schema_statements(plan) + (handover_statements(plan) if existing else [])),
        "",
        "-- Then migrate as the owner, naming the application role; every migration run re-applies the grants:",
        f"--   CLOSELOOP_MIGRATION_DATABASE_URL=postgresql://{plan.owner}:...@HOST/{plan.database} \\",
        f"--   CLOSELOOP_DB_APP_ROLE={plan.app} closeloop migrate",
        f"-- and serve as the application role: CLOSELOOP_DATABASE_URL=postgresql://{plan.app}:...@HOST/{plan.database}",
        "-- The grants the migrations apply now (`closeloop db roles --grants` prints them to run by hand):",
        *(f"--   {s};" for s in grant_statements(plan.app)),
    ]
    return "\n".join(lines) + "\n"


def grants_script(plan: RolePlan) -> str:
    """The table grants alone, for the owner to run by hand (the migrations run the same statements)."""
    return "".join(f"{s};\n" for s in ["BEGIN", *grant_statements(plan.app), "COMMIT"])

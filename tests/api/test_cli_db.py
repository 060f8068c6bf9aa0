"""`closeloop db roles` applied with psql to a fresh PostgreSQL server (passwords required over TCP) gives a
working deployment: the owner migrates, the application role serves and is refused the history's rows."""
from __future__ import annotations

import os
import secrets
import subprocess

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from api.cli import app
from engine.dbroles.grants import privilege_report
from engine.dbroles.setup import sql_literal
from tests.pg_server import PostgresServer, find_bindir

runner = CliRunner()
NAMES = {"owner": "ledger_owner", "app": "ledger_app", "database": "ledger"}


@pytest.fixture(scope="module")
def fresh_server():
    """A PostgreSQL server of its own that asks every TCP login for its password (scram-sha-256)."""
    bindir = find_bindir()
    if bindir is None:
        pytest.fail("PostgreSQL server binaries are required (tests/pg_server.py)")
    server = PostgresServer(bindir, host_auth="scram-sha-256")
    try:
        server.start()
        yield server
    finally:
        server.stop()


def _psql(server: PostgresServer, script: str, *args: str, user: str = "closeloop", database: str = "postgres",
          password: str | None = None) -> subprocess.CompletedProcess:
    # The superuser comes in through the socket (trusted); a role with a password over TCP, as a deployment would.
    host = "127.0.0.1" if password else str(server.socket_dir)
    env = {**os.environ, "PGPASSWORD": password or ""}
    return subprocess.run([str(server.bindir / "psql"), "-X", "-h", host, "-p", str(server.port), "-U", user,
                           "-d", database, *args, "-f", "-"], input=script, capture_output=True, text=True,
                          env=env, timeout=120)


def _url(server: PostgresServer, user: str, password: str) -> str:
    return f"postgresql+psycopg://{user}:{password}@127.0.0.1:{server.port}/{NAMES['database']}"


def _roles_made(server: PostgresServer) -> list[str]:
    done = _psql(server, "SELECT rolname FROM pg_roles WHERE rolname LIKE 'ledger%' ORDER BY 1;", "-At")
    return done.stdout.split()


def _cli(*args: str, env: dict[str, str]):
    return runner.invoke(app, list(args), env=env)


def test_the_printed_set_up_makes_a_deployment_whose_app_role_cannot_change_history(fresh_server, tmp_path):
    names = [f"--{k}={v}" for k, v in NAMES.items()]
    printed = _cli("db", "roles", *names, env={})
    assert printed.exit_code == 0, printed.output
    script = printed.stdout

    # Without the passwords the script stops before making anything, and says what to give.
    stopped = _psql(fresh_server, script)
    assert stopped.returncode != 0 and "give the password: psql -v owner_password=" in stopped.stderr
    assert _roles_made(fresh_server) == []
    owner_pw, app_pw = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    # A variable set to nothing (or spaces) would be PASSWORD '', which PostgreSQL takes as no password.
    for blank in ("", "  ", "\t", "\n"):
        stopped = _psql(fresh_server, script, "-v", f"owner_password={owner_pw}", "-v", f"app_password={blank}")
        assert stopped.returncode != 0 and "app_password must not be empty" in stopped.stderr, stopped.stderr
        assert _roles_made(fresh_server) == []

    applied = _psql(fresh_server, script, "-v", f"owner_password={owner_pw}", "-v", f"app_password={app_pw}")
    assert applied.returncode == 0, applied.stderr
    assert _roles_made(fresh_server) == ["ledger_app", "ledger_owner"]

    owner_url, app_url = _url(fresh_server, "ledger_owner", owner_pw), _url(fresh_server, "ledger_app", app_pw)
    env = {"CLOSELOOP_DATABASE_URL": app_url, "CLOSELOOP_AUDIT_KEY_DIR": str(tmp_path / "keys")}
    unmigrated = _cli("unit", "list", env=env)
    assert unmigrated.exit_code == 1 and "never been migrated" in unmigrated.stderr, unmigrated.output
    as_app = _cli("migrate", env={**env, "CLOSELOOP_DB_APP_ROLE": "ledger_app"})  # no migration URL: the app role
    assert as_app.exit_code == 1 and "refused a schema change" in as_app.stderr, as_app.output
    assert "CLOSELOOP_MIGRATION_DATABASE_URL" in as_app.stderr

    env["CLOSELOOP_MIGRATION_DATABASE_URL"] = owner_url
    env["CLOSELOOP_DB_APP_ROLE"] = "ledger_app"
    migrated = _cli("migrate", env=env)
    assert migrated.exit_code == 0, migrated.output
    assert "role ledger_app holds exactly the privileges closeloop needs" in migrated.stdout
    for command in (["demo"], ["audit", "checkpoint"], ["audit", "verify"], ["sweep", "--once"]):
        done = _cli(*command, env=env)  # every command connects as the application role
        assert done.exit_code == 0, (command, done.output)

    app_engine = sa.create_engine(app_url, poolclass=sa.pool.NullPool)
    try:
        for statement in ("UPDATE history SET comment = 'x'", "DELETE FROM audit_checkpoints", "TRUNCATE history",
                          "DROP TRIGGER history_no_change ON history", "CREATE TABLE stray (a int)"):
            with pytest.raises(sa.exc.ProgrammingError, match="permission denied|must be owner"):
                with app_engine.begin() as conn:
                    conn.execute(sa.text(statement))
        # The grants alone, run by hand as the owner, are the same ones the migration applied.
        grants = _cli("db", "roles", "--grants", *names, env={})
        by_hand = _psql(fresh_server, grants.stdout, "-v", "ON_ERROR_STOP=1", user="ledger_owner",
                        database="ledger", password=owner_pw)
        assert by_hand.returncode == 0, by_hand.stderr
        with app_engine.connect() as conn:
            assert privilege_report(conn, "ledger_app").describe() == []
            assert conn.execute(sa.text("SELECT COUNT(*) FROM items")).scalar_one() > 0  # the demo's items
    finally:
        app_engine.dispose()


def test_a_database_one_role_migrated_is_handed_over_by_the_existing_script(fresh_server, tmp_path):
    # A deployment as it was: one superuser made the database, migrated it and ran closeloop on it.
    single = (f"postgresql+psycopg://closeloop@/legacy?host={fresh_server.socket_dir}&port={fresh_server.port}")
    made = _psql(fresh_server, "CREATE DATABASE legacy;")
    assert made.returncode == 0, made.stderr
    before = {"CLOSELOOP_DATABASE_URL": single, "CLOSELOOP_AUDIT_KEY_DIR": str(tmp_path / "keys")}
    for command in (["migrate"], ["demo"], ["audit", "checkpoint"]):
        assert _cli(*command, env=before).exit_code == 0, command

    names = ["--owner=legacy_owner", "--app=legacy_app", "--database=legacy"]
    printed = _cli("db", "roles", "--existing", *names, env={})
    owner_pw, app_pw = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    applied = _psql(fresh_server, printed.stdout, "-v", f"owner_password={owner_pw}", "-v", f"app_password={app_pw}")
    assert applied.returncode == 0, applied.stderr

    base = f"127.0.0.1:{fresh_server.port}/legacy"
    env = {"CLOSELOOP_DATABASE_URL": f"postgresql+psycopg://legacy_app:{app_pw}@{base}",
           "CLOSELOOP_MIGRATION_DATABASE_URL": f"postgresql+psycopg://legacy_owner:{owner_pw}@{base}",
           "CLOSELOOP_DB_APP_ROLE": "legacy_app", "CLOSELOOP_AUDIT_KEY_DIR": str(tmp_path / "keys")}
    migrated = _cli("migrate", env=env)
    assert migrated.exit_code == 0 and "holds exactly" in migrated.stdout, migrated.output
    for command in (["audit", "checkpoint"], ["audit", "verify"], ["demo"]):
        done = _cli(*command, env=env)
        assert done.exit_code == 0, (command, done.output)
    app_engine = sa.create_engine(env["CLOSELOOP_DATABASE_URL"], poolclass=sa.pool.NullPool)
    try:
        with pytest.raises(sa.exc.ProgrammingError, match="permission denied for table history"):
            with app_engine.begin() as conn:
                conn.execute(sa.text("DELETE FROM history"))
    finally:
        app_engine.dispose()


def test_bad_names_are_refused_and_passwords_given_are_quoted():
    bad = _cli("db", "roles", "--app", "Robert'); DROP TABLE history;--", env={})
    assert bad.exit_code == 2 and "lower-case letters" in bad.stderr
    same = _cli("db", "roles", "--owner", "closeloop_app", env={})
    assert same.exit_code == 2 and "two roles" in same.stderr
    quoted = _cli("db", "roles", "--owner-password", "it's", "--app-password", "x", env={})
    assert sql_literal("it's") == "'it''s'"
    assert quoted.exit_code == 0 and "PASSWORD 'it''s'" in quoted.stdout and ":'owner_password'" not in quoted.stdout


def test_an_empty_password_is_refused_not_written_as_no_password():
    # PostgreSQL takes PASSWORD '' as none: the role could log in wherever trust authentication is configured.
    for option in ("--app-password", "--owner-password"):
        empty = _cli("db", "roles", option, " ", env={})
        assert empty.exit_code == 2 and f"{option} must not be empty" in empty.stderr, empty.output
        assert "PASSWORD" not in empty.stdout

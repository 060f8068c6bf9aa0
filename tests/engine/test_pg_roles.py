"""PostgreSQL roles (docs/POSTGRES.md): the application's role is refused by PostgreSQL itself (a privilege
error, not a trigger) when it changes an append-only table or the schema, yet runs the whole lifecycle; the
migrations give it exactly its plan, take back what the plan does not give, and refuse a table no plan names.
Every database test already connects as that role; the ones here that act as the owner say so."""
from __future__ import annotations

import logging

import pytest
import sqlalchemy as sa
from sqlmodel import SQLModel

import engine.models  # noqa: F401  (registers every table)
from engine.audit.append_only import APPEND_ONLY_TABLES
from engine.audit.checkpoint import checkpoint_now
from engine.config import PROJECT_ROOT, Settings
from engine.dbroles import grants as pgroles
from engine.dbroles.grants import RolesError, app_privileges, privilege_report
from engine.jobs import run_pass
from engine.runtime import Runtime
from engine.store import Store
from engine.store.migrate import migrate
from tests.api.test_cli import free_port, script
from tests.audit_helpers import templates
from tests.db_roles import owner_write
from tests.evidence_samples import PDF
from tests.helpers import fire

POSTGRES = pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
INSUFFICIENT_PRIVILEGE = "42501"


def test_every_table_has_a_plan_and_no_table_two():
    tables = set(SQLModel.metadata.tables) | {"alembic_version"}
    assert set(app_privileges()) == tables
    assert not set(APPEND_ONLY_TABLES) & set(pgroles.WRITTEN_TABLES)
    assert {"history", "audit_checkpoints"} <= set(APPEND_ONLY_TABLES)
    for table in APPEND_ONLY_TABLES:
        assert app_privileges()[table] == ("SELECT", "INSERT")
    assert not any({"TRUNCATE", "REFERENCES", "TRIGGER"} & set(p) for p in app_privileges().values())


def test_the_set_up_document_names_every_table_the_plan_covers():
    document = (PROJECT_ROOT / "docs" / "POSTGRES.md").read_text(encoding="utf-8")
    assert [t for t in app_privileges() if f"`{t}`" not in document] == []


@pytest.fixture
def filled(client, world, rt, tmp_path):
    """Rows in every append-only table: three items' histories, a signing key, a checkpoint, an upload, a
    look-back with one re-check."""
    rt.settings.audit_key_dir = tmp_path / "keys"
    rt.settings.evidence_dir = tmp_path / "evidence"
    items = templates(client, world, rt)
    checkpoint_now(rt)
    uploaded = client.post(f"/api/v1/items/{items[0]['id']}/evidence",
                           files={"file": ("整改报告.pdf", PDF, "application/pdf")}, headers=world.h("sup"))
    assert uploaded.status_code == 201, uploaded.text
    lookback = client.post("/api/v1/lookbacks", json={"size": 1}, headers=world.h("aud")).json()
    rechecked = client.post(f"/api/v1/lookbacks/{lookback['id']}/items/{lookback['items'][0]['id']}",
                            json={"result": "passed", "note": "回头看"}, headers=world.h("aud"))
    assert rechecked.status_code == 200, rechecked.text
    return rt


def _refused(store_or_engine, statement: str) -> sa.exc.DBAPIError:
    begin = store_or_engine.write if isinstance(store_or_engine, Store) else store_or_engine.begin
    with pytest.raises(sa.exc.DBAPIError) as refused:
        with begin() as conn:
            conn.execute(sa.text(statement))
    return refused.value


def _counts(rt) -> dict[str, int]:
    with rt.store.read() as conn:
        return {t: conn.execute(sa.text(f"SELECT COUNT(*) FROM {t}")).scalar_one() for t in APPEND_ONLY_TABLES}


def _first_column(rt, table: str) -> str:
    with rt.store.read() as conn:
        return sa.inspect(conn).get_columns(table)[0]["name"]


@POSTGRES
@pytest.mark.parametrize("verb", ["UPDATE", "DELETE", "TRUNCATE"])
@pytest.mark.parametrize("table", APPEND_ONLY_TABLES)
def test_the_application_role_may_not_change_an_append_only_table(filled, table, verb):
    rt = filled
    before = _counts(rt)
    assert before[table] > 0
    column = _first_column(rt, table)
    statement = {"UPDATE": f"UPDATE {table} SET {column} = {column}", "DELETE": f"DELETE FROM {table}",
                 "TRUNCATE": f"TRUNCATE {table}"}[verb]
    error = _refused(rt.store, statement)
    # A privilege error (SQLSTATE 42501), raised before any trigger could run (theirs is P0001, "append-only").
    assert error.orig.sqlstate == INSUFFICIENT_PRIVILEGE, error
    assert f"permission denied for table {table}" in str(error.orig)
    assert _counts(rt) == before


@POSTGRES
def test_the_same_change_is_allowed_to_the_owner_where_no_trigger_stands(filled):
    # The counterpart: audit_checkpoints has no trigger, so only the role's privileges refused the above.
    with owner_write(filled) as conn:  # the owner role, as an attacker holding its password would
        changed = conn.execute(sa.text("UPDATE audit_checkpoints SET signature = signature")).rowcount
    assert changed == 1


DDL = [
    "CREATE TABLE stray (a int)",
    "CREATE TEMP TABLE stray (a int)",
    "CREATE FUNCTION stray() RETURNS int LANGUAGE sql AS 'SELECT 1'",
    "CREATE INDEX stray ON history (comment)",
    "ALTER TABLE items ADD COLUMN stray int",
    "ALTER TABLE history DISABLE TRIGGER history_no_change",
    "DROP TRIGGER history_no_change ON history",
    "DROP TABLE audit_checkpoints",
    "ALTER TABLE audit_keys OWNER TO CURRENT_USER",
]


@POSTGRES
@pytest.mark.parametrize("statement", DDL)
def test_the_application_role_may_not_change_the_schema(rt, statement):
    error = _refused(rt.store, statement)
    assert error.orig.sqlstate == INSUFFICIENT_PRIVILEGE, error
    with rt.store.read() as conn:
        tables = set(sa.inspect(conn).get_table_names())
        triggers = conn.execute(sa.text("SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = 'history'::regclass "
                                        "AND NOT tgisinternal ORDER BY tgname")).all()
    assert "stray" not in tables and "audit_checkpoints" in tables
    assert triggers == [("history_no_change", "O"), ("history_no_truncate", "O")]


@POSTGRES
def test_the_application_role_cannot_grant_itself_more(rt):
    with rt.store.write() as conn:
        conn.execute(sa.text("GRANT UPDATE, DELETE, TRUNCATE ON history TO CURRENT_USER"))  # only a warning
    with rt.store.read() as conn:
        assert privilege_report(conn, conn.execute(sa.text("SELECT current_user")).scalar_one()).describe() == []
    assert _refused(rt.store, "DELETE FROM history").orig.sqlstate == INSUFFICIENT_PRIVILEGE


@POSTGRES
def test_the_whole_lifecycle_runs_as_the_application_role(client, world, rt, pg_roles, tmp_path):
    rt.settings.audit_key_dir = tmp_path / "keys"
    with rt.store.read() as conn:
        role = conn.execute(sa.text("SELECT current_user")).scalar_one()
        assert role == pg_roles.app
        assert privilege_report(conn, role).describe() == []  # exactly the plan: nothing missing, nothing more
    closed, reopened, _open = templates(client, world, rt)  # register ... close, reopen: items, history, sequences
    assert reopened["state"] == "rectifying" and closed["state"] == "closed"
    made = client.post("/api/v1/audit/checkpoints", headers=world.h("aud"))
    assert made.status_code == 201, made.text
    run_pass(rt)  # the sweep and the delivery pass (outbox, notices, deliveries)
    assert client.get("/api/v1/audit/verify", headers=world.h("aud")).json()["ok"] is True
    exported = client.get("/api/v1/audit/export", headers=world.h("aud"))
    assert exported.status_code == 200 and exported.content[:2] == b"PK"
    refused = fire(client, world, closed, {"trigger": "close"}, "sup")
    assert refused.status_code == 409  # a refusal stays a refusal, not a privilege error


def _migrate_as_owner(db_owner_url: str, app_role: str) -> None:
    owner = Store(db_owner_url)
    try:
        migrate(owner, app_role=app_role)
    finally:
        owner.dispose()


@POSTGRES
def test_privileges_granted_by_hand_beyond_the_plan_are_taken_back_by_the_next_migration(rt, pg_roles, db_owner_url):
    with owner_write(rt) as conn:  # the owner widening the application role by hand
        conn.execute(sa.text(f"GRANT UPDATE, DELETE, TRUNCATE ON history, audit_checkpoints TO {pg_roles.app}"))
        assert privilege_report(conn, pg_roles.app).extra == {"audit_checkpoints": ["UPDATE", "DELETE", "TRUNCATE"],
                                                              "history": ["UPDATE", "DELETE", "TRUNCATE"]}
    _migrate_as_owner(db_owner_url, pg_roles.app)
    with rt.store.read() as conn:
        assert privilege_report(conn, pg_roles.app).describe() == []
    assert _refused(rt.store, "DELETE FROM audit_checkpoints").orig.sqlstate == INSUFFICIENT_PRIVILEGE


@POSTGRES
def test_a_table_a_later_migration_makes_is_covered_at_once_or_stops_the_migration(rt, pg_roles, db_owner_url,
                                                                                   monkeypatch):
    with owner_write(rt) as conn:  # what a later migration would do: a new table, in the owner's schema
        conn.execute(sa.text("CREATE TABLE later_log (id serial PRIMARY KEY, what text NOT NULL)"))
        conn.execute(sa.text(f"GRANT UPDATE ON history TO {pg_roles.app}"))
    with pytest.raises(RolesError, match="no privileges are planned for table.* later_log"):
        _migrate_as_owner(db_owner_url, pg_roles.app)
    with rt.store.read() as conn:  # the refused run changed nothing, not even the grant it would take back
        assert privilege_report(conn, pg_roles.app).extra == {"history": ["UPDATE"]}

    monkeypatch.setattr(pgroles, "APPEND_ONLY_TABLES", (*APPEND_ONLY_TABLES, "later_log"))
    _migrate_as_owner(db_owner_url, pg_roles.app)
    with rt.store.write() as conn:
        conn.execute(sa.text("INSERT INTO later_log (what) VALUES ('appended')"))
    with rt.store.read() as conn:
        assert conn.execute(sa.text("SELECT what FROM later_log")).scalar_one() == "appended"
        assert privilege_report(conn, pg_roles.app).describe() == []
    for statement in ("UPDATE later_log SET what = 'changed'", "DELETE FROM later_log", "TRUNCATE later_log",
                      "UPDATE history SET comment = comment"):
        assert _refused(rt.store, statement).orig.sqlstate == INSUFFICIENT_PRIVILEGE, statement


@POSTGRES
def test_an_application_role_inside_the_owner_role_is_refused_by_the_migration(rt, pg_roles, pg_server_url,
                                                                               db_owner_url, db_url, clock, caplog):
    admin = sa.create_engine(Store(pg_server_url).url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:  # the superuser makes the mistake the check is for
        conn.exec_driver_sql(f"GRANT {pg_roles.owner} TO {pg_roles.app}")
    try:
        with pytest.raises(RolesError, match=f"role {pg_roles.app} may UPDATE, DELETE, TRUNCATE, REFERENCES, "
                                             "TRIGGER on table history"):
            _migrate_as_owner(db_owner_url, pg_roles.app)
        with caplog.at_level(logging.WARNING, logger="closeloop.database"):
            Runtime.open(Settings(database_url=db_url), clock=clock).store.dispose()
        assert f"may UPDATE, DELETE or TRUNCATE {', '.join(sorted(APPEND_ONLY_TABLES))}" in caplog.text
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"REVOKE {pg_roles.owner} FROM {pg_roles.app}")
        admin.dispose()


@POSTGRES
def test_a_role_lacking_a_privilege_is_refused_at_start_up_naming_it(rt, pg_roles, db_url, clock):
    with owner_write(rt) as conn:
        conn.execute(sa.text(f"REVOKE INSERT ON audit_keys FROM {pg_roles.app}"))
    with pytest.raises(RolesError, match=f"role {pg_roles.app} lacks INSERT on table audit_keys") as refused:
        Runtime.open(Settings(database_url=db_url), clock=clock)
    assert f"CLOSELOOP_DB_APP_ROLE={pg_roles.app}" in str(refused.value)


@POSTGRES
def test_serve_as_a_role_that_was_never_granted_anything_says_what_to_do(rt, pg_roles, db_url):
    with owner_write(rt) as conn:  # as if the owner had migrated without CLOSELOOP_DB_APP_ROLE
        conn.execute(sa.text(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {pg_roles.app}"))
    done = script("serve", "--port", str(free_port()), env={"CLOSELOOP_DATABASE_URL": db_url}, timeout=60)
    assert done.returncode == 1
    assert "refuses to show its schema revision" in done.stderr and "CLOSELOOP_DB_APP_ROLE" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


@POSTGRES
def test_the_owner_is_warned_at_start_up_that_only_triggers_guard_the_history(rt, db_owner_url, clock, caplog):
    with caplog.at_level(logging.WARNING, logger="closeloop.database"):
        Runtime.open(Settings(database_url=db_owner_url), clock=clock).store.dispose()
    assert "may UPDATE, DELETE or TRUNCATE" in caplog.text and "docs/POSTGRES.md" in caplog.text


@POSTGRES
def test_checkpoints_made_at_once_wait_for_each_other_under_the_lock_the_application_role_may_take(filled):
    # LOCK TABLE ... IN EXCLUSIVE MODE needs UPDATE on the table; the advisory lock needs no privilege.
    import threading

    from engine.audit.checkpoint import make_checkpoint
    from engine.audit.keys import KeyRing

    rt = filled  # holds checkpoint 1
    key = KeyRing(rt.settings.audit_keys_path).current()
    second: dict = {}
    with rt.store.write() as conn:
        first = make_checkpoint(conn, key=key, now=rt.clock.now())  # holds the lock until this block commits
        other = threading.Thread(target=lambda: second.update(checkpoint_now(rt)))
        other.start()
        with rt.store.read() as watcher:
            for _ in range(500):  # until the other checkpoint waits for the lock (bounded: ~10 s)
                waiting = watcher.execute(sa.text("SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' "
                                                  "AND NOT granted")).scalar_one()
                if waiting or not other.is_alive():
                    break
                other.join(0.02)
        assert waiting == 1 and not second
    other.join(30)
    assert first["checkpoint"]["number"] == 2
    assert second["checkpoint"]["number"] == 3 and second["checkpoint"]["prev"] == first["hash"]

"""Shared fixtures: every database test runs on a real SQLite file and on a real PostgreSQL server."""
from __future__ import annotations

import dataclasses
import datetime as dt
import os
import shutil
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from engine.clock import ManualClock
from engine.config import Settings
from engine.dbroles.setup import RolePlan, database_statements, role_statements, schema_statements, sql_literal
from engine.runtime import Runtime
from engine.store import Store
from engine.store.migrate import migrate
from tests.db_roles import OWNER_OF, owner_url
from tests.pg_server import PostgresServer, find_bindir

IN_CI = os.environ.get("CI", "").lower() == "true"
# Monday 2 March 2026, 09:00 in Shanghai: a working day the holiday calendar knows.
START = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))


def _unavailable(reason: str):
    if IN_CI:
        pytest.fail(f"PostgreSQL is required in CI (CI=true) but {reason}")
    pytest.skip(f"PostgreSQL not available: {reason}")


@pytest.fixture(scope="session")
def pg_server_url():
    """URL of a PostgreSQL server: CLOSELOOP_TEST_PG_URL (as a superuser: the suite makes roles and databases),
    or one started here from the installed binaries."""
    given = os.environ.get("CLOSELOOP_TEST_PG_URL")
    if given:
        yield given
        return
    bindir = find_bindir()
    if bindir is None:
        _unavailable("no PostgreSQL server binaries (initdb) are installed")
    server = PostgresServer(bindir)
    try:
        url = server.start()
    except Exception as exc:  # noqa: BLE001
        server.stop()
        _unavailable(f"the server did not start: {exc}")
    yield url
    server.stop()


def _admin_engine(url: str) -> sa.Engine:
    return sa.create_engine(Store(url).url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)


def _as(url: str, *, user: str | None = None, database: str | None = None) -> str:
    """``url`` with another user or database."""
    parsed = sa.make_url(Store(url).url)
    changes = {k: v for k, v in {"username": user, "database": database}.items() if v is not None}
    return parsed.set(**changes).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def pg_roles(pg_server_url):
    """The two roles of docs/POSTGRES.md on the test server, made by the statements `closeloop db roles` prints:
    the owner (migrates, owns the tables) and the application role every PostgreSQL test connects as."""
    suffix = uuid.uuid4().hex[:8]  # roles are server-wide: a shared CLOSELOOP_TEST_PG_URL may serve several runs
    plan = RolePlan(owner=f"cl_owner_{suffix}", app=f"cl_app_{suffix}", database=f"cl_template_{suffix}")
    OWNER_OF[plan.app] = plan.owner
    admin = _admin_engine(pg_server_url)
    with admin.connect() as conn:
        for statement in role_statements(plan, sql_literal("unused"), sql_literal("unused")):  # trust auth
            conn.exec_driver_sql(statement)
    yield plan
    with admin.connect() as conn:
        for role in (plan.app, plan.owner):
            conn.exec_driver_sql(f"DROP ROLE IF EXISTS {role}")
    admin.dispose()


@pytest.fixture(scope="session")
def pg_template(pg_server_url, pg_roles):
    """A template database set up as docs/POSTGRES.md says and migrated by the owner role, which grants the
    application role its privileges; each test gets a fresh copy of it."""
    name = pg_roles.database
    admin = _admin_engine(pg_server_url)
    with admin.connect() as conn:
        for statement in database_statements(pg_roles):
            conn.exec_driver_sql(statement)
    inside = _admin_engine(_as(pg_server_url, database=name))
    with inside.connect() as conn:
        for statement in schema_statements(pg_roles):
            conn.exec_driver_sql(statement)
    inside.dispose()
    store = Store(_as(pg_server_url, user=pg_roles.owner, database=name))
    migrate(store, app_role=pg_roles.app)
    store.dispose()
    yield name
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
    admin.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory):
    """A migrated SQLite file; each test gets a fresh copy of it."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    store = Store(f"sqlite:///{path}")
    migrate(store)
    store.dispose()  # the last connection to close folds the WAL back into the file
    return path


def _copy_pg_database(server: str, roles: RolePlan, template: str) -> str:
    """A new PostgreSQL database copied from ``template`` (which nobody may be connected to); returns its name."""
    name = f"cl_{uuid.uuid4().hex[:12]}"
    admin = _admin_engine(server)
    with admin.connect() as conn:
        # The copy keeps the schema's and the tables' grants; those on the database itself are made again.
        # PostgreSQL 15's default strategy writes the whole copy to the WAL: 0.05-0.45 s a database here, where
        # copying the files takes 0.03-0.05 s (a test server runs without fsync, so its checkpoint is cheap).
        strategy = " STRATEGY FILE_COPY" if conn.dialect.server_version_info >= (15,) else ""
        conn.exec_driver_sql(f"CREATE DATABASE {name} TEMPLATE {template} OWNER {roles.owner}{strategy}")
        for statement in database_statements(dataclasses.replace(roles, database=name), create=False):
            conn.exec_driver_sql(statement)
    admin.dispose()
    return name


def _drop_pg_database(server: str, name: str) -> None:
    admin = _admin_engine(server)
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.dispose()


def _built_world(url: str):
    """Open a runtime on ``url`` as the ``rt`` fixture does and build the test world in it; return the World."""
    from tests.helpers import build_world

    runtime = Runtime.open(Settings(database_url=url), clock=ManualClock(START))
    try:
        return build_world(runtime)
    finally:
        runtime.store.dispose()  # on SQLite the last connection folds the WAL back into the file


@pytest.fixture(scope="session")
def sqlite_world(sqlite_template, tmp_path_factory):
    """A migrated SQLite file holding the test world, and its World (tokens)."""
    path = tmp_path_factory.mktemp("world") / "world.db"
    shutil.copy(sqlite_template, path)
    return path, _built_world(f"sqlite:///{path}")


@pytest.fixture(scope="session")
def pg_world(pg_server_url, pg_template, pg_roles):
    """A PostgreSQL database holding the test world (a template for the tests' copies), and its World."""
    name = _copy_pg_database(pg_server_url, pg_roles, pg_template)
    world = _built_world(_as(pg_server_url, user=pg_roles.app, database=name))
    yield name, world
    _drop_pg_database(pg_server_url, name)


# The World a test's database was copied with, when it was (see _world_ahead).
WORLD_COPIED = pytest.StashKey[object]()


def _world_ahead(request) -> bool:
    """Whether the test's world may be copied in with its database instead of built in it: only when the test
    asks for the world and opens its runtime with this file's settings and clock (with other workflows or
    another start time, a copy would not be what building gives)."""
    # pytest has no public way to ask which definition of a fixture a test gets; _fixtureinfo is stable since 3.x.
    chosen = request.node._fixtureinfo.name2fixturedefs
    if "world" not in chosen:
        return False
    return all(chosen[name][-1].func.__module__ == __name__ for name in ("settings", "clock", "rt", "world"))


# Data a module's tests all start from, built once per session and store by a registered builder (see prebuilt).
BUILDERS: dict[str, object] = {}
PREBUILT_COPIED = pytest.StashKey[tuple]()


def builds(name: str):
    """Register ``build(client, world, rt, clock) -> made`` as the data a test asking for ``prebuilt`` with
    ``@pytest.mark.prebuilt(name)`` starts from."""
    def register(build):
        BUILDERS[name] = build
        return build
    return register


def _prebuilt_name(request) -> str | None:
    """The registered data the test starts from, when it asks for it and may take a copy (see _world_ahead)."""
    marker = request.node.get_closest_marker("prebuilt")
    if marker is None or "prebuilt" not in request.fixturenames or not _world_ahead(request):
        return None
    return marker.args[0]


class _Prebuilt:
    """Databases holding each builder's data, made on first use: (source, what the builder returned, the time
    its clock ended at)."""

    def __init__(self) -> None:
        self.made: dict[tuple[str, str], tuple] = {}
        self.pg_databases: list[tuple[str, str]] = []

    def get(self, request, kind: str, name: str, tmp_root: Path) -> tuple:
        if (kind, name) not in self.made:
            self.made[kind, name] = self._build(request, kind, name, tmp_root)
        return self.made[kind, name]

    def _build(self, request, kind: str, name: str, tmp_root: Path) -> tuple:
        from fastapi.testclient import TestClient

        from api.app import create_app

        if kind == "sqlite":
            source, world = request.getfixturevalue("sqlite_world")
            path = tmp_root / f"{name}.db"
            shutil.copy(source, path)
            url, template = f"sqlite:///{path}", path
        else:
            source, world = request.getfixturevalue("pg_world")
            server, roles = request.getfixturevalue("pg_server_url"), request.getfixturevalue("pg_roles")
            template = _copy_pg_database(server, roles, source)
            url = _as(server, user=roles.app, database=template)
            self.pg_databases.append((server, template))
        clock = ManualClock(START)
        runtime = Runtime.open(Settings(database_url=url), clock=clock)
        try:
            with TestClient(create_app(runtime), raise_server_exceptions=False) as client:
                made = BUILDERS[name](client, dataclasses.replace(world, tokens=dict(world.tokens)), runtime, clock)
        finally:
            runtime.store.dispose()
        return template, made, clock.now()


@pytest.fixture(scope="session")
def prebuilt_sqlite(sqlite_world, tmp_path_factory):
    """The session's prebuilt SQLite files (see builds)."""
    return _Prebuilt(), tmp_path_factory.mktemp("prebuilt")


@pytest.fixture(scope="session")
def prebuilt_postgres(pg_world, tmp_path_factory):
    """The session's prebuilt PostgreSQL databases (see builds), dropped before the roles that own them."""
    store = _Prebuilt()
    yield store, tmp_path_factory.mktemp("prebuilt")
    for server, name in store.pg_databases:
        _drop_pg_database(server, name)


@pytest.fixture
def prebuilt(request, client, world, rt, clock):
    """What the module's registered builder made (``@pytest.mark.prebuilt(name)``), with the clock where the
    builder left it: copied in with the database when it may be, else built here in the test's own database."""
    copied = request.node.stash.get(PREBUILT_COPIED, None)
    if copied is not None:
        made, now = copied
        clock.set(now)
        return made
    return BUILDERS[request.node.get_closest_marker("prebuilt").args[0]](client, world, rt, clock)


def new_database(request, kind: str, tmp_path: Path, name: str = "closeloop", *, with_world: bool = False,
                 prebuilt: str | None = None) -> str:
    """A fresh, migrated database of ``kind`` copied from the session's template (dropped when the test ends);
    on PostgreSQL, connected to as the restricted application role. ``with_world``: copied from the template
    holding the test world (its World is kept in the test's stash for the ``world`` fixture); ``prebuilt``: from
    the database holding that builder's data, and the world."""
    if prebuilt is not None:
        store, root = request.getfixturevalue(f"prebuilt_{kind}")
        source, made, now = store.get(request, kind, prebuilt, root)
        request.node.stash[PREBUILT_COPIED] = (made, now)
        with_world = True
    if kind == "sqlite":
        path = tmp_path / f"{name}.db"
        if with_world:
            world_source, request.node.stash[WORLD_COPIED] = request.getfixturevalue("sqlite_world")
            source = source if prebuilt is not None else world_source
        else:
            source = request.getfixturevalue("sqlite_template")
        shutil.copy(source, path)
        return f"sqlite:///{path}"
    server = request.getfixturevalue("pg_server_url")
    roles = request.getfixturevalue("pg_roles")
    if with_world:
        world_template, request.node.stash[WORLD_COPIED] = request.getfixturevalue("pg_world")
        template = source if prebuilt is not None else world_template
    else:
        template = request.getfixturevalue("pg_template")
    database = _copy_pg_database(server, roles, template)
    request.addfinalizer(lambda: _drop_pg_database(server, database))
    return _as(server, user=roles.app, database=database)


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request, tmp_path):
    """A fresh, migrated database of each kind; on PostgreSQL, connected to as the restricted application role.
    For a test that uses the world with the default runtime, the copy already holds the world (built once per
    session: it is a tenth to a half of a second per test)."""
    return new_database(request, request.param, tmp_path, with_world=_world_ahead(request),
                        prebuilt=_prebuilt_name(request))


@pytest.fixture
def db_owner_url(db_url) -> str:
    """The same database as its owner role, who may drop triggers and rewrite rows (SQLite: the same file)."""
    return owner_url(db_url)


@pytest.fixture
def clock() -> ManualClock:
    """Time for the test; move it with clock.advance(days=...)."""
    return ManualClock(START)


@pytest.fixture
def settings(db_url) -> Settings:
    """Settings for a test deployment on ``db_url`` with the bundled workflows."""
    return Settings(database_url=db_url)


@pytest.fixture
def rt(settings, clock):
    """An opened runtime (schema checked, workflows loaded) on the test database."""
    runtime = Runtime.open(settings, clock=clock)
    yield runtime
    runtime.store.dispose()


@pytest.fixture
def client(rt):
    """The FastAPI app driven in-process through httpx."""
    from fastapi.testclient import TestClient

    from api.app import create_app

    with TestClient(create_app(rt), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def world(request, rt):
    """Units CITY > DEPT-A > SUB-A1 and CITY > DEPT-B, with users of every role (see tests/helpers.py)."""
    from tests.helpers import build_world

    copied = request.node.stash.get(WORLD_COPIED, None)
    if copied is None:
        return build_world(rt)
    return dataclasses.replace(copied, tokens=dict(copied.tokens))  # a test may add tokens to its own


@pytest.fixture
def workflows_dir() -> Path:
    """The bundled workflow folder."""
    return Settings().workflows_dir


# Summary lines a test reports as the user property "model-run" (what the model-based test tried), printed at
# the end of the run; collected from reports, so that pytest-xdist's workers' lines reach the terminal too.
_RUN_LINES: list[str] = []


def pytest_runtest_logreport(report):
    """Keep the summary lines of each test's report."""
    if report.when == "call":
        _RUN_LINES.extend(value for name, value in report.user_properties if name == "model-run")


def pytest_terminal_summary(terminalreporter):
    """Print the summary lines tests reported."""
    for line in _RUN_LINES:
        terminalreporter.write_line(line)

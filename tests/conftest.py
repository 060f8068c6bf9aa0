"""Shared fixtures: every database test runs on a real SQLite file and on a real PostgreSQL server."""
from __future__ import annotations

import datetime as dt
import os
import shutil
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from engine.clock import ManualClock
from engine.config import Settings
from engine.runtime import Runtime
from engine.store import Store, migrate
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
    """URL of a PostgreSQL server: CLOSELOOP_TEST_PG_URL, or one started here from the installed binaries."""
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


@pytest.fixture(scope="session")
def pg_template(pg_server_url):
    """A migrated template database; each test gets a fresh copy of it."""
    name = f"cl_template_{uuid.uuid4().hex[:8]}"
    admin = _admin_engine(pg_server_url)
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    url = sa.make_url(Store(pg_server_url).url).set(database=name).render_as_string(hide_password=False)
    store = Store(url)
    migrate(store)
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


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request, tmp_path):
    """A fresh, migrated database of each kind."""
    if request.param == "sqlite":
        path = tmp_path / "closeloop.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    template = request.getfixturevalue("pg_template")
    server = request.getfixturevalue("pg_server_url")
    name = f"cl_{uuid.uuid4().hex[:12]}"
    admin = _admin_engine(server)
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name} TEMPLATE {template}")
    yield sa.make_url(Store(server).url).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.dispose()


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
def world(rt):
    """Units CITY > DEPT-A > SUB-A1 and CITY > DEPT-B, with users of every role (see tests/helpers.py)."""
    from tests.helpers import build_world

    return build_world(rt)


@pytest.fixture
def workflows_dir() -> Path:
    """The bundled workflow folder."""
    return Settings().workflows_dir

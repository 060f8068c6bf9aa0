"""The model-based test (issue 10, point 1): random sequences of API calls against the model, on both stores.

The CI profile is derandomized, so a run is reproducible; `make model` runs the long, random profile.
What each run tried is printed at the end of the pytest run (examples, steps, calls by kind, refusals).
"""
from __future__ import annotations

import shutil
import time

import pytest
from hypothesis import settings
from hypothesis.stateful import run_state_machine_as_test

from engine.clock import ManualClock
from engine.config import Settings
from engine.runtime import Runtime
from tests.conftest import START, _as, _copy_pg_database, _drop_pg_database
from tests.helpers import audit_verify_command
from tests.model.conftest import PROFILE
from tests.model.machine import Deployment, ItemsMachine, Tally


class _Fresh:
    """A fresh database holding the test world for each example, and the app on it."""

    def __init__(self, make_url) -> None:
        self.make_url, self.open_now, self.last_url = make_url, None, None

    def open(self):
        from fastapi.testclient import TestClient

        from api.app import create_app

        url, world = self.make_url()
        clock = ManualClock(START)
        rt = Runtime.open(Settings(database_url=url), clock=clock)
        client = TestClient(create_app(rt), raise_server_exceptions=False)
        client.__enter__()
        self.open_now = (client, rt, url)
        return client, world, rt, clock, url

    def close(self):
        client, rt, url = self.open_now
        client.__exit__(None, None, None)
        rt.store.dispose()
        self.last_url = url


def _run(request, kind: str, fresh: _Fresh, profile: str) -> None:
    Deployment.open, Deployment.close = fresh.open, fresh.close
    ItemsMachine.tally = Tally()
    started = time.perf_counter()
    run_state_machine_as_test(ItemsMachine, settings=settings.get_profile(profile))
    line = ItemsMachine.tally.line(f"{kind} ({profile})", time.perf_counter() - started)
    request.node.user_properties.append(("model-run", line))


def test_model_on_sqlite(request, sqlite_world, tmp_path):
    source, world = sqlite_world
    paths = iter(range(1_000_000))

    def make():
        path = tmp_path / f"example-{next(paths)}.db"
        shutil.copy(source, path)
        return f"sqlite:///{path}", world

    fresh = _Fresh(make)
    _run(request, "sqlite", fresh, PROFILE)
    # The last example's database, checked by `closeloop audit verify` as an operator would.
    verified = audit_verify_command(fresh.last_url)
    assert verified.returncode == 0 and verified.stdout.startswith("ok: "), verified.stdout + verified.stderr


@pytest.mark.postgres
def test_model_on_postgres(request, pg_server_url, pg_roles, pg_world):
    name, world = pg_world
    made: list[str] = []

    def make():
        database = _copy_pg_database(pg_server_url, pg_roles, name)
        made.append(database)
        return _as(pg_server_url, user=pg_roles.app, database=database), world

    fresh = _Fresh(make)
    try:
        _run(request, "postgres", fresh, "ci-postgres" if PROFILE == "ci" else PROFILE)
        verified = audit_verify_command(fresh.last_url)
        assert verified.returncode == 0 and verified.stdout.startswith("ok: "), verified.stdout + verified.stderr
    finally:
        for database in made:
            _drop_pg_database(pg_server_url, database)

"""The model-based test (issue 10, point 1): random sequences of API calls against the model, on both stores.

The CI profile is derandomized, so a run is reproducible; `make model` runs the long, random profile.
What each run tried is printed at the end of the pytest run (examples, steps, calls by kind, refusals).
"""
from __future__ import annotations

import itertools
import shutil
import time
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis.stateful import run_state_machine_as_test

from engine.clock import ManualClock
from engine.config import Settings
from engine.runtime import Runtime
from tests.conftest import START, _as, _copy_pg_database, _drop_pg_database
from tests.helpers import audit_verify_command
from tests.model.conftest import POSTGRES_PROFILE, PROFILE
from tests.model.machine import Deployment, ItemsMachine, Tally


class _Fresh:
    """A fresh database holding the test world for each example, and the app on it; the database of the
    example before is dropped when the next one opens, the last one is kept to be verified, then dropped."""

    def __init__(self, make_url, drop_url) -> None:
        self.make_url, self.drop_url = make_url, drop_url
        self.open_now, self.last_url = None, None

    def open(self):
        from fastapi.testclient import TestClient

        from api.app import create_app

        self.drop_last()
        url, world = self.make_url()
        clock = ManualClock(START)
        rt = Runtime.open(Settings(database_url=url), clock=clock)
        client = TestClient(create_app(rt), raise_server_exceptions=False)
        client.__enter__()
        self.open_now = (client, rt, url)
        return client, world, rt, clock, url

    def close(self):
        client, rt, self.last_url = self.open_now
        client.__exit__(None, None, None)
        rt.store.dispose()

    def drop_last(self):
        if self.last_url is not None:
            self.drop_url(self.last_url)
            self.last_url = None

    def run(self, request, kind: str, profile: str) -> None:
        """Run the machine, report what it tried, and check the last example's database with `closeloop audit
        verify` as an operator would."""
        Deployment.open, Deployment.close = self.open, self.close
        ItemsMachine.tally = Tally()
        started = time.perf_counter()
        try:
            run_state_machine_as_test(ItemsMachine, settings=settings.get_profile(profile))
            line = ItemsMachine.tally.line(f"{kind} ({profile})", time.perf_counter() - started)
            request.node.user_properties.append(("model-run", line))
            verified = audit_verify_command(self.last_url)
            assert verified.returncode == 0 and verified.stdout.startswith("ok: "), verified.stdout + verified.stderr
        finally:
            self.drop_last()


def test_model_on_sqlite(request, sqlite_world, tmp_path):
    source, world = sqlite_world
    numbers = itertools.count()

    def make():
        path = tmp_path / f"example-{next(numbers)}.db"
        shutil.copy(source, path)
        return f"sqlite:///{path}", world

    def drop(url):
        for suffix in ("", "-wal", "-shm"):
            Path(url.removeprefix("sqlite:///") + suffix).unlink(missing_ok=True)

    _Fresh(make, drop).run(request, "sqlite", PROFILE)


@pytest.mark.postgres
def test_model_on_postgres(request, pg_server_url, pg_roles, pg_world):
    name, world = pg_world
    databases: dict[str, str] = {}

    def make():
        database = _copy_pg_database(pg_server_url, pg_roles, name)
        url = _as(pg_server_url, user=pg_roles.app, database=database)
        databases[url] = database
        return url, world

    def drop(url):
        _drop_pg_database(pg_server_url, databases.pop(url))

    _Fresh(make, drop).run(request, "postgres", POSTGRES_PROFILE)

"""Fixtures of the ledger tests."""
from __future__ import annotations

import pytest

from engine.config import Settings
from engine.runtime import Runtime
from tests.ledger.support import other_database


@pytest.fixture
def other_rt(request, db_url, tmp_path, clock):
    """A runtime on a second, empty database of the same kind, sharing the test's clock."""
    runtime = Runtime.open(Settings(database_url=other_database(request, db_url, tmp_path)), clock=clock)
    yield runtime
    runtime.store.dispose()

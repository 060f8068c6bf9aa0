"""The unit tree: codes unique regardless of case, on both stores."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from engine import accounts
from engine.errors import Conflict
from engine.models import Unit
from tests.helpers import assert_problem, table_counts

@pytest.mark.parametrize("code", ["dept-a", "Dept-A", "DEPT-a"])
def test_unit_codes_are_unique_regardless_of_case(client, world, rt, code):
    before = table_counts(rt)
    problem = assert_problem(client.post("/api/v1/units", json={"code": code, "name": "市教委", "parent": "CITY"},
                                         headers=world.h("adm")), 409)
    assert "DEPT-A" in problem["detail"] and "case" in problem["detail"], problem
    with pytest.raises(Conflict), rt.store.write() as conn:
        accounts.add_unit(conn, clock=rt.clock, code=code, name="市教委")
    assert table_counts(rt) == before
    assert client.post("/api/v1/units", json={"code": "DEPT-A", "name": "x"}, headers=world.h("adm")).status_code == 409


def test_the_database_itself_refuses_codes_differing_only_in_case(rt, world):
    # The migration's unique index on lower(code) holds even for a write that skips the engine's check.
    insert = Unit.__table__.insert().values(code="sub-a1", name="区教育局", path="/99/", created_at=rt.clock.now())
    with pytest.raises(sa.exc.IntegrityError), rt.store.write() as conn:
        conn.execute(insert)
    with rt.store.write() as conn:
        conn.execute(insert.values(code="SUB-A2"))

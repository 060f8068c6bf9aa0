"""The unit tree: a documented depth limit, and codes unique regardless of case, on both stores."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from engine import accounts
from engine.accounts import MAX_UNIT_DEPTH
from engine.errors import Conflict, InvalidInput
from engine.models import Unit
from tests.db_roles import owner_write
from tests.helpers import assert_problem, table_counts

LARGEST_ID = {"sqlite": 2**63 - 1, "postgresql": 2**31 - 1}  # the key column's range on each store


def test_the_deepest_path_fits_its_column_whatever_the_ids():
    longest = 1 + MAX_UNIT_DEPTH * (len(str(LARGEST_ID["sqlite"])) + 1)
    assert longest <= Unit.__table__.c.path.type.length


def _start_ids_near_the_top(rt) -> None:
    """Make the next unit ids the largest the store allows, so paths are as long as they can get."""
    start = LARGEST_ID[rt.store.writer.dialect.name] - 2 * MAX_UNIT_DEPTH
    with owner_write(rt) as conn:  # moving a sequence is the owner's (the application's role may only draw from it)
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(f"ALTER SEQUENCE units_id_seq RESTART WITH {start}")
        else:  # SQLite takes max(id) + 1: a placeholder root just below the new ids
            conn.execute(Unit.__table__.insert().values(id=start - 1, code="PLACEHOLDER", name="x", path="/x/",
                                                        created_at=rt.clock.now()))


def test_a_unit_below_the_deepest_level_is_refused_with_422(client, world, rt):
    _start_ids_near_the_top(rt)
    parent = "SUB-A1"  # level 3 of CITY > DEPT-A > SUB-A1
    with rt.store.write() as conn:
        for level in range(4, MAX_UNIT_DEPTH + 1):
            accounts.add_unit(conn, clock=rt.clock, actor="cli:tests", code=f"L{level}", name=f"第{level}级", parent=parent)
            parent = f"L{level}"
    with rt.store.read() as conn:
        deepest = {u["code"]: u for u in accounts.list_units(conn)}[parent]
        path = accounts.unit_by_code(conn, parent).path
    assert deepest["depth"] == MAX_UNIT_DEPTH - 1  # depth counts from 0 at the root
    assert path.count("/") == MAX_UNIT_DEPTH + 1 and len(path) > 300
    before = table_counts(rt)
    problem = assert_problem(client.post("/api/v1/units", json={"code": "TOO-DEEP", "name": "过深", "parent": parent},
                                         headers=world.h("adm")), 422)
    assert problem["field"] == "parent" and str(MAX_UNIT_DEPTH) in problem["detail"], problem
    with pytest.raises(InvalidInput, match="deepest"), rt.store.write() as conn:
        accounts.add_unit(conn, clock=rt.clock, actor="cli:tests", code="TOO-DEEP", name="过深", parent=parent)
    assert table_counts(rt) == before
    beside = client.post("/api/v1/units", json={"code": "BESIDE", "name": "同级", "parent": f"L{MAX_UNIT_DEPTH - 1}"},
                         headers=world.h("adm"))
    assert beside.status_code == 201, beside.text


@pytest.mark.parametrize("code", ["dept-a", "Dept-A", "DEPT-a"])
def test_unit_codes_are_unique_regardless_of_case(client, world, rt, code):
    before = table_counts(rt)
    problem = assert_problem(client.post("/api/v1/units", json={"code": code, "name": "市教委", "parent": "CITY"},
                                         headers=world.h("adm")), 409)
    assert "DEPT-A" in problem["detail"] and "case" in problem["detail"], problem
    with pytest.raises(Conflict), rt.store.write() as conn:
        accounts.add_unit(conn, clock=rt.clock, actor="cli:tests", code=code, name="市教委")
    assert table_counts(rt) == before
    assert client.post("/api/v1/units", json={"code": "DEPT-A", "name": "x"}, headers=world.h("adm")).status_code == 409


def test_the_database_itself_refuses_codes_differing_only_in_case(rt, world):
    # The migration's unique index on lower(code) holds even for a write that skips the engine's check.
    insert = Unit.__table__.insert().values(code="sub-a1", name="区教育局", path="/99/", created_at=rt.clock.now())
    with pytest.raises(sa.exc.IntegrityError), rt.store.write() as conn:
        conn.execute(insert)
    with rt.store.write() as conn:
        conn.execute(insert.values(code="SUB-A2"))

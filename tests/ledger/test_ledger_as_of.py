"""?as_of=: the ledger rebuilt from the history equals the one exported on that day."""
from __future__ import annotations

import datetime as dt

from engine.ledger.columns import HEADERS
from tests.helpers import DRIVER, assert_problem, drive, fire, new_item
from tests.ledger.support import csv_cells, ledger_file, upload, xlsx_cells


def test_a_rebuilt_past_ledger_equals_the_one_exported_that_day(client, world, rt, clock):
    due = (rt.today() + dt.timedelta(days=5)).isoformat()
    first = new_item(client, world, external_ref="XC-1", due_date=due)
    clock.advance(minutes=1)
    moving = drive(client, world, rt, new_item(client, world, unit="SUB-A1", due_date=due), "rectifying")
    clock.advance(minutes=1)
    closing = drive(client, world, rt, new_item(client, world, unit="DEPT-B"), "verified")
    clock.advance(minutes=1)
    assert upload(client, world.h("reg"), ledger_file([{"问题来源": "审计", "问题描述": "导入的问题", "责任单位": "DEPT-A",
                                                        "当前状态": "整改中", "整改时限": due,
                                                        "最近进展": "导入时的进展"}])).status_code == 200
    day = rt.today()
    then_xlsx = xlsx_cells(client.get("/api/v1/ledger.xlsx", headers=world.h("reg")).content)
    then_csv = csv_cells(client.get("/api/v1/ledger.csv", params={"unit": "DEPT-A"}, headers=world.h("reg")).content)
    then_red = csv_cells(client.get("/api/v1/ledger.csv", params={"light": "yellow"}, headers=world.h("aud")).content)

    assert len(then_xlsx) == 5 and len(then_csv) == 4 and len(then_red) > 1
    # Three days on: items move, a due date changes, one closes, new items arrive.
    clock.advance(days=3)
    drive(client, world, rt, first, "rectifying")
    report = fire(client, world, moving, {"trigger": "report_progress", "comment": "第二次进展"}, "asg_a1")
    assert report.status_code == 200, report.text
    close = fire(client, world, closing, {"trigger": "close"}, DRIVER["supervisor"])
    assert close.status_code == 200, close.text
    new_item(client, world)
    now_xlsx = xlsx_cells(client.get("/api/v1/ledger.xlsx", headers=world.h("reg")).content)
    assert now_xlsx != then_xlsx  # the rebuild below would pass unchanged if the ledger had not moved

    params = {"as_of": day.isoformat()}
    rebuilt = xlsx_cells(client.get("/api/v1/ledger.xlsx", params=params, headers=world.h("reg")).content)
    assert rebuilt == then_xlsx
    assert csv_cells(client.get("/api/v1/ledger.csv", params={**params, "unit": "DEPT-A"},
                                headers=world.h("reg")).content) == then_csv
    assert csv_cells(client.get("/api/v1/ledger.csv", params={**params, "light": "yellow"},
                                headers=world.h("aud")).content) == then_red
    progress = [row[HEADERS.index("最近进展")] for row in rebuilt[1:]]
    assert "导入时的进展" in progress and "第二次进展" not in progress


def test_as_of_refuses_the_future_and_a_date_that_does_not_exist(client, world, rt):
    tomorrow = (rt.today() + dt.timedelta(days=1)).isoformat()
    assert_problem(client.get("/api/v1/ledger.xlsx", params={"as_of": tomorrow}, headers=world.h("reg")), 422)
    assert_problem(client.get("/api/v1/ledger.csv", params={"as_of": "2026-02-30"}, headers=world.h("reg")), 422)
    before = rt.today() - dt.timedelta(days=30)
    new_item(client, world)
    empty = csv_cells(client.get("/api/v1/ledger.csv", params={"as_of": before.isoformat()},
                                 headers=world.h("reg")).content)
    assert empty == [list(HEADERS)]


def test_an_item_imported_closed_keeps_its_closing_day_through_later_records(client, world, rt, clock):
    imported = upload(client, world.h("sup"), ledger_file([{
        "外部编号": "JC-1", "问题来源": "审计", "问题描述": "旧问题", "责任单位": "DEPT-A", "整改时限": "2025-11-20",
        "当前状态": "已销号", "销号日期": "2025-12-01"}]))
    assert imported.status_code == 200, imported.text
    clock.advance(days=2)
    # A look-back re-check that passes leaves the item closed, with a record after the import's.
    lookback = client.post("/api/v1/lookbacks", json={"size": 1, "seed": "as-of"}, headers=world.h("aud"))
    assert lookback.status_code in (200, 201), lookback.text
    number = lookback.json()["items"][0]["number"]
    checked = client.post(f"/api/v1/lookbacks/{lookback.json()['id']}/items/{number}",
                          json={"result": "passed", "note": "整改成效巩固"}, headers=world.h("aud"))
    assert checked.status_code in (200, 201), checked.text
    day = rt.today()
    clock.advance(days=1)
    column = HEADERS.index("销号日期")
    live = csv_cells(client.get("/api/v1/ledger.csv", headers=world.h("aud")).content)
    then = csv_cells(client.get("/api/v1/ledger.csv", params={"as_of": day.isoformat()},
                                headers=world.h("aud")).content)
    assert live[1][column] == then[1][column] == "2025-12-01", (live, then)
    assert then[1][HEADERS.index("当前状态")] == "已销号"

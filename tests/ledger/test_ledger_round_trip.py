"""Ledger out and in: an exported ledger imports into an empty database and exports again cell for cell."""
from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient

from api.app import create_app
from engine.ledger.columns import HEADERS
from tests.audit_helpers import export as export_bundle
from tests.audit_helpers import standalone
from tests.helpers import assert_problem, build_world, drive, new_item
from tests.ledger.support import NO_DIFFERENCES, csv_cells, ledger_file, upload, xlsx_cells


def _items(client, world, rt) -> list[dict]:
    """Items in several states, with and without the optional cells, progress notes and a closure."""
    made = []
    clock = rt.clock
    due = (rt.today() + dt.timedelta(days=30)).isoformat()
    made.append(new_item(client, world, external_ref="XC-2026-001", campaign="2026-XC-R1", description="细节：\n第二行",
                         measures="新建两所公办园", due_date=due))
    clock.advance(minutes=1)
    made.append(drive(client, world, rt, new_item(client, world, unit="SUB-A1", external_ref="XC-2026-002"),
                      "rectifying"))
    clock.advance(minutes=1)
    made.append(drive(client, world, rt, new_item(client, world, source="audit", unit="DEPT-B"), "closed"))
    clock.advance(minutes=1)
    made.append(drive(client, world, rt, new_item(client, world, source="complaint"), "pending_verification"))
    clock.advance(minutes=1)
    made.append(new_item(client, world, source="self_check", title="学习台账记录不完整",
                         due_date=(rt.today() - dt.timedelta(days=2)).isoformat()))
    return made


def test_export_import_export_is_equal_cell_by_cell(client, world, rt, other_rt, tmp_path):
    _items(client, world, rt)
    first = client.get("/api/v1/ledger.xlsx", headers=world.h("reg"))
    assert first.status_code == 200, first.text
    assert first.headers["content-type"].startswith("application/vnd.openxmlformats")
    cells = xlsx_cells(first.content)
    assert tuple(cells[0]) == HEADERS and len(cells) == 6
    assert {row[HEADERS.index("当前状态")] for row in cells[1:]} == {"已登记", "整改中", "已销号", "待验收"}
    assert cells[5][HEADERS.index("红黄绿灯")] == "红" and cells[5][HEADERS.index("逾期天数")] == 2
    assert "第二行" in cells[1][HEADERS.index("问题描述")]

    other_world = build_world(other_rt)
    with TestClient(create_app(other_rt), raise_server_exceptions=False) as other:
        imported = upload(other, other_world.h("reg"), first.content)
        assert imported.status_code == 200, imported.text
        assert imported.json() == {"created": 5, "unchanged": 0, "dry_run": False, **NO_DIFFERENCES}
        second = other.get("/api/v1/ledger.xlsx", headers=other_world.h("reg"))
        assert xlsx_cells(second.content) == cells
        again = upload(other, other_world.h("reg"), second.content)
        assert again.json() == {"created": 0, "unchanged": 5, "dry_run": False, **NO_DIFFERENCES}
        verified = other.get("/api/v1/audit/verify", headers=other_world.h("aud")).json()
        assert verified["ok"] is True, verified
        # The auditors' bundle checks offline too, with chains that open with an import.
        code, report, stderr = standalone(export_bundle(other_rt, tmp_path / "bundle.zip"))
        assert code == 0 and report["ok"] is True, (report, stderr)
        closed = other.get("/api/v1/items", params={"state": "closed"}, headers=other_world.h("reg")).json()["data"][0]
        record = other.get(f"/api/v1/items/{closed['id']}/history", headers=other_world.h("reg")).json()["data"][0]
        assert (record["trigger"], record["from_state"], record["to_state"], record["actor"]) == (
            "import", None, "closed", "reg")
        assert "已销号" in record["comment"] and "reg" in record["comment"]


def test_csv_export_has_a_bom_and_imports_like_the_workbook(client, world, rt, other_rt):
    _items(client, world, rt)
    exported = client.get("/api/v1/ledger.csv", headers=world.h("reg"))
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    rows = csv_cells(exported.content)
    assert tuple(rows[0]) == HEADERS and len(rows) == 6
    other_world = build_world(other_rt)
    with TestClient(create_app(other_rt), raise_server_exceptions=False) as other:
        imported = upload(other, other_world.h("sup"), exported.content, name="台账.csv")
        assert imported.json()["created"] == 5, imported.text
        assert csv_cells(other.get("/api/v1/ledger.csv", headers=other_world.h("sup")).content) == rows


def test_the_ledger_takes_the_lists_filters_and_scope(client, world, rt):
    _items(client, world, rt)
    only_b = xlsx_cells(client.get("/api/v1/ledger.xlsx", params={"unit": "DEPT-B"}, headers=world.h("reg")).content)
    assert [row[HEADERS.index("责任单位")] for row in only_b[1:]] == ["DEPT-B"]
    scoped = csv_cells(client.get("/api/v1/ledger.csv", headers=world.h("sup_b")).content)
    assert [row[HEADERS.index("责任单位")] for row in scoped[1:]] == ["DEPT-B"]
    assert [row[0] for row in scoped[1:]] == ["1"]
    red = csv_cells(client.get("/api/v1/ledger.csv", params={"light": "red"}, headers=world.h("reg")).content)
    assert len(red) == 2
    assert_problem(client.get("/api/v1/ledger.csv", params={"unit": "DEPT-A"}, headers=world.h("sup_b")), 422)
    assert_problem(client.get("/api/v1/ledger.xlsx", params={"limit": "5"}, headers=world.h("reg")), 422)
    assert_problem(client.get("/api/v1/ledger.xlsx", params={"state": "nope"}, headers=world.h("reg")), 422)
    assert_problem(client.get("/api/v1/ledger.xlsx"), 401)


def test_csv_text_that_would_run_as_a_formula_is_written_as_text_and_imports_as_it_was(client, world, rt, other_rt):
    formula = '=HYPERLINK("http://127.0.0.1/x","点击查看")'
    new_item(client, world, title=formula, measures="-3 所学校先行整改", external_ref="+86-10-1234", campaign="@督查")
    rows = csv_cells(client.get("/api/v1/ledger.csv", headers=world.h("reg")).content)
    row = dict(zip(rows[0], rows[1]))
    assert (row["问题描述"], row["整改措施"], row["外部编号"], row["专项/批次"]) == (
        "'" + formula, "'-3 所学校先行整改", "'+86-10-1234", "'@督查")
    assert not [cell for cell in rows[1] if cell[:1] in ("=", "+", "-", "@")]
    other_world = build_world(other_rt)
    with TestClient(create_app(other_rt), raise_server_exceptions=False) as other:
        csv_file = client.get("/api/v1/ledger.csv", headers=world.h("reg")).content
        assert upload(other, other_world.h("reg"), csv_file, name="台账.csv").json()["created"] == 1
        item = other.get("/api/v1/items", headers=other_world.h("reg")).json()["data"][0]
        assert (item["title"], item["measures"], item["external_ref"], item["campaign"]) == (
            formula, "-3 所学校先行整改", "+86-10-1234", "@督查")


def test_an_exported_ledger_of_several_workflows_imports_back_as_unchanged(client, world, rt):
    # 持续整改中 is a state of long_term only: as a new item under the default workflow the row could not pass,
    # but it names an item already here, and an import never edits an item.
    long = drive(client, world, rt, new_item(client, world, workflow="long_term", external_ref="CQ-1"), "rectifying")
    assert long["workflow"] == "long_term"
    numbered = drive(client, world, rt, new_item(client, world, workflow="long_term"), "rectifying")
    new_item(client, world, external_ref="XC-2026-009")
    ledger = client.get("/api/v1/ledger.xlsx", headers=world.h("reg")).content
    assert {row[HEADERS.index("当前状态")] for row in xlsx_cells(ledger)[1:]} == {"持续整改中", "已登记"}
    back = upload(client, world.h("reg"), ledger)
    assert back.json() == {"created": 0, "unchanged": 3, "dry_run": False, **NO_DIFFERENCES}, back.text
    # A row that names no item here still has to pass as a new one.
    rows = [dict(zip(HEADERS, row)) for row in xlsx_cells(ledger)[1:]]
    cells = next(row for row in rows if row["编号"] == numbered["number"])
    other = ledger_file([{**cells, "编号": "ZG-2099-000001"}])
    refused = assert_problem(upload(client, world.h("reg"), other), 422)
    assert [(e["column"]) for e in refused["errors"]] == ["当前状态"], refused


def test_csv_text_that_begins_with_an_apostrophe_comes_back_as_it_was(client, world, rt):
    # The import takes off the apostrophe the export puts before a formula; a text of its own that begins with one
    # gets one more, so that "'=abc" is not read back as "=abc".
    titles = {"=SUM(A1)": "'=SUM(A1)", "'=abc 标题": "''=abc 标题", "'plain": "''plain", "''x": "'''x"}
    for title in titles:
        new_item(client, world, title=title)
    exported = client.get("/api/v1/ledger.csv", headers=world.h("reg")).content
    rows = csv_cells(exported)
    assert [row[HEADERS.index("问题描述")] for row in rows[1:]] == list(titles.values())
    back = upload(client, world.h("reg"), exported, name="台账.csv", params={"dry_run": "true"})
    assert back.json() == {"created": 0, "unchanged": 4, "dry_run": True, **NO_DIFFERENCES}, back.text

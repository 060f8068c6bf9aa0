"""A ledger imported again after its cells were edited: the rows whose cells differ from their item are listed
with those columns (API, dry run and CLI), nothing of them written; an exported ledger differs in nothing."""
from __future__ import annotations

import datetime as dt

from typer.testing import CliRunner

from api.cli import app
from engine.ledger.columns import HEADERS
from tests.helpers import drive, new_item, table_counts
from tests.ledger.support import NO_DIFFERENCES, csv_cells, ledger_file, upload, xlsx_cells


def _items(client, world, rt) -> list[dict]:
    """Items of both workflows and several states, recognised by 外部编号 or (without one) by 编号, with texts
    typed with spaces around them, a browser's line breaks (\\r\\n) and a control character no workbook holds."""
    due = (rt.today() + dt.timedelta(days=30)).isoformat()
    made = [new_item(client, world, external_ref="XC-2026-001", campaign="2026-XC-R1", description="细节：\r\n第二行",
                     measures="新建两所公办园", due_date=due)]
    made.append(drive(client, world, rt, new_item(client, world, unit="SUB-A1", external_ref="XC-2026-002",
                                                  measures="分两步\x0b整改"), "rectifying"))
    made.append(drive(client, world, rt, new_item(client, world, source="audit", unit="DEPT-B",
                                                  title="  财务制度不健全 ", measures=" 修订制度\n"), "assigned"))
    # 持续整改中 is a state of long_term only: as a new row under the default workflow it could not pass.
    made.append(drive(client, world, rt, new_item(client, world, workflow="long_term", external_ref="CQ-1",
                                                  measures="每季度报告"), "rectifying"))
    return made


def _snapshot(client, world, made: list[dict]) -> list:
    """Each item and its history, as the API shows them."""
    h = world.h("aud")
    return [(client.get(f"/api/v1/items/{item['id']}", headers=h).json(),
             client.get(f"/api/v1/items/{item['id']}/history", headers=h).json()) for item in made]


def _rows(ledger: bytes) -> list[dict]:
    """The rows of an exported workbook by header, dates as the days they are (openpyxl reads datetimes)."""
    return [{name: value.date() if isinstance(value, dt.datetime) else value for name, value in zip(HEADERS, row)}
            for row in xlsx_cells(ledger)[1:]]


def _cli(db_url: str, *args: str):
    return CliRunner().invoke(app, list(args), env={"CLOSELOOP_DATABASE_URL": db_url})


def test_an_exported_ledger_imported_back_differs_in_nothing(client, world, rt, db_url, tmp_path):
    made = _items(client, world, rt)
    assert "\r\n" in made[0]["description"] and "\x0b" in made[1]["measures"]
    before, counts = _snapshot(client, world, made), table_counts(rt)
    for kind in ("xlsx", "csv"):
        exported = client.get(f"/api/v1/ledger.{kind}", headers=world.h("reg")).content
        for params in ({}, {"dry_run": "true"}):
            back = upload(client, world.h("reg"), exported, name=f"台账.{kind}", params=params)
            assert back.json() == {"created": 0, "unchanged": 4, "dry_run": bool(params), **NO_DIFFERENCES}, back.text
        path = tmp_path / f"台账.{kind}"
        path.write_bytes(exported)
        done = _cli(db_url, "import", str(path), "--as", "reg")
        assert done.exit_code == 0 and done.output == "created 0 item(s); 4 row(s) already here, unchanged\n", \
            done.output
    assert _snapshot(client, world, made) == before and table_counts(rt) == counts


def _edited(ledger: bytes, made: list[dict]) -> tuple[bytes, list[dict]]:
    """The ledger with cells of three rows edited, and the differences the import must report."""
    rows = _rows(ledger)
    first, second, third, fourth = rows
    first.update(整改措施="新建三所公办园", 整改时限=dt.date(2026, 12, 31))
    second.update(责任人="asg_a", 当前状态="已销号")
    third.update(问题描述="财务制度不健全\n另查明报销审批缺失", 责任单位="DEPT-A", **{"专项/批次": "2026-SJ"})
    fourth.update(整改措施="每月报告")  # a row that would not pass as a new one is compared all the same
    expected = [{"row": 2, "number": made[0]["number"], "columns": ["整改措施", "整改时限"]},
                {"row": 3, "number": made[1]["number"], "columns": ["责任人", "当前状态"]},
                {"row": 4, "number": made[2]["number"], "columns": ["问题描述", "责任单位", "专项/批次"]},
                {"row": 5, "number": made[3]["number"], "columns": ["整改措施"]}]
    return ledger_file(rows), expected


def test_edited_rows_are_listed_with_their_columns_and_change_nothing(client, world, rt, db_url, tmp_path):
    made = _items(client, world, rt)
    edited, expected = _edited(client.get("/api/v1/ledger.xlsx", headers=world.h("reg")).content, made)
    before, counts = _snapshot(client, world, made), table_counts(rt)
    dry = upload(client, world.h("reg"), edited, params={"dry_run": "true"})
    assert dry.json() == {"created": 0, "unchanged": 4, "dry_run": True, "differing": expected,
                          "differing_count": 4}, dry.text
    done = upload(client, world.h("reg"), edited)
    assert done.json() == {**dry.json(), "dry_run": False}
    assert _snapshot(client, world, made) == before and table_counts(rt) == counts

    path = tmp_path / "台账.xlsx"
    path.write_bytes(edited)
    for extra, verb in (("--dry-run",), "would create"), ((), "created"):
        run = _cli(db_url, "import", str(path), "--as", "reg", *extra)
        assert run.exit_code == 0, run.output
        lines = run.output.splitlines()
        assert lines[0] == f"{verb} 0 item(s); 4 row(s) already here, unchanged (4 of them differ from their item)"
        assert lines[1:] == [f"row {d['row']} differs from item {d['number']} in {', '.join(d['columns'])}: the item "
                             "is left as it is (an import never changes an item; move it through its workflow)"
                             for d in expected]
    assert _snapshot(client, world, made) == before and table_counts(rt) == counts


def test_cells_the_import_reads_alike_are_no_difference(client, world, rt):
    assert client.patch("/api/v1/users/asg_a", json={"display_name": "李明"}, headers=world.h("adm")).status_code == 200
    made = _items(client, world, rt)
    rows = _rows(client.get("/api/v1/ledger.xlsx", headers=world.h("reg")).content)
    first, second, third, fourth = rows
    due = first["整改时限"]
    full_width = str.maketrans("0123456789", "０１２３４５６７８９")
    # Spaces around text, a full-width text date, the unit's code in lower case, the assignee by display name,
    # the title and description split with spaces at the line break.
    first.update(整改措施="  新建两所公办园  ", 整改时限=f"{due.year}年{due.month}月{due.day}日".translate(full_width),
                 责任单位="dept-a", 责任人="李明", 问题描述="公办幼儿园学位缺口未按计划补齐  \n  细节：\n第二行  ",
                 **{"专项/批次": " 2026-XC-R1 "})
    # The state's name, the unit's name, a date typed as text with slashes.
    second.update(当前状态="rectifying", 责任单位="区教育局", 整改时限=second["整改时限"].strftime("%Y/%m/%d"))
    third.update(编号=third["编号"].lower())  # recognised by its 编号 in any case
    fourth.update(当前状态=" 持续整改中 ")  # read in the item's own workflow, trimmed
    for kind in ("xlsx", "csv"):
        back = upload(client, world.h("reg"), ledger_file(rows, kind=kind), name=f"台账.{kind}")
        assert back.json() == {"created": 0, "unchanged": 4, "dry_run": False, **NO_DIFFERENCES}, back.text
    assert made[0]["assignee"] == "asg_a"


def test_a_column_the_file_lacks_is_not_compared(client, world, rt):
    item = new_item(client, world, external_ref="SJ-9", measures="整改措施甲", due_date="2026-06-30")
    text = f"外部编号,问题来源,问题描述,责任单位\r\nSJ-9,巡视巡察,{item['title']},DEPT-A\r\n"
    back = upload(client, world.h("reg"), text.encode("utf-8-sig"), name="台账.csv")
    assert back.json() == {"created": 0, "unchanged": 1, "dry_run": False, **NO_DIFFERENCES}, back.text
    edited = text.replace("DEPT-A", "DEPT-B")
    back = upload(client, world.h("reg"), edited.encode("utf-8-sig"), name="台账.csv")
    assert back.json()["differing"] == [{"row": 2, "number": item["number"], "columns": ["责任单位"]}]


def test_the_first_hundred_differing_rows_are_listed_and_all_counted(client, world, rt):
    rows = [{"外部编号": f"XC-{n:03d}", "问题来源": "巡视巡察", "问题描述": f"第{n}号问题", "责任单位": "DEPT-A",
             "整改措施": "建立台账制度"} for n in range(105)]
    assert upload(client, world.h("reg"), ledger_file(rows)).json()["created"] == 105
    back = upload(client, world.h("reg"), ledger_file([{**row, "整改措施": "另订措施"} for row in rows])).json()
    assert (back["unchanged"], back["differing_count"], len(back["differing"])) == (105, 105, 100)
    assert [d["row"] for d in back["differing"]] == list(range(2, 102))
    assert {tuple(d["columns"]) for d in back["differing"]} == {("整改措施",)}


def test_an_item_outside_the_importers_units_is_not_compared(client, world, rt):
    # reg_a registers in DEPT-A only: the row is still that DEPT-B item, but its cells are not reg_a's to probe.
    theirs = new_item(client, world, unit="DEPT-B", external_ref="MZ-1", measures="民政局的措施")
    rows = [dict(zip(HEADERS, row)) for row in csv_cells(client.get("/api/v1/ledger.csv",
                                                                      headers=world.h("reg")).content)[1:]]
    probe = ledger_file([{**rows[0], "整改措施": "猜测的措施"}])
    assert upload(client, world.h("reg_a"), probe).json() == {"created": 0, "unchanged": 1, "dry_run": False,
                                                               **NO_DIFFERENCES}
    assert upload(client, world.h("reg"), probe).json()["differing"] == [
        {"row": 2, "number": theirs["number"], "columns": ["整改措施"]}]


def test_an_item_whose_workflow_version_cannot_load_is_compared_but_for_its_state(client, world, rt, monkeypatch):
    from engine.registry import UntrustedWorkflow

    made = _items(client, world, rt)
    edited, expected = _edited(client.get("/api/v1/ledger.xlsx", headers=world.h("reg")).content, made)
    loads = rt.registry.by_hash

    def refusing(content_hash: str):  # the stored version of the second item's workflow was edited by hand
        if content_hash == made[1]["workflow_hash"]:
            raise UntrustedWorkflow(f"workflow version {content_hash[:12]} is refused")
        return loads(content_hash)

    monkeypatch.setattr(rt.registry, "by_hash", refusing)
    answer = upload(client, world.h("reg"), edited, params={"dry_run": "true"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["differing"][1] == {**expected[1], "columns": ["责任人"]}  # 当前状态 cannot be read

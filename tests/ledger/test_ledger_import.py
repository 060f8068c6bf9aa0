"""Ledger in: all rows or none, errors by row and column, re-imports that add nothing, numbers kept or given."""
from __future__ import annotations

import datetime as dt
import io
import threading
import zipfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import accounts
from engine.ledger.columns import HEADERS
from engine.ledger.importing import import_ledger
from tests.db_roles import refuse_inserts
from tests.helpers import assert_problem, new_item, table_counts
from tests.ledger.support import NO_DIFFERENCES, ledger_file, upload, xlsx_cells

ROWS = 5000


def _row(n: int, **cells) -> dict:
    units = ("DEPT-A", "SUB-A1", "DEPT-B")
    row = {"外部编号": f"XC-2026-{n:05d}", "问题来源": "巡视巡察", "问题描述": f"第{n}号问题：台账记录不完整",
           "整改措施": "建立台账制度", "责任单位": units[n % 3], "整改时限": dt.date(2026, 6, 30), "当前状态": "整改中",
           "最近进展": "正在推进", "专项/批次": "2026-XC-R1"}
    row.update(cells)
    return row


def test_a_5000_row_ledger_with_bad_rows_imports_nothing_then_all_then_nothing_again(client, world, rt):
    rows = [_row(n) for n in range(ROWS)]
    rows[1233] = _row(1233, 责任单位="NO-SUCH-UNIT")
    rows[2344] = _row(2344, 整改时限="2026-02-30")
    rows[4998] = _row(4998, 问题描述=None)
    before = table_counts(rt)
    refused = upload(client, world.h("reg"), ledger_file(rows))
    body = assert_problem(refused, 422)
    # Spreadsheet rows: the header is row 1, so list row n is spreadsheet row n + 2.
    assert [(e["row"], e["column"]) for e in body["errors"]] == [
        (1235, "责任单位"), (2346, "整改时限"), (5000, "问题描述")], body["errors"]
    assert "2026-02-30" in body["errors"][1]["detail"] and body["error_count"] == 3
    assert body["detail"].startswith("row 1235, column 责任单位")
    assert table_counts(rt) == before

    fixed = ledger_file([_row(n) for n in range(ROWS)])
    dry = upload(client, world.h("reg"), fixed, params={"dry_run": "true"})
    assert dry.json() == {"created": ROWS, "unchanged": 0, "dry_run": True, **NO_DIFFERENCES}
    assert table_counts(rt) == before
    done = upload(client, world.h("reg"), fixed)
    assert done.status_code == 200, done.text
    assert done.json() == {"created": ROWS, "unchanged": 0, "dry_run": False, **NO_DIFFERENCES}
    again = upload(client, world.h("reg"), fixed)
    assert again.json() == {"created": 0, "unchanged": ROWS, "dry_run": False, **NO_DIFFERENCES}
    listed = client.get("/api/v1/items", params={"count": "true", "limit": 1}, headers=world.h("reg")).json()
    assert listed["total"] == ROWS
    assert client.get("/api/v1/audit/verify", headers=world.h("aud")).json()["ok"] is True


def test_title_rows_above_the_header_and_any_column_order_are_read(client, world, rt):
    data = ledger_file([_row(1), _row(2, 外部编号=None, 当前状态="assigned")], title_rows=2)
    done = upload(client, world.h("reg"), data)
    assert done.json()["created"] == 2, done.text
    states = sorted(i["state"] for i in client.get("/api/v1/items", headers=world.h("reg")).json()["data"])
    assert states == ["assigned", "rectifying"]
    reordered = ",".join(reversed(["问题来源", "问题描述", "责任单位", "外部编号"])) + "\r\nXC-9,DEPT-A,描述,审计\r\n"
    done = upload(client, world.h("reg"), reordered.encode("utf-8"), name="a.csv")
    assert done.json()["created"] == 1, done.text
    item = client.get("/api/v1/items", params={"q": "XC-9"}, headers=world.h("reg")).json()["data"][0]
    assert (item["source"], item["unit"], item["title"], item["state"]) == ("audit", "DEPT-A", "描述", "identified")
    gbk = "问题来源,问题描述,责任单位\r\n自查自纠,制度不健全,DEPT-B\r\n".encode("gb18030")
    assert upload(client, world.h("reg"), gbk, name="b.csv").json()["created"] == 1


@pytest.mark.parametrize("number", ["A-B/C", "-", "ZG-2026-😀", "ZG-2026-\t1", "ZG 2026 1", "ZG2026000001",
                                    "ZG-2026-00\x1b[31m"])
def test_a_number_no_installation_writes_is_a_row_error(client, world, rt, number):
    before = table_counts(rt)
    refused = assert_problem(upload(client, world.h("reg"), ledger_file([_row(1, 编号=number)])), 422)
    assert [(e["row"], e["column"]) for e in refused["errors"]] == [(2, "编号")], refused
    assert table_counts(rt) == before


def test_a_serial_longer_than_this_installation_writes_is_kept_but_moves_no_sequence(client, world):
    rows = [_row(1, 编号="ZG-2026-999999999"), _row(2, 编号="督查-2026-17")]
    assert upload(client, world.h("reg"), ledger_file(rows)).json()["created"] == 2
    assert new_item(client, world)["number"] == "ZG-2026-000001"


def test_numbers_are_kept_when_free_given_when_blank_and_refused_when_taken(client, world, rt):
    existing = new_item(client, world)
    rows = [_row(1, 编号="ZG-2026-000500"), _row(2), _row(3, 编号=existing["number"])]
    refused = assert_problem(upload(client, world.h("reg"), ledger_file(rows)), 422)
    assert [(e["row"], e["column"]) for e in refused["errors"]] == [(4, "编号")]
    # Which of the two it is the row cannot say: the same item edited (restore it), or another (leave 编号 blank).
    assert refused["errors"][0]["detail"] == (
        f"编号 {existing['number']} is taken by an item whose 问题来源 or 外部编号 differ from this row's: if the row "
        "is that item, restore those cells (an import never changes an item); if it is another problem, leave 编号 "
        "blank to give it a new number")
    done = upload(client, world.h("reg"), ledger_file(rows[:2]))
    assert done.json()["created"] == 2
    numbers = {i["external_ref"]: i["number"] for i in
               client.get("/api/v1/items", headers=world.h("reg")).json()["data"]}
    assert numbers["XC-2026-00001"] == "ZG-2026-000500"
    assert numbers["XC-2026-00002"] == "ZG-2026-000002"
    # The sequence moved past the kept number: the next registration does not collide with it.
    assert new_item(client, world)["number"] == "ZG-2026-000501"
    # A row without 外部编号 is recognised by its 编号 on a second import; one with neither is new each time.
    plain = [_row(4, 外部编号=None, 编号="ZG-2026-000900"), _row(5, 外部编号=None)]
    assert upload(client, world.h("reg"), ledger_file(plain)).json()["created"] == 2
    assert upload(client, world.h("reg"), ledger_file(plain)).json() == {"created": 1, "unchanged": 1,
                                                                         "dry_run": False, **NO_DIFFERENCES}


def test_rows_are_checked_as_item_creation_checks_them(client, world, rt):
    rows = [_row(1, 责任人="asg_b"), _row(2, 当前状态="不存在的状态"), _row(3, 问题来源="网上"),
            _row(4, 销号日期="2026-03-01"), _row(6, 问题描述=None), _row(7, 责任人="nobody"), _row(8),
            _row(9, 外部编号="XC-2026-00008")]
    body = assert_problem(upload(client, world.h("reg"), ledger_file(rows)), 422)
    assert [(e["row"], e["column"]) for e in body["errors"]] == [
        (2, "责任人"), (3, "当前状态"), (4, "问题来源"), (5, "销号日期"), (6, "问题描述"), (7, "责任人"), (9, "外部编号")]
    # Unit scope: a DEPT-A registrar may not import DEPT-B's rows; an assignee may not import at all.
    scoped = assert_problem(upload(client, world.h("reg_a"), ledger_file([_row(0, 责任单位="DEPT-A"),
                                                                          _row(2)])), 422)
    assert [(e["row"], e["column"]) for e in scoped["errors"]] == [(3, "责任单位")]
    # Another unit's code answers as a code that names no unit: the file does not tell which units exist.
    nowhere = assert_problem(upload(client, world.h("reg_a"), ledger_file([_row(2, 责任单位="NOWHERE")])), 422)
    assert [e["detail"].replace("NOWHERE", "DEPT-B") for e in nowhere["errors"]] == [
        e["detail"] for e in scoped["errors"]] == ["unit 'DEPT-B' does not exist or is outside reg_a's units"]
    assert assert_problem(upload(client, world.h("asg_a"), ledger_file([_row(1)])), 403)["reason"] == "role"
    # Closed with a 销号日期: the ledger's closing date is kept.
    done = upload(client, world.h("reg"), ledger_file([_row(9, 当前状态="已销号", 销号日期="2026-02-27")]))
    assert done.json()["created"] == 1, done.text
    cells = xlsx_cells(client.get("/api/v1/ledger.xlsx", headers=world.h("reg")).content)
    assert cells[1][HEADERS.index("销号日期")].date() == dt.date(2026, 2, 27)


def _zip_without_a_workbook() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("readme.txt", "not a workbook")
    return out.getvalue()


@pytest.mark.parametrize("data, name, words", [
    (b"", "a.xlsx", "empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(200), "a.xlsx", "neither"),
    (_zip_without_a_workbook(), "a.xlsx", "not a readable"),
    ("名称,数量\r\n一,二\r\n".encode(), "a.csv", "no header row"),
    ("问题来源,问题描述,责任单位,备注\r\n审计,描述,DEPT-A,x\r\n".encode(), "a.csv", "unknown column"),
    ("问题描述,责任单位,整改措施\r\n描述,DEPT-A,x\r\n".encode(), "a.csv", "lacks the column"),
    ("问题来源,问题描述,责任单位\r\n".encode(), "a.csv", "no rows"),
    ("问题来源,问题描述,问题描述,责任单位\r\n".encode(), "a.csv", "appears twice"),
])
def test_broken_files_are_refused_clearly_and_change_nothing(client, world, rt, data, name, words):
    before = table_counts(rt)
    body = assert_problem(upload(client, world.h("reg"), data, name=name), 422)
    assert words in body["detail"] and body["field"] == "file"
    assert table_counts(rt) == before


def test_requests_that_are_not_a_ledger_upload_are_refused(client, world, rt):
    assert_problem(client.post("/api/v1/items/import", json={"file": "x"}, headers=world.h("reg")), 422)
    assert_problem(client.post("/api/v1/items/import", files={"other": ("a.csv", b"x")}, headers=world.h("reg")), 422)
    assert_problem(upload(client, world.h("reg"), ledger_file([_row(1)]), params={"workflow": "nope"}), 422)


def test_the_row_and_size_limits_are_clear(client, world, rt):
    rt.settings.ledger_max_rows = 2
    body = assert_problem(upload(client, world.h("reg"), ledger_file([_row(n) for n in range(3)])), 422)
    assert "more than 2 rows" in body["detail"]
    rt.settings.ledger_max_bytes = 100
    body = assert_problem(upload(client, world.h("reg"), ledger_file([_row(1)])), 413)
    assert "limited to 100 bytes" in body["detail"]


_TEXT = st.text(max_size=40)  # any code point: CJK, emoji, controls, lone surrogates
_PLAIN_JSON = st.recursive(st.none() | st.booleans() | st.integers(-(2 ** 63), 2 ** 63 - 1) | _TEXT,
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
                           max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(fields=st.dictionaries(_TEXT, _PLAIN_JSON, max_size=8), comment=_TEXT, actor=_TEXT)
def test_an_imported_record_is_built_as_the_history_builds_records(fields, comment, actor):
    """The import hashes its first records with orjson straight from plain JSON; engine.history, the reference,
    converts and encodes them its own way. Both must give the same record and hash for any plain JSON fields."""
    from engine import history
    from engine.ledger.registering import first_record

    at = "2026-03-02T01:00:00.000000Z"
    mine = first_record("id-1", "rectifying", actor, at, comment, fields)
    theirs = history.new_record(item_id="id-1", seq=1, trigger="import", from_state=None, to_state="rectifying",
                                actor=actor, at=at, comment=comment, evidence=[], fields=fields,
                                prev_hash=history.GENESIS)
    assert mine == theirs


def test_a_write_that_fails_part_way_leaves_nothing_and_no_write_running(world, rt):
    """The rows go in chunk by chunk on a write thread (engine.store.write_behind): a chunk that fails after one
    went in, with more chunks built behind it, takes the whole import back, and nothing is left writing."""
    # A fault in the items table: the 1,501st row of the file cannot be written (the second chunk of five).
    refuse_inserts(rt, "items", "no room", when="new.external_ref = 'XC-2026-01500'")
    before = table_counts(rt)
    with rt.store.read() as conn:
        registrar = accounts.authenticate(conn, world.tokens["reg"])
    with pytest.raises(Exception, match="no room") as failed:
        import_ledger(rt, registrar, ledger_file([_row(n) for n in range(ROWS)]))
    assert type(failed.value).__module__.split(".")[0] in ("sqlite3", "psycopg"), failed.value
    assert [t.name for t in threading.enumerate() if t.name == "closeloop-write-behind"] == []
    assert table_counts(rt) == before

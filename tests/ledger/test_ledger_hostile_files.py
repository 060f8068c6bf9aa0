"""Workbooks as spreadsheets and attackers make them: dates where text belongs, numbers no day can be, cells
past the last column, a sheet that unpacks a thousand fold. Each is a clear 422 that imports nothing."""
from __future__ import annotations

import datetime as dt
import io
import re
import time
import zipfile

import pytest

from tests.helpers import assert_problem, table_counts
from tests.ledger.support import ledger_file, upload

ROW = {"外部编号": "X-1", "问题来源": "巡视巡察", "问题描述": "食堂台账不全", "责任单位": "DEPT-A",
       "整改时限": dt.date(2026, 6, 30)}
SHEET = "xl/worksheets/sheet1.xml"
DATED = 's="2"'  # the style the ledger writer gives its date cells (整改时限 of row 2 carries it)


def _rebuilt(data: bytes, change, part_name: str = SHEET) -> bytes:
    """The workbook with one part's XML (its sheet's unless named) passed through ``change``."""
    source, out = zipfile.ZipFile(io.BytesIO(data)), io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as book:
        for name in source.namelist():
            part = source.read(name)
            book.writestr(name, change(part.decode()).encode() if name == part_name else part)
    return out.getvalue()


def _with_cell(ref: str, xml: str) -> bytes:
    data = ledger_file([ROW])
    assert DATED in zipfile.ZipFile(io.BytesIO(data)).read(SHEET).decode()
    return _rebuilt(data, lambda sheet: re.sub(rf'<c r="{ref}"[^>]*>.*?</c>', xml, sheet, count=1))


def test_a_date_typed_into_a_text_column_reads_as_the_text_it_shows(client, world, rt):
    # 46203 is 2026-06-30: a unit column formatted as a date by mistake names no unit, and says so.
    refused = upload(client, world.h("reg"), _with_cell("G2", f'<c r="G2" {DATED}><v>46203</v></c>'))
    body = assert_problem(refused, 422)
    assert body["errors"] == [{"row": 2, "column": "责任单位",
                               "detail": "unit '2026-06-30' does not exist or is outside reg's units"}], body
    before = table_counts(rt)
    described = upload(client, world.h("reg"), _with_cell("E2", f'<c r="E2" {DATED}><v>46203.5</v></c>'))
    assert described.status_code == 200, described.text
    item = client.get("/api/v1/items?q=2026-06-30 12:00", headers=world.h("reg")).json()["data"]
    assert [i["title"] for i in item] == ["2026-06-30 12:00:00"]
    assert table_counts(rt)["items"] == before["items"] + 1


def test_a_boolean_cell_reads_as_the_word_the_spreadsheet_shows(client, world):
    refused = upload(client, world.h("reg"), _with_cell("G2", '<c r="G2" t="b"><v>1</v></c>'))
    assert assert_problem(refused, 422)["errors"] == [
        {"row": 2, "column": "责任单位", "detail": "unit 'TRUE' does not exist or is outside reg's units"}]


@pytest.mark.parametrize("serial", ["99999999", "-800000", "1e400", "-1e400", "nan"])
def test_a_date_cell_no_calendar_can_show_is_a_row_error(client, world, rt, serial):
    before = table_counts(rt)
    refused = upload(client, world.h("reg"), _with_cell("I2", f'<c r="I2" {DATED}><v>{serial}</v></c>'))
    body = assert_problem(refused, 422)
    assert [(e["row"], e["column"]) for e in body["errors"]] == [(2, "整改时限")], body
    assert table_counts(rt) == before


@pytest.mark.parametrize(("cell", "says"), [
    ('<c r="ZZZZZZZZZZ2" t="inlineStr"><is><t>x</t></is></c>', "outside the sheet's columns"),
    ('<c r="XFE2" t="inlineStr"><is><t>x</t></is></c>', "outside the sheet's columns"),
    ('<c r="G2" t="inlineStr"><is><t>&#99999999999;</t></is></c>', "beyond Unicode"),
    ('<c r="G2" t="inlineStr"><is><t>&#x110000;</t></is></c>', "beyond Unicode"),
])
def test_a_cell_no_spreadsheet_could_hold_refuses_the_file_quickly(client, world, rt, cell, says):
    before = table_counts(rt)
    started = time.process_time()
    body = assert_problem(upload(client, world.h("reg"), _with_cell("G2", cell)), 422)
    assert body["field"] == "file" and says in body["detail"], body
    assert time.process_time() - started < 5
    assert table_counts(rt) == before


def test_a_sheet_that_would_unpack_a_thousand_fold_is_refused_unread(client, world, rt):
    # 200 MB of blanks pack into about 200 KB: read whole, the sheet would cost the server gigabytes.
    bomb = _rebuilt(ledger_file([ROW]), lambda sheet: sheet.replace("<sheetData>", "<sheetData>" + " " * 200_000_000))
    assert len(bomb) < 1_000_000
    before = table_counts(rt)
    started = time.process_time()
    body = assert_problem(upload(client, world.h("reg"), bomb), 422)
    assert body["field"] == "file" and "far more than a spreadsheet's" in body["detail"], body
    assert time.process_time() - started < 5
    assert table_counts(rt) == before


def test_a_sheet_larger_than_an_import_reads_is_refused_naming_the_limit(client, world, rt):
    rt.settings.ledger_max_bytes = 8192  # so the most a sheet may unpack to is 64 KB
    rows = [{**ROW, "外部编号": f"X-{n}", "问题描述": f"第{n}号问题" + "情况说明" * 20} for n in range(150)]
    data = ledger_file(rows)
    sheet = zipfile.ZipFile(io.BytesIO(data)).getinfo(SHEET)
    assert len(data) < 8192 and 8 * 8192 < sheet.file_size < 100 * sheet.compress_size
    body = assert_problem(upload(client, world.h("reg"), data), 422)
    assert "more than the 65,536 an import reads" in body["detail"], body


@pytest.mark.parametrize("reference", ["&#xD800;", "&#xDFFF;"])
def test_a_lone_surrogate_in_a_refused_row_is_named_not_sent_to_the_database(client, world, rt, reference):
    # The row is refused for its 外部编号; looking for an item it might name must not hand the text to the driver.
    before = table_counts(rt)
    cell = f'<c r="C2" t="inlineStr"><is><t>X{reference}1</t></is></c>'
    body = assert_problem(upload(client, world.h("reg"), _with_cell("C2", cell)), 422)
    assert [(e["row"], e["column"]) for e in body["errors"]] == [(2, "外部编号")], body
    assert "lone surrogate" in body["errors"][0]["detail"]
    assert table_counts(rt) == before


def test_dates_of_a_workbook_on_the_1904_date_system_are_read_as_shown(client, world, rt):
    # Excel for Mac could save workbooks counting days from 1904-01-01: 2026-06-30 is then 44741, not 46203.
    shifted = _with_cell("I2", f'<c r="I2" {DATED}><v>44741</v></c>')
    data = _rebuilt(shifted, lambda xml: xml.replace("<sheets>", '<workbookPr date1904="1"/><sheets>'),
                    "xl/workbook.xml")
    assert upload(client, world.h("reg"), data).json()["created"] == 1
    item = client.get("/api/v1/items?q=食堂台账不全", headers=world.h("reg")).json()["data"][0]
    assert item["due_date"] == "2026-06-30"


@pytest.mark.parametrize(("cell", "column", "says"), [
    ('<c r="F2" t="e"><v>#DIV/0!</v></c>', "整改措施", "spreadsheet error #DIV/0!"),
    ('<c r="G2" t="inlineStr"><is><t>DEPT-A</t></is></c><c r="R2" t="inlineStr"><is><t>备注：另案处理</t></is></c>',
     "column R", "has no header"),
])
def test_a_cell_the_import_would_lose_or_misread_is_a_row_error(client, world, rt, cell, column, says):
    before = table_counts(rt)
    body = assert_problem(upload(client, world.h("reg"), _with_cell("G2", cell)), 422)
    assert [(e["row"], e["column"]) for e in body["errors"]] == [(2, column)], body
    assert says in body["errors"][0]["detail"]
    assert table_counts(rt) == before


def test_a_csv_value_past_the_last_header_is_a_row_error(client, world, rt):
    data = ledger_file([ROW], kind="csv")
    lines = data.decode("utf-8-sig").split("\r\n")
    lines[1] += ",,,备注"
    body = assert_problem(upload(client, world.h("reg"), "\r\n".join(lines).encode("utf-8-sig"), name="台账.csv"), 422)
    assert [(e["row"], e["column"]) for e in body["errors"]] == [(2, "column R")], body


def test_an_iso_date_cell_is_its_date_and_an_uncalculated_formula_in_a_computed_column_is_ignored(client, world, rt):
    # LibreOffice may write dates as t="d"; 逾期天数 is computed by closeloop, whatever a formula there says.
    data = _rebuilt(ledger_file([ROW]), lambda sheet: re.sub(
        r'<c r="I2"[^>]*>.*?</c>', '<c r="I2" t="d"><v>2026-06-30</v></c><c r="L2"><f>TODAY()-I2</f><v></v></c>',
        sheet, count=1))
    answer = upload(client, world.h("reg"), data)
    assert answer.status_code == 200 and answer.json()["created"] == 1, answer.text
    item = client.get("/api/v1/items?q=食堂台账不全", headers=world.h("reg")).json()["data"][0]
    assert item["due_date"] == "2026-06-30"


@pytest.mark.parametrize(("cell", "says"), [
    ('<c r="G2" t="s"><v>99</v></c>', "its cell G2 names shared text 99, which the workbook does not hold"),
    ('<c r="G2"><v>12</c>', "its cell G2 holds a value no spreadsheet writes"),
])
def test_a_cell_no_spreadsheet_writes_is_named_by_its_reference(client, world, rt, cell, says):
    body = assert_problem(upload(client, world.h("reg"), _with_cell("G2", cell)), 422)
    assert says in body["detail"], body


def test_a_templates_rows_with_only_their_serial_filled_in_are_skipped(client, world, rt):
    rows = [ROW] + [{"序号": n} for n in range(2, 40)]
    answer = upload(client, world.h("reg"), ledger_file(rows))
    assert answer.status_code == 200 and answer.json()["created"] == 1, answer.text


def test_a_too_long_external_reference_is_named_in_characters(client, world, rt):
    before = table_counts(rt)
    refused = upload(client, world.h("reg"), ledger_file([{**ROW, "外部编号": "R" * 101}]))
    assert assert_problem(refused, 422)["errors"] == [
        {"row": 2, "column": "外部编号", "detail": "String should have at most 100 characters"}]
    assert table_counts(rt) == before


@pytest.mark.parametrize("kind", ["xlsx", "csv"])
def test_dates_typed_as_text_the_way_chinese_ledgers_write_them_are_read(client, world, rt, kind):
    written = ["2026-06-30", "2026/7/1", "2026.7.2", "2026年7月3日", "２０２６年７月６日", "2026 年 7 月 7 日"]
    rows = [{**ROW, "外部编号": f"T-{n}", "整改时限": text} for n, text in enumerate(written)]
    done = upload(client, world.h("reg"), ledger_file(rows, kind=kind), name=f"台账.{kind}")
    assert done.status_code == 200 and done.json()["created"] == len(written), done.text
    listed = client.get("/api/v1/items?q=T-&limit=50", headers=world.h("reg")).json()["data"]
    assert sorted(i["due_date"] for i in listed) == ["2026-06-30", "2026-07-01", "2026-07-02", "2026-07-03",
                                                      "2026-07-06", "2026-07-07"]


@pytest.mark.parametrize("text, why", [("30/6/2026", "must be a date written YYYY-MM-DD"),
                                       ("2026年2月30日", "is not a real calendar date"),
                                       ("2026-6/30", "must be a date written YYYY-MM-DD"),
                                       ("20260630", "must be a date written YYYY-MM-DD")])
def test_a_text_date_that_is_ambiguous_or_impossible_is_a_row_error(client, world, rt, text, why):
    before = table_counts(rt)
    refused = upload(client, world.h("reg"), ledger_file([{**ROW, "整改时限": text}], kind="csv"), name="台账.csv")
    [error] = assert_problem(refused, 422)["errors"]
    assert (error["row"], error["column"], error["detail"]) == (
        2, "整改时限", f"{text!r}: {why} (2026-06-30, 2026/6/30 and 2026年6月30日 are read)"), error
    assert table_counts(rt) == before


def test_the_person_responsible_may_be_written_by_name(client, world, rt):
    # A ledger from another office names the person (李明), not their username; a namesake in another unit is
    # no concern of the row, two in the row's unit are.
    from engine import accounts

    with rt.store.write() as conn:
        for username, name, unit in (("li.ming", "李明", "DEPT-A"), ("li.ming2", "李明", "DEPT-B"),
                                     ("wang.fang", "王芳", "DEPT-A"), ("wang.fang2", "王芳", "DEPT-A")):
            accounts.add_user(conn, clock=rt.clock, actor="cli:tests", username=username, roles=["assignee"],
                              unit=unit, display_name=name)
    named = upload(client, world.h("reg"), ledger_file([{**ROW, "责任人": "李明"}]))
    assert named.status_code == 200 and named.json()["created"] == 1, named.text
    [item] = client.get("/api/v1/items?q=X-1", headers=world.h("reg")).json()["data"]
    assert item["assignee"] == "li.ming"
    before = table_counts(rt)
    # 李明 of DEPT-A cannot take SUB-A1's item, and the answer is the same as for a name nobody bears.
    rows = [{**ROW, "外部编号": "X-2", "责任人": "王芳"}, {**ROW, "外部编号": "X-3", "责任单位": "SUB-A1", "责任人": "李明"},
            {**ROW, "外部编号": "X-4", "责任人": "赵无名"}]
    refused = upload(client, world.h("reg"), ledger_file(rows))
    assert [(e["row"], e["column"], e["detail"]) for e in assert_problem(refused, 422)["errors"]] == [
        (2, "责任人", "several users of the unit are named '王芳' (wang.fang, wang.fang2); write the username"),
        (3, "责任人", "'李明' is no user's username, nor the name of an active user with the assignee role in the "
                    "row's unit"),
        (4, "责任人", "'赵无名' is no user's username, nor the name of an active user with the assignee role in the "
                    "row's unit")]
    assert table_counts(rt) == before


def _styled(data: bytes, number_format: str) -> bytes:
    """The workbook with its date style (s="2") showing ``number_format``: a built-in id, or a custom code."""
    def change(styles: str) -> str:
        if number_format.isdigit() and not number_format.startswith("0"):  # a built-in format, which a zh-CN Excel or WPS writes without defining it
            return styles.replace('<xf numFmtId="164"', f'<xf numFmtId="{number_format}"')
        return styles.replace('formatCode="yyyy\\-mm\\-dd"', f'formatCode="{number_format}"')
    return _rebuilt(data, change, "xl/styles.xml")


@pytest.mark.parametrize("number_format", ["31", "28", "58", "14", 'yyyy&quot;年&quot;m&quot;月&quot;d&quot;日&quot;'])
def test_a_date_cell_in_a_chinese_format_is_its_date(client, world, rt, number_format):
    # 31 is yyyy"年"m"月"d"日", 28 and 58 m"月"d"日": Excel in zh-CN writes them without defining them.
    done = upload(client, world.h("reg"), _styled(ledger_file([ROW]), number_format))
    assert done.status_code == 200 and done.json()["created"] == 1, done.text
    [item] = client.get("/api/v1/items?q=X-1", headers=world.h("reg")).json()["data"]
    assert item["due_date"] == "2026-06-30"


@pytest.mark.parametrize("number_format, shown", [("57", "2026年6月"), ("17", "2026-06"),
                                                  ('yyyy&quot;年&quot;m&quot;月&quot;', "2026年6月")])
def test_a_date_cell_that_shows_only_a_month_is_no_deadline_and_reads_as_the_month_elsewhere(client, world, rt,
                                                                                          number_format, shown):
    before = table_counts(rt)
    refused = upload(client, world.h("reg"), _styled(ledger_file([ROW]), number_format))
    assert assert_problem(refused, 422)["errors"] == [
        {"row": 2, "column": "整改时限", "detail": f"shows only a month ({shown}), no day: write the day, such as "
                                                  "2026年6月30日"}]
    assert table_counts(rt) == before
    # In a text column the cell is the text the sheet shows: the month, not its first day.
    assert '<c r="O2"' not in zipfile.ZipFile(io.BytesIO(ledger_file([ROW]))).read(SHEET).decode()
    as_campaign = _rebuilt(_styled(ledger_file([{**ROW, "整改时限": None}]), number_format), lambda sheet: re.sub(
        r'(<row r="2".*?)(</row>)', r'\1<c r="O2" s="2"><v>46203</v></c>\2', sheet, count=1, flags=re.S))
    done = upload(client, world.h("reg"), as_campaign)
    assert done.status_code == 200, done.text
    [item] = client.get("/api/v1/items?q=X-1", headers=world.h("reg")).json()["data"]
    assert item["campaign"] == shown


@pytest.mark.parametrize("cell", ['<c r="I2" s="2"><f>DATE(2026,6,30)</f><v></v></c>',
                                  '<c r="I2" s="2"><f>DATE(2026,6,30)</f></c>'])
def test_a_formula_no_spreadsheet_calculated_is_a_row_error_not_an_empty_cell(client, world, rt, cell):
    # openpyxl and pandas write formulas without their values: the sheet shows 2026-06-30 once opened, but
    # the file holds nothing to import, and an empty deadline would have been taken silently.
    before = table_counts(rt)
    refused = upload(client, world.h("reg"), _with_cell("I2", cell))
    [error] = assert_problem(refused, 422)["errors"]
    assert (error["row"], error["column"]) == (2, "整改时限") and "never calculated" in error["detail"], error
    assert table_counts(rt) == before


def test_headers_typed_with_line_breaks_spaces_or_full_width_forms_name_their_columns(client, world, rt):
    data = ledger_file([{**ROW, "专项/批次": "2026专项"}], kind="csv").decode("utf-8-sig")
    header, rest = data.split("\r\n", 1)
    typed = header.replace("整改时限", '"整改\n时限"').replace("序号", "序  号").replace("专项/批次", "专项／批次")
    done = upload(client, world.h("reg"), ("\ufeff" + typed + "\r\n" + rest).encode(), name="台账.csv")
    assert done.status_code == 200 and done.json()["created"] == 1, done.text
    [item] = client.get("/api/v1/items?q=X-1", headers=world.h("reg")).json()["data"]
    assert (item["due_date"], item["campaign"]) == ("2026-06-30", "2026专项")


def test_a_unit_merged_down_over_its_problems_rows_is_each_rows_unit(client, world, rt):
    # Offices merge 责任单位 and 问题来源 down over the rows of one unit's problems; only the top cell holds them.
    from openpyxl import Workbook

    from engine.ledger.columns import HEADERS

    book = Workbook()
    sheet = book.active
    sheet.append(list(HEADERS))
    where = {name: HEADERS.index(name) + 1 for name in ("外部编号", "问题来源", "问题描述", "责任单位")}
    for row, (ref, title) in enumerate([("M-1", "食堂台账不全"), ("M-2", "消防通道堵塞"), ("M-3", "校车未年检")], 2):
        sheet.cell(row, where["外部编号"], ref)
        sheet.cell(row, where["问题描述"], title)
    sheet.cell(2, where["问题来源"], "巡视巡察")
    sheet.cell(2, where["责任单位"], "DEPT-A")
    for name in ("问题来源", "责任单位"):
        sheet.merge_cells(start_row=2, end_row=4, start_column=where[name], end_column=where[name])
    sheet.cell(5, where["外部编号"], "M-4")  # below the merge: its own row, its own (missing) unit
    sheet.cell(5, where["问题描述"], "另一单位的问题")
    out = io.BytesIO()
    book.save(out)
    before = table_counts(rt)
    refused = upload(client, world.h("reg"), out.getvalue())
    assert [(e["row"], e["column"]) for e in assert_problem(refused, 422)["errors"]] == [(5, "问题来源"), (5, "责任单位")]
    assert table_counts(rt) == before
    sheet.delete_rows(5)
    out = io.BytesIO()
    book.save(out)
    done = upload(client, world.h("reg"), out.getvalue())
    assert done.status_code == 200 and done.json()["created"] == 3, done.text
    listed = client.get("/api/v1/items?q=M-&limit=10", headers=world.h("reg")).json()["data"]
    assert sorted((i["external_ref"], i["unit"], i["source"]) for i in listed) == [
        ("M-1", "DEPT-A", "inspection"), ("M-2", "DEPT-A", "inspection"), ("M-3", "DEPT-A", "inspection")]


def test_a_hidden_first_sheet_is_passed_over_for_the_sheet_the_clerk_sees(client, world, rt):
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(ledger_file([ROW])))
    notes = book.create_sheet("说明", 0)
    notes.append(["填表说明：每个问题一行"])
    notes.sheet_state = "hidden"
    book.active = 1
    out = io.BytesIO()
    book.save(out)
    done = upload(client, world.h("reg"), out.getvalue())
    assert done.status_code == 200 and done.json()["created"] == 1, done.text


@pytest.mark.parametrize("data, says", [
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504, "Excel 97-2003 (.xls) or WPS (.et) workbook"),
    ("序号\t编号\t问题来源\t问题描述\t责任单位\r\n".encode("utf-16"), "UTF-16 text"),
    ("\ufeff序号;编号;问题来源;问题描述;责任单位\r\n1;;巡视巡察;食堂台账不全;DEPT-A\r\n".encode(), "CSV with commas"),
])
def test_a_file_saved_in_the_wrong_form_says_how_to_save_it(client, world, rt, data, says):
    before = table_counts(rt)
    body = assert_problem(upload(client, world.h("reg"), data, name="台账.csv"), 422)
    assert says in body["detail"], body
    assert table_counts(rt) == before


def test_a_signature_line_under_the_table_is_named_as_no_problem(client, world, rt):
    before = table_counts(rt)
    refused = upload(client, world.h("reg"), ledger_file([ROW, {"编号": "填报人：张三", "整改措施": "审核人：李四"}]))
    [error] = assert_problem(refused, 422)["errors"]
    assert (error["row"], error["column"]) == (3, "问题描述"), error
    assert error["detail"].startswith("the row describes no problem (问题来源, 问题描述 and 责任单位 are empty; it "
                                      "holds 编号 '填报人：张三', 整改措施 '审核人：李四')"), error
    assert table_counts(rt) == before


@pytest.mark.parametrize("number_format, shown", [("0000", "0012"), ('&quot;XC-&quot;000', "XC-012")])
def test_a_number_padded_by_its_format_reads_as_the_sheet_shows_it(client, world, rt, number_format, shown):
    # 外部编号 typed as 12 in a column formatted 0000 shows 0012; read as 12, a later file's text 0012 would not
    # find the item and would register it again.
    data = _rebuilt(_styled(ledger_file([{**ROW, "整改时限": None}]), number_format), lambda sheet: re.sub(
        r'<c r="C2"[^>]*>.*?</c>', '<c r="C2" s="2"><v>12</v></c>', sheet, count=1))
    done = upload(client, world.h("reg"), data)
    assert done.status_code == 200 and done.json()["created"] == 1, done.text
    [item] = client.get("/api/v1/items?q=食堂台账不全", headers=world.h("reg")).json()["data"]
    assert item["external_ref"] == shown


def test_a_problem_described_in_one_long_paragraph_takes_its_first_sentence_as_title(client, world, rt):
    first = "学校食堂未落实食品留样制度。"
    paragraph = first + "检查发现该校食堂近三个月留样记录缺失，部分菜品未按规定留样，" * 12
    unpunctuated = "某" * 250
    rows = [{**ROW, "问题描述": paragraph}, {**ROW, "外部编号": "X-2", "问题描述": unpunctuated}]
    done = upload(client, world.h("reg"), ledger_file(rows))
    assert done.status_code == 200 and done.json()["created"] == 2, done.text
    listed = {i["external_ref"]: i for i in client.get("/api/v1/items?q=X-", headers=world.h("reg")).json()["data"]}
    assert (listed["X-1"]["title"], listed["X-1"]["description"]) == (first, paragraph)  # nothing of it lost
    assert (listed["X-2"]["title"], listed["X-2"]["description"]) == ("某" * 199 + "…", unpunctuated)

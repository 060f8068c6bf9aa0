"""Ledgers as offices type them, at the edges of what the import reads: formulas showing nothing, merges that
run past the table or through its header, formats that would make a cell a megabyte, titles cut at a sentence."""
from __future__ import annotations

import io
import re
import time
import zipfile

import pytest
from openpyxl import Workbook
from openpyxl.utils import get_column_letter

from engine.ledger.columns import HEADERS
from engine.ledger.reading import read_ledger
from tests.helpers import assert_problem, table_counts
from tests.ledger.support import ledger_file, upload
from tests.ledger.test_ledger_hostile_files import ROW, SHEET, _rebuilt, _styled

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the file's reading: one store serves
COLUMN = {name: HEADERS.index(name) + 1 for name in HEADERS}


def _sheet(rows: list[dict], *, header_rows: int = 1) -> Workbook:
    """A workbook with the header (typed ``header_rows`` rows tall, each header cell merged down) and the rows
    under it."""
    book = Workbook()
    sheet = book.active
    for name in HEADERS:
        sheet.cell(1, COLUMN[name], name)
        if header_rows > 1:
            sheet.merge_cells(start_row=1, end_row=header_rows, start_column=COLUMN[name], end_column=COLUMN[name])
    for number, row in enumerate(rows, header_rows + 1):
        for name, value in row.items():
            sheet.cell(number, COLUMN[name], value)
    return book


def _saved(book: Workbook) -> bytes:
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _book(rows: list[dict], merges: list[tuple[str, int, int]], *, header_rows: int = 1) -> bytes:
    """``_sheet`` saved, with ``merges`` of (column, first row, last row)."""
    book = _sheet(rows, header_rows=header_rows)
    for name, first, last in merges:
        book.active.merge_cells(start_row=first, end_row=last, start_column=COLUMN[name], end_column=COLUMN[name])
    return _saved(book)


def _sheet_text(data: bytes) -> str:
    return zipfile.ZipFile(io.BytesIO(data)).read(SHEET).decode()


def _problem(ref: str) -> dict:
    return {"外部编号": ref, "问题描述": f"问题{ref}", "整改时限": ROW["整改时限"]}


def test_a_formula_whose_result_is_an_empty_text_is_an_empty_cell(client, world, rt):
    # Excel writes =IF(状态="已销号",日期,"") showing nothing as t="str" with an empty value: calculated, empty.
    def with_cell(row: dict, cell: str) -> bytes:
        data = _rebuilt(ledger_file([row]), lambda sheet: re.sub(r'(<row r="2".*?)(</row>)', rf"\1{cell}\2",
                                                                 sheet, count=1, flags=re.S))
        assert cell in _sheet_text(data)
        return data

    cell = '<c r="N2" t="str"><f>IF(J2="已销号",I2,"")</f><v/></c>'
    done = upload(client, world.h("reg"), with_cell(ROW, cell))
    assert done.status_code == 200 and done.json()["created"] == 1, done.text
    # Without a type it is a formula never calculated (as openpyxl writes them), still a row error.
    uncalculated = with_cell({**ROW, "外部编号": "X-2"}, cell.replace(' t="str"', ""))
    assert assert_problem(upload(client, world.h("reg"), uncalculated), 422)["errors"][0]["column"] == "销号日期"


def test_a_merge_running_past_the_last_problem_makes_no_rows(client, world, rt):
    rows = [{**_problem("P-1"), "问题来源": "巡视巡察", "责任单位": "DEPT-A"}, _problem("P-2"), {}, {}]
    done = upload(client, world.h("reg"), _book(rows, [("问题来源", 2, 5), ("责任单位", 2, 5)]))
    assert done.status_code == 200 and done.json()["created"] == 2, done.text


def test_a_header_typed_two_rows_tall_fills_no_data_row(client, world, rt):
    rows = [{**_problem("P-1"), "问题来源": "巡视巡察", "责任单位": "DEPT-A"}]
    done = upload(client, world.h("reg"), _book(rows, [], header_rows=2))
    assert done.status_code == 200 and done.json()["created"] == 1, done.text


def test_a_block_merged_over_two_columns_fills_its_first_column_down(client, world, rt):
    # 责任单位 merged with 责任人 over three problems: the unit in each row, 责任人 left empty below the first.
    rows = [{**_problem("P-1"), "问题来源": "巡视巡察", "责任单位": "DEPT-A"}, _problem("P-2"), _problem("P-3")]
    book = _sheet(rows)
    book.active.merge_cells(start_row=2, end_row=4, start_column=COLUMN["责任单位"], end_column=COLUMN["责任人"])
    book.active.merge_cells(start_row=2, end_row=4, start_column=COLUMN["问题来源"], end_column=COLUMN["问题来源"])
    done = upload(client, world.h("reg"), _saved(book))
    assert done.status_code == 200 and done.json()["created"] == 3, done.text
    listed = client.get("/api/v1/items?q=问题P-&limit=10", headers=world.h("reg")).json()["data"]
    assert sorted((i["unit"], i["assignee"]) for i in listed) == [("DEPT-A", None)] * 3


def test_merges_over_columns_without_a_header_cost_nothing(client, world, rt):
    # Thousands of merges beside the table (a hostile file, or a drawing made of cells) fill nothing and slow
    # nothing: only the header's columns are filled down.
    rows = [{**_problem(f"P-{n}"), "问题来源": "巡视巡察", "责任单位": "DEPT-A"} for n in range(400)]
    merged = _book(rows, [])
    plain_started = time.process_time()
    read_ledger(merged, max_rows=1000, max_unpacked=1 << 30)
    plain = time.process_time() - plain_started
    book = _sheet(rows)
    for column in range(20, 2020):
        book.active.cell(2, column, "x")
    # The merges written into the sheet's XML as a file carries them: openpyxl's merge_cells makes an object for
    # each of the 800,000 merged cells, which took a minute in a test process holding much else.
    merges = "".join(f'<mergeCell ref="{get_column_letter(c)}2:{get_column_letter(c)}401"/>' for c in range(20, 2020))
    data = _rebuilt(_saved(book), lambda sheet: sheet.replace(
        "</sheetData>", f'</sheetData><mergeCells count="2000">{merges}</mergeCells>', 1))
    assert zipfile.ZipFile(io.BytesIO(data)).read(SHEET).decode().count("<mergeCell ") == 2000
    started = time.process_time()
    read = read_ledger(data, max_rows=1000, max_unpacked=1 << 30)
    # The merges' own top cells are values under no header, named as any such value is; nothing is filled down.
    assert read.problems == {2: ("column T", read.problems[2][1])} and len(read.rows) == 400
    # Not a timing test: a bound far above the plain file's cost that a per-row walk of 2,000 merges would pass.
    assert time.process_time() - started < 10 * plain + 2


def test_a_padding_format_wider_than_any_number_is_a_plain_number(client, world, rt):
    # A format of a million zeros would have made each cell of it a megabyte string.
    data = _styled(_rebuilt(ledger_file([{**ROW, "整改时限": None}]), lambda sheet: re.sub(
        r'<c r="C2"[^>]*>.*?</c>', '<c r="C2" s="2"><v>12</v></c>', sheet, count=1)), "0" * 1000)
    done = upload(client, world.h("reg"), data)
    assert done.status_code == 200, done.text
    [item] = client.get("/api/v1/items?q=食堂台账不全", headers=world.h("reg")).json()["data"]
    assert item["external_ref"] == "12"


@pytest.mark.parametrize("paragraph", ["。" + "某" * 230,  # a mark at the start ends no sentence
                                       "见 http://example.cn/a?b=1;c=2 " + "某" * 230])  # nor does a URL's
def test_a_title_is_not_cut_at_a_mark_that_ends_no_sentence(client, world, rt, paragraph):
    title = paragraph[:199] + "…"
    before = table_counts(rt)
    done = upload(client, world.h("reg"), ledger_file([{**ROW, "问题描述": paragraph}]))
    assert done.status_code == 200, done.text
    [item] = client.get("/api/v1/items?q=X-1", headers=world.h("reg")).json()["data"]
    assert (item["title"], item["description"]) == (title, paragraph)
    assert table_counts(rt)["items"] == before["items"] + 1


def test_a_footer_merged_across_the_table_is_still_named(client, world, rt):
    rows = [{**_problem("P-1"), "问题来源": "巡视巡察", "责任单位": "DEPT-A"}, {"序号": "合计：1项"}]
    refused = upload(client, world.h("reg"), _book(rows, []))
    # 序号 is computed: a total written there alone is an empty row, as a template's numbered rows are.
    assert refused.status_code == 200 and refused.json()["created"] == 1, refused.text
    assert_problem(upload(client, world.h("reg"), _book([{"编号": "合计：1项"}], [])), 422)


@pytest.mark.parametrize(("shown", "fmt"), [("12:00", "h:mm"),           # built-in 20
                                            ("18:30", 'h"时"mm"分"'),     # a custom Chinese time
                                            ("9:05:30", "[h]:mm:ss"),    # built-in 46
                                            ("12:00", "[h]:mm"),         # custom elapsed hours
                                            ("8:15", "[$-804]h:mm")])    # custom, with a locale
def test_a_cell_formatted_as_a_time_of_day_is_no_date(client, world, rt, shown, fmt):
    # 12:00 typed where the due date goes was read as 1899-12-30 (day 0 of the serials) and imported as overdue.
    hours, minutes, seconds = (int(part) for part in (shown + ":0").split(":")[:3])
    serial = 46_203 + (hours * 3600 + minutes * 60 + seconds) / 86_400  # with whole days too: only the time shows
    book = _sheet([{**_problem("T-1"), "问题来源": "巡视巡察", "责任单位": "DEPT-A", "整改时限": serial}])
    book.active.cell(2, COLUMN["整改时限"]).number_format = fmt
    before = table_counts(rt)
    refused = assert_problem(upload(client, world.h("reg"), _saved(book)), 422)
    assert [(e["row"], e["column"]) for e in refused["errors"]] == [(2, "整改时限")]
    assert f"time of day ({shown})" in refused["errors"][0]["detail"]
    assert table_counts(rt) == before


def test_a_time_typed_in_a_date_column_of_a_csv_is_no_date(client, world, rt):
    data = "\ufeff外部编号,问题来源,问题描述,责任单位,整改时限\r\nT-2,巡视巡察,食堂台账不全,DEPT-A,１２：００\r\n".encode()
    refused = assert_problem(upload(client, world.h("reg"), data, name="ledger.csv"), 422)
    assert refused["errors"][0]["column"] == "整改时限" and "time of day" in refused["errors"][0]["detail"]


def test_a_refused_row_the_sheet_hides_says_so(client, world, rt):
    # A ledger filtered down to one unit still holds the other units' rows, hidden: a refusal of one of them
    # says why the importer cannot see it. Hidden rows that pass are imported like the others.
    rows = [{**_problem("H-1"), "问题来源": "巡视巡察", "责任单位": "DEPT-A"},
            {**_problem("H-2"), "问题来源": "巡视巡察", "责任单位": "NOWHERE"},
            {**_problem("H-3"), "问题来源": "巡视巡察", "责任单位": "DEPT-A"}]
    book = _sheet(rows)
    book.active.auto_filter.ref = "A1:O4"
    for row in (3, 4):
        book.active.row_dimensions[row].hidden = True
    refused = assert_problem(upload(client, world.h("reg"), _saved(book)), 422)["errors"]
    assert [(e["row"], e["column"]) for e in refused] == [(3, "责任单位")]
    assert "NOWHERE" in refused[0]["detail"] and "hidden in the sheet" in refused[0]["detail"]
    book.active.row_dimensions[3].hidden = False
    shown = assert_problem(upload(client, world.h("reg"), _saved(book)), 422)["errors"]
    assert "hidden" not in shown[0]["detail"]
    book.active.cell(3, COLUMN["责任单位"], "DEPT-A")
    book.active.row_dimensions[3].hidden = True
    done = upload(client, world.h("reg"), _saved(book))
    assert done.status_code == 200 and done.json()["created"] == 3, done.text

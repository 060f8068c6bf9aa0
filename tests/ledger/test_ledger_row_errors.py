"""A row with several bad cells names every one of them, in the ledger's column order, so an office puts the row
right in one go instead of finding the next fault on each upload; nothing is imported."""
from __future__ import annotations

import datetime as dt

from tests.helpers import assert_problem, table_counts
from tests.ledger.support import ledger_file, upload

GOOD = {"外部编号": "R-1", "问题来源": "巡视巡察", "问题描述": "食堂台账不全", "责任单位": "DEPT-A",
        "整改时限": dt.date(2026, 6, 30)}


def _refused(client, world, rt, rows: list[dict]) -> list[tuple[int, str]]:
    before = table_counts(rt)
    answer = assert_problem(upload(client, world.h("reg"), ledger_file(rows, kind="csv"), name="台账.csv"), 422)
    assert table_counts(rt) == before
    assert answer["error_count"] == len(answer["errors"])
    return [(e["row"], e["column"]) for e in answer["errors"]]


def test_every_bad_cell_of_a_row_is_named_in_column_order(client, world, rt):
    bad = {**GOOD, "编号": "no number", "问题来源": "传说", "整改时限": "下月底", "当前状态": "拖着", "最近进展": "x" * 5001}
    assert _refused(client, world, rt, [GOOD, bad]) == [(3, "编号"), (3, "问题来源"), (3, "整改时限"), (3, "当前状态"),
                                                        (3, "最近进展")]


def test_the_item_checks_name_each_column_once(client, world, rt):
    # Two texts over their lengths (the item's own checks) and a 销号日期 both in the future and of an open state:
    # each column once, with its first fault.
    bad = {**GOOD, "整改措施": "措" * 5001, "外部编号": "R" * 300, "销号日期": dt.date(2099, 1, 1)}
    rows = _refused(client, world, rt, [bad])
    assert rows == [(2, "外部编号"), (2, "整改措施"), (2, "销号日期")]


def test_a_person_is_not_judged_without_the_unit_they_belong_to(client, world, rt):
    # 责任人 is looked up in the row's unit: with the unit unknown only the unit is named.
    assert _refused(client, world, rt, [{**GOOD, "责任单位": "NOWHERE", "责任人": "nobody"}]) == [(2, "责任单位")]
    assert _refused(client, world, rt, [{**GOOD, "责任人": "nobody", "整改时限": "2026-02-30"}]) == [
        (2, "责任人"), (2, "整改时限")]


def test_dates_that_cannot_be_meant_are_named_and_nothing_is_imported(client, world, rt):
    # 0001-01-01 and an Excel zero (1899-12-31) as a 整改时限 would make the item red and escalate it to the top
    # unit at the next sweep, 2099 would keep it out of every reminder; a 销号日期 before 2000 is a slip too.
    before = table_counts(rt)
    rows = [{**GOOD, "外部编号": "R-1", "整改时限": dt.date(1, 1, 1)},
            {**GOOD, "外部编号": "R-2", "整改时限": "1899-12-31"},
            {**GOOD, "外部编号": "R-3", "整改时限": dt.date(2099, 1, 1)},
            {**GOOD, "外部编号": "R-4", "当前状态": "已销号", "销号日期": dt.date(1900, 1, 1)},
            {**GOOD, "外部编号": "R-5", "整改时限": dt.date(2001, 6, 30), "当前状态": "已销号",
             "销号日期": dt.date(2001, 7, 1)}]
    answer = assert_problem(upload(client, world.h("reg"), ledger_file(rows, kind="csv"), name="台账.csv"), 422)
    assert table_counts(rt) == before
    assert [(e["row"], e["column"], e["detail"].split(":")[0]) for e in answer["errors"]] == [
        (2, "整改时限", "整改时限 0001-01-01 is before 2000-01-01"),
        (3, "整改时限", "整改时限 1899-12-31 is before 2000-01-01"),
        (4, "整改时限", "整改时限 2099-01-01 is more than 10 years ahead (after 2036-03-02)"),
        (5, "销号日期", "销号日期 1900-01-01 is before 2000-01-01")]

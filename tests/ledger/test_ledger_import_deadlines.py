"""A row past its workflow's initial state needs its 整改时限: without one the item would have no deadline and no
reminder would ever fall due (the API never lets an item get there without a due date)."""
from __future__ import annotations

import datetime as dt

from tests.helpers import assert_problem, table_counts
from tests.ledger.support import ledger_file, upload

# Every state of the standard workflow that an item reaches only with a due date, and a final state it can be
# reopened from; 销号日期 only where the state is final.
NEEDING = (("已交办", None), ("整改中", None), ("延期审批中", None), ("待验收", None), ("已验收", None),
           ("已销号", "2026-02-27"))


def _row(n: int, state: str | None, due: object = None, closed_on: str | None = None) -> dict:
    return {"外部编号": f"QX-{n}", "问题来源": "审计", "问题描述": f"第{n}号问题", "责任单位": "DEPT-A",
            "责任人": "asg_a", "整改时限": due, "当前状态": state, "销号日期": closed_on}


def test_a_row_past_the_initial_state_without_a_deadline_is_refused_at_its_column(client, world, rt):
    # 已登记 (also when 当前状态 is empty) and 已作废, which no transition leaves, may go without one.
    rows = [_row(n, state, closed_on=closed) for n, (state, closed) in enumerate(NEEDING)]
    rows += [_row(10, "已登记"), _row(11, None), _row(12, "已作废")]
    before = table_counts(rt)
    for kind in ("xlsx", "csv"):
        body = assert_problem(upload(client, world.h("sup"), ledger_file(rows, kind=kind), name=f"台账.{kind}"), 422)
        assert [(e["row"], e["column"]) for e in body["errors"]] == [(n + 2, "整改时限") for n in range(len(NEEDING))]
        for error, (state, _closed) in zip(body["errors"], NEEDING):
            assert error["detail"].startswith(f"is empty: an item {state} needs its deadline"), error
            assert "only rows in the initial state 已登记 or in 已作废 may leave it empty" in error["detail"], error
    assert table_counts(rt) == before

    # With their deadlines they import, and each item's deadline is the row's.
    due = rt.today() + dt.timedelta(days=20)
    dated = [_row(n, state, due, closed) for n, (state, closed) in enumerate(NEEDING)] + rows[len(NEEDING):]
    done = upload(client, world.h("sup"), ledger_file(dated))
    assert done.status_code == 200 and done.json()["created"] == len(dated), done.text
    listed = client.get("/api/v1/items", params={"q": "QX-", "limit": 50}, headers=world.h("sup")).json()["data"]
    by_ref = {item["external_ref"]: item for item in listed}
    for n in range(len(NEEDING)):
        assert by_ref[f"QX-{n}"]["due_date"] == due.isoformat(), by_ref[f"QX-{n}"]
    assert by_ref["QX-1"]["state"] == "rectifying" and by_ref["QX-1"]["deadline"] == due.isoformat()
    assert by_ref["QX-12"]["due_date"] is None and by_ref["QX-12"]["state"] == "cancelled"


def test_a_long_term_row_goes_without_a_deadline_as_its_clock_runs_on_reports(client, world, rt):
    # long_term's working state is due every month from the last report, never on a due date.
    rows = [_row(1, "持续整改中"), _row(2, "已交办"), _row(3, "已销号", closed_on="2026-02-27")]
    done = upload(client, world.h("sup"), ledger_file(rows), params={"workflow": "long_term"})
    assert done.status_code == 200 and done.json()["created"] == 3, done.text
    item = client.get("/api/v1/items", params={"q": "QX-1"}, headers=world.h("sup")).json()["data"][0]
    assert (item["state"], item["due_date"]) == ("rectifying", None) and item["deadline"] is not None

"""The ledger pages on both stores: the download is the API's export (same scope, columns, refusals), and an
upload shows each bad row and imports nothing, a check only writes nothing, a real import registers the rows."""
from __future__ import annotations

import html
import re

from tests.helpers import new_item, table_counts
from tests.ledger.support import csv_cells, ledger_file, xlsx_cells
from tests.web.support import alert, sign_in

GOOD = {"问题来源": "审计", "问题描述": "专项资金使用不规范", "责任单位": "DEPT-A", "外部编号": "SJ-2026-01"}


def _items(client, world) -> dict[str, dict]:
    made = [new_item(client, world, unit=unit, title=f"{unit} 的问题") for unit in ("DEPT-A", "SUB-A1", "DEPT-B")]
    return {item["unit"]: item for item in made}


def test_the_download_is_the_apis_ledger_with_the_lists_filters_and_scope(client, world, rt):
    made = _items(client, world)
    sign_in(client, rt, "sup_a")
    page = client.get("/ledger").text
    assert 'action="/ledger/download"' in page and 'name="format" value="csv"' in page
    for params in ({}, {"unit": "SUB-A1"}, {"q": "DEPT-A"}):
        as_csv = client.get("/ledger/download", params={**params, "format": "csv"})
        assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
        assert as_csv.headers["content-disposition"].startswith('attachment; filename="ledger-')
        api = client.get("/api/v1/ledger.csv", params=params, headers=world.h("sup_a"))
        assert csv_cells(as_csv.content) == csv_cells(api.content)
        as_xlsx = client.get("/ledger/download", params={**params, "format": "xlsx"})
        assert xlsx_cells(as_xlsx.content) == xlsx_cells(client.get("/api/v1/ledger.xlsx", params=params,
                                                                    headers=world.h("sup_a")).content)
    numbers = [row[1] for row in csv_cells(client.get("/ledger/download", params={"format": "csv"}).content)[1:]]
    assert sorted(numbers) == sorted([made["DEPT-A"]["number"], made["SUB-A1"]["number"]])  # DEPT-B is outside sup_a's scope
    for params, words in (({"unit": "DEPT-B"}, "DEPT-B"), ({"state": "nowhere"}, "nowhere"),
                          ({"as_of": "2999-01-01"}, "future"), ({"as_of": "2026-02-30"}, "as_of"),
                          ({"format": "pdf"}, "format"), ({"unit": "DEPT-A\x00"}, "NUL")):
        refused = client.get("/ledger/download", params={"format": "csv", **params})
        assert refused.status_code == 422 and words in alert(refused.text), (params, refused.text[:300])
        assert 'id="ledger-download"' in refused.text  # the form again, to correct


def _import(client, csrf: str, data: bytes, *, name: str = "台账.csv", **fields):
    return client.post("/ledger/import", data={"csrf": csrf, **fields}, files={"file": (name, data, "text/csv")},
                       follow_redirects=False)


def test_an_upload_with_a_bad_row_shows_it_and_imports_nothing_then_a_check_and_an_import(client, world, rt):
    csrf = sign_in(client, rt, "reg")
    before = table_counts(rt)
    bad = ledger_file([GOOD, {**GOOD, "外部编号": "SJ-2026-02", "责任单位": "NOWHERE"},
                       {**GOOD, "外部编号": "SJ-2026-03", "问题来源": "传说"}], kind="csv")
    refused = _import(client, csrf, bad)
    assert refused.status_code == 422
    assert "台账有 2 处错误，未导入任何事项。" in refused.text
    rows = [[html.unescape(c) for c in row] for row in
            re.findall(r"<tr><td>(\d+)</td><td>([^<]+)</td><td>([^<]+)</td></tr>", refused.text)]
    assert [row[:2] for row in rows] == [["3", "责任单位"], ["4", "问题来源"]]
    assert "NOWHERE" in rows[0][2]
    assert table_counts(rt) == before

    checked = _import(client, csrf, ledger_file([GOOD], kind="xlsx"), name="台账.xlsx", dry_run="true")
    assert checked.status_code == 303
    assert "检查通过，未导入：将新增 1 项，已存在 0 项。" in client.get(checked.headers["location"]).text
    assert table_counts(rt) == before
    done = _import(client, csrf, ledger_file([GOOD], kind="csv"), workflow="long_term")
    assert "已导入：新增 1 项，已存在（未改动）0 项。" in client.get(done.headers["location"]).text
    listed = client.get("/api/v1/items", params={"q": "专项资金"}, headers=world.h("reg")).json()["data"]
    assert [(i["external_ref"], i["workflow"]) for i in listed] == [("SJ-2026-01", "long_term")]
    again = _import(client, csrf, ledger_file([GOOD], kind="csv"))
    assert "新增 0 项，已存在（未改动）1 项" in client.get(again.headers["location"]).text


def test_who_may_not_import_gets_no_form_and_a_refusal_and_a_form_without_its_token_is_refused(client, world, rt):
    csrf = sign_in(client, rt, "asg_a")
    page = client.get("/ledger").text
    assert 'action="/ledger/import"' not in page and "登记员、督办人员和管理员可导入台账" in page
    before = table_counts(rt)
    refused = _import(client, csrf, ledger_file([GOOD], kind="csv"))
    assert refused.status_code == 403 and "registrars" in alert(refused.text)
    csrf = sign_in(client, rt, "reg")
    assert _import(client, "", ledger_file([GOOD], kind="csv")).status_code == 403
    missing = client.post("/ledger/import", data={"csrf": csrf}, follow_redirects=False)
    assert missing.status_code == 422 and "choose a ledger file" in alert(missing.text)
    junk = _import(client, csrf, b"\x00\x01 not a ledger", name="x.xlsx")
    assert junk.status_code == 422 and alert(junk.text)
    assert _import(client, csrf, ledger_file([GOOD], kind="csv"), workflow="nope").status_code == 422
    assert table_counts(rt) == before


def test_rows_that_differ_from_their_item_are_shown_after_an_import_and_a_check(client, world, rt):
    csrf = sign_in(client, rt, "reg")
    _import(client, csrf, ledger_file([GOOD], kind="csv"))
    [item] = client.get("/api/v1/items", params={"q": "专项资金"}, headers=world.h("reg")).json()["data"]
    before = table_counts(rt)
    edited = ledger_file([{**GOOD, "整改措施": "追回资金并问责"}], kind="csv")
    for fields in ({}, {"dry_run": "true"}):
        page = client.get(_import(client, csrf, edited, **fields).headers["location"]).text
        assert "其中 1 行与已有事项不一致" in page
        rows = re.findall(r"<tr><td>(\d+)</td><td><a href=\"/items/([^\"]+)\">[^<]+</a></td><td>([^<]+)</td></tr>",
                          page)
        assert rows == [("2", item["number"], "整改措施")]
    assert table_counts(rt) == before  # the item is left as it is
    # The address carries them; what is not one of them there is passed over, never shown or a failure.
    crafted = client.get("/ledger", params=[("created", "0"), ("unchanged", "1"), ("differing", "3"),
                                            ("d", f"5:{item['number']}:0.4"), ("d", "x:ZG-1:0"),
                                            ("d", "6:<script>:1"), ("d", f"7:{item['number']}:99")])
    assert crafted.status_code == 200 and "<script>" not in crafted.text
    assert re.findall(r"<tr><td>(\d+)</td><td><a", crafted.text) == ["5"]
    assert "问题描述、整改时限" in crafted.text and "另有 2 行不一致未在此列出" in crafted.text

"""The inbox, ledger and batch pages in a real browser: the ledger downloads and opens, a bad upload shows its
row and imports nothing, reminders are marked read, a batch is done with the keyboard. Screenshots of each."""
from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from openpyxl import load_workbook

from tests.web.browser import screenshot, sign_in
from tests.web.seed_tools import CAMPAIGN

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def supervisor(browser, web_server, tool_items):
    """One page signed in as the city's supervisor for the whole module (a sign-in costs an Argon2 hash)."""
    context = browser.new_context(base_url=web_server, viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page = context.new_page()
    sign_in(page, web_server, "sup")
    yield page
    context.close()


def _ledger_numbers(rows: list) -> set[str]:
    return {row[1] for row in rows[1:] if row and row[1]}


def test_the_ledger_downloads_and_opens_and_a_bad_upload_shows_its_row(supervisor, tool_items, tmp_path):
    page = supervisor
    page.goto("/ledger")
    page.get_by_label("批次").fill(CAMPAIGN)
    with page.expect_download() as xlsx:
        page.get_by_role("button", name="下载 Excel（.xlsx）").click()
    assert xlsx.value.suggested_filename.startswith("ledger-") and xlsx.value.suggested_filename.endswith(".xlsx")
    book = load_workbook(io.BytesIO(Path(xlsx.value.path()).read_bytes()), read_only=True)
    rows = [list(r) for r in book.worksheets[0].iter_rows(values_only=True)]
    book.close()
    assert rows[0][:3] == ["序号", "编号", "外部编号"]
    seeded = {tool_items["open"], tool_items["closed"], tool_items["late"], *tool_items["batch"].split(",")}
    assert _ledger_numbers(rows) == seeded
    with page.expect_download() as as_csv:
        page.get_by_role("button", name="下载 CSV").click()
    text = Path(as_csv.value.path()).read_bytes().decode("utf-8-sig")
    assert _ledger_numbers(list(csv.reader(io.StringIO(text, newline="")))) == seeded

    good_row = "台账坏行检查：这一行本身无误"  # no other test registers this title
    bad = f"\ufeff问题来源,问题描述,责任单位\r\n审计,{good_row},DEPT-A\r\n审计,制度不健全,NOWHERE\r\n"
    page.get_by_label("台账文件（.xlsx 或 .csv）").set_input_files(
        files=[{"name": "台账.csv", "mimeType": "text/csv", "buffer": bad.encode()}])
    with page.expect_response(lambda r: r.url.endswith("/ledger/import")) as posted:
        page.get_by_role("button", name="导入").click()
    assert posted.value.status == 422
    outcome = page.locator("#import-outcome")
    assert "台账有 1 处错误，未导入任何事项。" in outcome.inner_text()
    assert outcome.locator("tbody td").all_inner_texts()[:2] == ["3", "责任单位"]
    screenshot(page, "ledger-rejected")
    page.goto(f"/items?q={good_row}")
    assert "共 0 项" in page.locator(".count").inner_text()  # the good row was not imported either
    page.goto("/ledger")
    screenshot(page, "ledger")


def test_reminders_are_read_from_the_inbox_and_the_count_follows(supervisor, tool_items):
    page = supervisor
    page.goto("/inbox")
    badge = page.locator("#nav-inbox .badge")
    unread = int(badge.inner_text().split()[0])
    assert unread >= 1 and page.locator(".inbox li.unread").count() == min(unread, 50)
    assert tool_items["late"] in page.locator(".inbox").inner_text()
    screenshot(page, "inbox")
    page.locator(".inbox li.unread").first.get_by_role("button").click()
    page.wait_for_load_state()
    assert page.locator(".inbox li.unread").count() == min(unread - 1, 50)
    assert (int(badge.inner_text().split()[0]) if unread > 1 else badge.count()) == (unread - 1 if unread > 1 else 0)
    page.goto(f"/items/{tool_items['late']}")
    assert "红色督办" in page.locator("#notices").inner_text() or "橙色督办" in page.locator("#notices").inner_text()


def test_a_batch_is_chosen_and_sent_with_the_keyboard_alone(supervisor, tool_items):
    page = supervisor
    first, second = tool_items["batch"].split(",")
    page.goto(f"/items?campaign={CAMPAIGN}&state=identified")
    screenshot(page, "items-batch")
    for number in (first, second):
        page.locator(f"#sel-{number}").focus()
        page.keyboard.press("Space")
    page.locator("#batch-assign").focus()
    page.keyboard.press("Space")
    page.locator("#batch-due_date").focus()
    page.keyboard.type("2099-12-31")  # past any workflow's longest deadline: the engine refuses, in words
    page.locator("#batch-comment").focus()
    page.keyboard.type("统一交办")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    page.wait_for_url("**/items/batch")
    assert "0 项已办理，2 项未办理。" in page.locator("#batch-summary").inner_text()
    page.go_back()
    page.locator("#batch-due_date").fill("")
    for number in (first, second):
        page.locator(f"#sel-{number}").check()
    page.locator("#batch-assign").check()
    page.locator("#batch-due_date").fill("2027-06-30")
    page.get_by_role("button", name="办理所选事项").click()
    page.wait_for_url("**/items/batch")
    assert "2 项已办理，0 项未办理。" in page.locator("#batch-summary").inner_text()
    assert page.locator(".batch-results tr.done").count() == 2
    screenshot(page, "batch-result")

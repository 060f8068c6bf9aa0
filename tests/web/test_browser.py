"""The pages in a real browser: every role signs in, an item is carried from registration to closed by clicking,
and what editing a URL, a form without its token, or a signed-out cookie get. Screenshots of each page."""
from __future__ import annotations

import datetime as dt
import hashlib
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.evidence_samples import PDF
from tests.helpers import USERS
from tests.web.browser import SIGNING_IN, screenshot, sign_in
from tests.web.support import PASSWORD

pytestmark = pytest.mark.slow


def signed_in(browser, base: str, username: str, *, shoot: bool = False):
    """A new browser context signed in as ``username`` through the form; returns its page (on the home page)."""
    context = browser.new_context(base_url=base, viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page = context.new_page()
    sign_in(page, base, username, shoot=shoot)
    assert page.locator("#whoami").inner_text() == username
    return page


def act(page, trigger: str, button: str, **fields: str) -> None:
    """Fill an action's form on the item page and click its button; the page comes back saying it was done."""
    form = page.locator(f"#act-{trigger}")
    for name, value in fields.items():
        control = form.locator(f"[name={name}]")
        if control.evaluate("e => e.tagName") == "SELECT":
            control.select_option(value)
        else:
            control.fill(value)
    form.get_by_role("button", name=button).click()
    page.wait_for_load_state()
    assert page.locator("[role=status]").inner_text() == f"已办理：{button}", page.locator("main").inner_text()


def test_every_role_signs_in_and_the_keyboard_alone_does_it_too(browser, web_server):
    roles = {role for username, (roles, _unit) in USERS.items() if username in SIGNING_IN for role in roles}
    assert roles == {"registrar", "supervisor", "assignee", "verifier", "auditor", "admin"}
    for username in SIGNING_IN:
        page = signed_in(browser, web_server, username)
        page.context.close()
    context = browser.new_context(base_url=web_server)
    page = context.new_page()
    page.goto("/signin")
    # The username field takes the focus when the page opens: Chromium applies autofocus at its next rendering
    # step, which on a busy machine can come after the load event goto waits for.
    expect(page.locator("#username")).to_be_focused()
    page.keyboard.type("aud")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{web_server}/")
    assert page.locator("#whoami").inner_text() == "aud"
    context.close()


def test_an_item_is_carried_from_registration_to_closed_by_clicking(browser, web_server):
    registrar = signed_in(browser, web_server, "reg", shoot=True)
    screenshot(registrar, "home")
    registrar.get_by_role("link", name="登记问题").click()
    registrar.get_by_label("问题（必填）").fill("保交楼项目逾期未交付")
    registrar.get_by_label("问题来源（必填）").select_option("complaint")
    registrar.get_by_label("责任单位（必填）").select_option("DEPT-A")
    screenshot(registrar, "item-new")
    registrar.get_by_role("button", name="登记").click()
    registrar.wait_for_url(re.compile(r"/items/ZG-"))
    number = registrar.locator("h1 .number").inner_text()
    url = f"/items/{number}"
    assert registrar.locator("#state").inner_text() == "已登记"

    supervisor = signed_in(browser, web_server, "sup")
    supervisor.goto(url)
    due = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    act(supervisor, "assign", "交办", due_date=due, assignee="asg_a")

    assignee = signed_in(browser, web_server, "asg_a")
    assignee.goto(url)
    act(assignee, "accept", "签收", measures="更换老旧管网，逐户复测室温")
    assignee.get_by_label("文件").set_input_files(files=[{"name": "整改报告.pdf", "mimeType": "application/pdf",
                                                          "buffer": PDF}])
    assignee.get_by_role("button", name="上传").click()
    digest = hashlib.sha256(PDF).hexdigest()
    assert digest in assignee.locator("[role=status]").inner_text()
    with assignee.expect_download() as download:
        assignee.locator("#evidence").get_by_role("link", name="整改报告.pdf").click()
    assert Path(download.value.path()).read_bytes() == PDF
    act(assignee, "submit", "提交验收")

    verifier = signed_in(browser, web_server, "ver")
    verifier.goto(url)
    act(verifier, "reject", "退回", comment="佐证材料不充分，请补充现场照片")
    assignee.goto(url)
    act(assignee, "submit", "提交验收", comment="已补充现场照片")
    verifier.goto(url)
    act(verifier, "approve", "验收通过")
    supervisor.goto(url)
    act(supervisor, "close", "销号")

    auditor = signed_in(browser, web_server, "aud")
    auditor.goto(url)
    assert auditor.locator("#state").inner_text() == "已销号"
    assert auditor.locator("#chain").inner_text() == "✓ 记录链校验通过（8 条记录）"
    steps = auditor.locator(".timeline li .when strong").all_inner_texts()
    assert steps == ["登记", "交办", "签收", "提交验收", "退回", "提交验收", "验收通过", "销号"]
    assert "佐证材料不充分，请补充现场照片" in auditor.locator(".timeline").inner_text()
    assert "赵" not in steps  # names come from the users table: these test users have none, so usernames show
    screenshot(auditor, "item")
    auditor.goto("/items")
    assert number in auditor.locator("table.items").inner_text()
    screenshot(auditor, "items")
    for page in (registrar, supervisor, assignee, verifier, auditor):
        page.context.close()


def test_another_units_item_and_forms_without_their_token_and_signed_out_cookies_are_refused(browser, web_server):
    supervisor = signed_in(browser, web_server, "sup")
    supervisor.goto("/items/new")
    supervisor.get_by_label("问题（必填）").fill("专项资金拨付不及时、使用不规范")
    supervisor.get_by_label("问题来源（必填）").select_option("audit")
    supervisor.get_by_label("责任单位（必填）").select_option("DEPT-A")
    supervisor.get_by_role("button", name="登记").click()
    supervisor.wait_for_url(re.compile(r"/items/ZG-"))
    url = supervisor.url

    other_unit = signed_in(browser, web_server, "asg_b")
    response = other_unit.goto(url)
    assert response.status == 404 and "无权查看" in other_unit.locator("main").inner_text()
    other_unit.context.close()

    # The cancel form with its token removed, as a forged cross-site form would arrive.
    supervisor.goto(url)
    supervisor.locator("#act-cancel input[name=csrf]").evaluate("e => e.remove()")
    supervisor.locator("#act-cancel textarea[name=comment]").fill("重复登记")
    with supervisor.expect_response(lambda r: r.url.endswith("/act")) as posted:
        supervisor.locator("#act-cancel").get_by_role("button", name="作废").click()
    assert posted.value.status == 403 and "安全令牌" in supervisor.locator("main").inner_text()
    supervisor.goto(url)
    assert supervisor.locator("#state").inner_text() == "已登记"
    screenshot(supervisor, "refused")

    cookies = supervisor.context.cookies()
    supervisor.get_by_role("button", name="退出").click()
    supervisor.wait_for_url(re.compile(r"/signin"))
    supervisor.context.add_cookies(cookies)  # the old session cookie, put back
    supervisor.goto(url)
    assert "/signin" in supervisor.url
    supervisor.context.close()

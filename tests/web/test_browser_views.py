"""The dashboard, the workflow diagram and the printable 销号 form in a real browser (the session's server and
Chromium): the pictures render, the form prints to an A4 PDF with the right content, and screenshots of each
page at desktop and phone width. The item is carried to closed through the pages' forms over HTTP, which is
quicker than clicking and is tested by clicking in test_browser.py."""
from __future__ import annotations

import datetime as dt
import hashlib
import io
import re

import httpx
import pytest

from tests.evidence_samples import PDF
from tests.web.browser import screenshot
from tests.web.support import PASSWORD, csrf_of

pytestmark = pytest.mark.slow


def _session(base: str, username: str) -> httpx.Client:
    """An HTTP client signed in through the sign-in form."""
    client = httpx.Client(base_url=base)
    token = csrf_of(client.get("/signin").text)
    signed = client.post("/signin", data={"csrf": token, "username": username, "password": PASSWORD, "next": "/"})
    assert signed.status_code in (200, 303) and client.cookies.get("closeloop_session"), signed.text
    return client


def _act(client: httpx.Client, number: str, trigger: str, **fields) -> None:
    page = client.get(f"/items/{number}").text
    version = re.search(r'name="version" value="(\d+)"', page).group(1)
    done = client.post(f"/items/{number}/act", data={"csrf": csrf_of(page), "trigger": trigger, "version": version,
                                                     **fields})
    assert done.status_code == 303, (trigger, done.text[-500:])


@pytest.fixture(scope="module")
def closed_item(web_server) -> dict:
    """An item registered, assigned, fixed with evidence, verified and closed through the pages' forms."""
    people = {name: _session(web_server, name) for name in ("reg", "sup", "asg_a", "ver")}
    try:
        reg = people["reg"]
        created = reg.post("/items/new", data={"csrf": csrf_of(reg.get("/items/new").text), "title": "家庭养老床位建设进度滞后",
                                               "description": "全年计划 800 张，已建成 310 张", "source": "supervision",
                                               "severity": "high", "unit": "DEPT-A", "workflow": "standard"})
        assert created.status_code == 303, created.text[-500:]
        number = created.headers["location"].rsplit("/", 1)[1]
        due = (dt.date.today() + dt.timedelta(days=30)).isoformat()
        _act(people["sup"], number, "assign", unit="DEPT-A", due_date=due, assignee="asg_a")
        _act(people["asg_a"], number, "accept", measures="新增两处社区养老服务站，按月通报进度")
        page = people["asg_a"].get(f"/items/{number}").text
        uploaded = people["asg_a"].post(f"/items/{number}/evidence", data={"csrf": csrf_of(page)},
                                        files={"file": ("验收报告.pdf", PDF, "application/pdf")})
        assert uploaded.status_code == 303
        digest = hashlib.sha256(PDF).hexdigest()
        _act(people["asg_a"], number, "submit", evidence=digest)
        _act(people["ver"], number, "approve", comment="现场核查属实")
        _act(people["sup"], number, "close")
        head = re.findall(r"#\d+ ([0-9a-f]{64})", people["ver"].get(f"/items/{number}").text)[-1]
        cookie = people["ver"].cookies.get("closeloop_session")
        return {"number": number, "sha256": digest, "head": head, "cookie": cookie}
    finally:
        for client in people.values():
            client.close()


@pytest.fixture
def page_of(browser, web_server):
    """A browser page signed in with a session cookie made by the sign-in form (no second password check)."""
    contexts = []

    def open_page(cookie: str, *, lang: str = "zh"):
        context = browser.new_context(base_url=web_server, viewport={"width": 1280, "height": 900})
        context.add_cookies([{"name": "closeloop_session", "value": cookie, "url": web_server},
                             {"name": "closeloop_lang", "value": lang, "url": web_server}])
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


def test_the_closure_form_prints_to_an_a4_pdf_with_its_content(closed_item, page_of):
    from pypdf import PdfReader

    page = page_of(closed_item["cookie"])
    page.goto(f"/items/{closed_item['number']}")
    page.get_by_role("link", name="打印整改销号表").click()
    page.wait_for_url(re.compile(r"/form$"))
    assert page.locator("#verifier").inner_text() == "ver"
    screenshot(page, "closure-form")
    page.emulate_media(media="print")
    assert not page.locator("header.top").is_visible() and not page.locator(".no-print").is_visible()
    reader = PdfReader(io.BytesIO(page.pdf(format="A4")))
    width, height = (float(v) for v in reader.pages[0].mediabox.upper_right)
    assert abs(width - 595.3) < 2 and abs(height - 841.9) < 2  # A4 in points (210 x 297 mm), to Chromium's rounding
    text = "".join(p.extract_text() for p in reader.pages)
    flat = re.sub(r"\s+", "", text)
    assert closed_item["number"] in flat and closed_item["head"] in flat and closed_item["sha256"] in flat
    assert "验收人ver" in flat and "家庭养老床位建设进度滞后" in flat and "记录链校验通过" in flat
    assert "问题清单" not in flat  # no navigation on paper


def test_the_dashboard_and_the_workflow_diagram_render_at_desktop_and_phone_width(closed_item, page_of):
    page = page_of(closed_item["cookie"])
    page.goto("/dashboard")
    chart = page.locator("svg.chart")
    assert chart.get_attribute("role") == "img" and chart.bounding_box()["width"] > 300
    assert page.locator("#units").get_by_text("市教委").count() == 1
    screenshot(page, "dashboard")
    page.set_viewport_size({"width": 390, "height": 844})
    assert chart.bounding_box()["width"] <= 390  # the chart scales down with the page
    page.set_viewport_size({"width": 1280, "height": 900})

    page.get_by_role("navigation").get_by_role("link", name="整改流程").click()
    page.get_by_role("link", name="限期整改").click()
    page.wait_for_url(re.compile(r"/workflows/standard$"))
    diagram = page.locator("svg.diagram")
    assert diagram.locator("g.state").count() == 8 and diagram.locator("g.edge").count() >= 13
    assert diagram.get_attribute("aria-label") == "流程图: 限期整改"
    screenshot(page, "workflow")
    page.set_viewport_size({"width": 390, "height": 844})
    assert diagram.bounding_box()["width"] <= 390
    # Keyboard: the skip link, then the navigation, reach the page without a mouse.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"

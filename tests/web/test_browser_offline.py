"""In a real browser: /docs renders with nothing fetched from outside 127.0.0.1 (the network is cut for the page),
and an item past its deadline shows red on its page and in the list."""
from __future__ import annotations

import datetime as dt
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from engine.accounts import new_token_for
from engine.clock import ManualClock
from engine.config import Settings
from engine.runtime import Runtime
from tests.helpers import World, fire, new_item
from tests.web.browser import screenshot, sign_in

pytestmark = pytest.mark.slow
LOOPBACK = {"127.0.0.1", "localhost"}


def test_the_api_docs_render_with_the_network_cut(browser, web_server):
    context = browser.new_context(base_url=web_server, viewport={"width": 1280, "height": 900})
    asked, refused = [], []

    def only_loopback(route):
        url = route.request.url
        asked.append(url)
        if urlsplit(url).hostname in LOOPBACK or url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            refused.append(url)
            route.abort("internetdisconnected")

    context.route("**/*", only_loopback)
    page = context.new_page()
    try:
        page.goto("/docs")
        # Rendered, not merely served: the API's title and its operations drawn by Swagger UI from /openapi.json.
        page.wait_for_selector(".swagger-ui .info .title", timeout=30_000)
        page.wait_for_selector(".opblock", timeout=30_000)
        assert "closeloop" in page.locator(".swagger-ui .info .title").inner_text()
        assert page.locator(".opblock").count() > 20
        assert refused == [], f"/docs asked for outside addresses: {refused}"
        assert any(url.endswith("/openapi.json") for url in asked) and len(asked) >= 4, asked
    finally:
        context.close()


def _overdue_item(url: str) -> str:
    """An item put into the server's database as if registered 40 days ago with a due date 35 days ago, so that it
    is overdue by the server's real clock; returns its number."""
    start = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) - dt.timedelta(days=40)
    rt = Runtime.open(Settings(database_url=url), clock=ManualClock(start))
    try:
        with rt.store.write() as conn:
            world = World({name: new_token_for(conn, clock=rt.clock, actor="cli:tests", username=name)
                           for name in ("reg", "sup", "asg_a")})
        with TestClient(create_app(rt)) as client:
            item = new_item(client, world, title="排水管网改造逾期未完成")
            due = (rt.today() + dt.timedelta(days=5)).isoformat()
            for body, user in (({"trigger": "assign", "fields": {"due_date": due}}, "sup"),
                               ({"trigger": "accept"}, "asg_a")):
                response = fire(client, world, item, body, user)
                assert response.status_code == 200, response.text
                item = response.json()
    finally:
        rt.store.dispose()
    return item["number"]


def test_an_overdue_item_shows_red_on_its_page_and_in_the_list(browser, web_server, web_database):
    number = _overdue_item(web_database)
    context = browser.new_context(base_url=web_server, viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page = context.new_page()
    try:
        sign_in(page, web_server, "sup")
        page.goto(f"/items/{number}")
        light = page.locator(".fields .light")
        assert light.get_attribute("class") == "light light-red"
        assert light.inner_text().startswith("红灯 · 逾期 ") and light.inner_text().endswith(" 天")
        # Red as a person sees it, not only a class name: the badge's text colour is the page's red.
        colour = light.evaluate("e => getComputedStyle(e).color")
        red, green, blue = (int(part) for part in colour[colour.index("(") + 1:colour.index(")")].split(",")[:3])
        assert red > 150 and green < 80 and blue < 80, colour
        screenshot(page, "item-overdue")
        page.goto(f"/items?q={number}")
        row = page.locator("table.items tbody tr", has_text=number)
        assert row.locator(".light").get_attribute("class") == "light light-red"
    finally:
        context.close()

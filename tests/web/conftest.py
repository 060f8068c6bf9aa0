"""Fixtures of the browser tests: one server and one browser for the whole session (per test process)."""
from __future__ import annotations

import pytest

from tests.web.browser import launch, seeded_database, start_server, stop_server


@pytest.fixture(scope="session")
def web_database(tmp_path_factory):
    """The browser server's seeded SQLite file (its URL), for tests that add data of their own to it."""
    return seeded_database(tmp_path_factory.mktemp("web"))


@pytest.fixture(scope="session")
def web_server(web_database, tmp_path_factory):
    """Base URL of a real server on a seeded SQLite file (stopped by its pid at the end)."""
    proc, base = start_server(web_database, tmp_path_factory.mktemp("serve") / "serve.log")
    yield base
    stop_server(proc)


@pytest.fixture(scope="session")
def tool_items(web_database, web_server):
    """The items of the inbox, ledger, batch and accessibility browser tests (tests/web/seed_tools.py)."""
    from tests.web.seed_tools import seed_tool_items

    return seed_tool_items(web_database)


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for every browser test of this process."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch(playwright)
        yield chromium
        chromium.close()

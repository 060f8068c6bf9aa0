"""Fixtures of the browser tests: one server and one browser for the whole session (per test process)."""
from __future__ import annotations

import pytest

from tests.web.browser import launch, seeded_database, start_server, stop_server


@pytest.fixture(scope="session")
def web_server(tmp_path_factory):
    """Base URL of a real server on a seeded SQLite file (stopped by its pid at the end)."""
    folder = tmp_path_factory.mktemp("web")
    proc, base = start_server(seeded_database(folder), folder / "serve.log")
    yield base
    stop_server(proc)


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for every browser test of this process."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch(playwright)
        yield chromium
        chromium.close()

"""A real server and a real browser for the page tests: uvicorn on 127.0.0.1 started and stopped by its pid,
Debian's Chromium driven by Playwright, and screenshots written where CI keeps them."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.config import Settings
from engine.runtime import Runtime
from engine.store import Store
from engine.store.migrate import migrate
from tests.api.test_cli import _wait_until_up, free_port
from tests.helpers import build_world
from tests.web.support import PASSWORD, give_password

CHROMIUM = Path(os.environ.get("CLOSELOOP_CHROMIUM", "/usr/bin/chromium"))
CLOSELOOP = Path(sys.executable).parent / "closeloop"
SCREENSHOTS = Path(os.environ.get("CLOSELOOP_SCREENSHOTS", Path(__file__).resolve().parent.parent / "screenshots"))
WIDTHS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}


# One user of each role, and one of another unit (each Argon2 hash costs a quarter of a second or more).
SIGNING_IN = {"reg": "registrar", "sup": "supervisor", "asg_a": "assignee", "ver": "verifier", "aud": "auditor",
              "adm": "admin", "asg_b": "assignee of another unit"}


def seeded_database(folder: Path) -> str:
    """A migrated SQLite file with the test units and users, those in SIGNING_IN with the test password."""
    url = f"sqlite:///{folder / 'web.db'}"
    store = Store(url)
    migrate(store)
    store.dispose()
    rt = Runtime.open(Settings(database_url=url))
    try:
        build_world(rt)
        for username in SIGNING_IN:
            give_password(rt, username, PASSWORD)
    finally:
        rt.store.dispose()
    return url


def start_server(url: str, log: Path) -> tuple[subprocess.Popen, str]:
    """`closeloop serve` on a free port of 127.0.0.1; returns the process and its base URL once it answers."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with log.open("w") as out:
        proc = subprocess.Popen([str(CLOSELOOP), "serve", "--port", str(port), "--no-scheduler"], stdout=out,
                                stderr=subprocess.STDOUT, env={**os.environ, "CLOSELOOP_DATABASE_URL": url})
    try:
        _wait_until_up(proc, base, log)
    except BaseException:
        stop_server(proc)
        raise
    return proc, base


def stop_server(proc: subprocess.Popen) -> None:
    """Stop the server by its process id."""
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=15)


def launch(playwright):
    """Debian's Chromium, headless; with CI=true a missing Chromium fails the run instead of skipping."""
    if not CHROMIUM.exists():
        message = f"the browser tests need Chromium at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)


def screenshot(page, name: str) -> None:
    """The page at desktop and at phone width, as NAME-desktop.png and NAME-phone.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size
    for label, viewport in WIDTHS.items():
        page.set_viewport_size(viewport)
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{label}.png"), full_page=True)
    page.set_viewport_size(size)


def sign_in(page, base: str, username: str, *, shoot: bool = False) -> None:
    """Sign ``page`` in as ``username`` through the form (``shoot``: a screenshot of the form first); it ends on the
    home page."""
    page.goto("/signin")
    if shoot:
        screenshot(page, "signin")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(f"{base}/")

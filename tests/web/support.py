"""Helpers for the page tests: signing in through the form, reading tokens and messages out of pages."""
from __future__ import annotations

import html
import re

from engine.people.passwords import set_password
from engine.runtime import Runtime

PASSWORD = "correct horse 9"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(page: str) -> str:
    """The CSRF token of the first form on a page."""
    found = _CSRF.search(page)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


def give_password(rt: Runtime, username: str, password: str = PASSWORD) -> None:
    """Set a user's password as an admin would."""
    with rt.store.write() as conn:
        set_password(conn, clock=rt.clock, actor="cli:tests", username=username, password=password)


def sign_in(client, rt: Runtime, username: str) -> str:
    """Give the user a password, sign in through the form, and return the session's CSRF token."""
    give_password(rt, username)
    client.cookies.clear()
    token = csrf_of(client.get("/signin").text)
    response = client.post("/signin", data={"csrf": token, "username": username, "password": PASSWORD, "next": "/"},
                           follow_redirects=False)
    assert response.status_code == 303, response.text
    return csrf_of(client.get("/").text)


def alert(page: str) -> str:
    """The text of the page's error message (unescaped), or '' when it shows none."""
    found = re.search(r'role="alert">(.*?)</p>', page, re.S)
    return html.unescape(found.group(1)).strip() if found else ""


def chain_mark(page: str) -> str:
    """The chain-check line of an item page."""
    found = re.search(r'id="chain"[^>]*>\s*(.*?)</p>', page, re.S)
    return html.unescape(found.group(1)).strip() if found else ""

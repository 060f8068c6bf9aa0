"""Sign-in, sessions and CSRF on both stores: what the cookie is, when a session stops working, refusals."""
from __future__ import annotations

import sqlalchemy as sa

from engine.people.models import WebSession
from engine.people.users import update_user
from tests.web.support import PASSWORD, alert, csrf_of, give_password, sign_in


def _post_signin(client, username: str, password: str, *, csrf: str | None = "from-page"):
    token = csrf_of(client.get("/signin").text)
    data = {"username": username, "password": password}
    if csrf is not None:
        data["csrf"] = token if csrf == "from-page" else csrf
    return client.post("/signin", data=data, follow_redirects=False)


def test_pages_send_a_visitor_without_a_session_to_sign_in(client, world):
    for path in ("/", "/items", "/items/new", "/items/ZG-2026-000001"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith("/signin?next="), path
    assert client.get("/signin").status_code == 200


def test_signing_in_sets_an_httponly_samesite_cookie_and_stores_only_its_hash(client, world, rt):
    give_password(rt, "sup")
    response = _post_signin(client, "sup", PASSWORD)
    assert response.status_code == 303 and response.headers["location"] == "/"
    cookie = response.headers["set-cookie"]
    assert "closeloop_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Secure" not in cookie  # plain HTTP here
    session_id = client.cookies["closeloop_session"]
    with rt.store.read() as conn:
        stored = conn.execute(sa.select(WebSession.__table__.c.session_hash)).scalars().all()
    assert len(stored) == 1 and stored[0] != session_id and session_id not in stored[0]
    home = client.get("/")
    assert home.status_code == 200 and 'id="whoami">sup<' in home.text


def test_over_https_the_session_cookie_is_secure(rt, world):
    from fastapi.testclient import TestClient

    from api.app import create_app

    give_password(rt, "sup")
    with TestClient(create_app(rt), base_url="https://testserver") as secure_client:
        response = _post_signin(secure_client, "sup", PASSWORD)
    assert response.status_code == 303 and "Secure" in response.headers["set-cookie"]


def test_a_wrong_password_or_unknown_user_is_refused_alike_and_starts_no_session(client, world, rt):
    give_password(rt, "sup")
    wrong = _post_signin(client, "sup", "not the password")
    nobody = _post_signin(client, "nobody", PASSWORD)
    for response in (wrong, nobody):
        assert response.status_code == 401
        assert alert(response.text) == "用户名或密码不正确"
        assert "closeloop_session" not in response.headers.get("set-cookie", "")
    no_password = _post_signin(client, "ver", PASSWORD)  # a user never given a password cannot sign in
    assert no_password.status_code == 401


def test_the_signin_form_without_its_csrf_token_is_refused(client, world, rt):
    give_password(rt, "sup")
    for csrf in (None, "forged"):
        response = _post_signin(client, "sup", PASSWORD, csrf=csrf)
        assert response.status_code == 403 and "安全令牌" in response.text
        assert "closeloop_session" not in response.headers.get("set-cookie", "")


def test_a_signin_token_with_characters_beyond_ascii_is_refused_not_a_crash(client, world, rt):
    # Was a 500 (found by tests/web/test_form_fuzz.py): hmac.compare_digest raises TypeError for such a str.
    give_password(rt, "sup")
    for csrf in ("²", "令牌", "\u200b"):
        response = _post_signin(client, "sup", PASSWORD, csrf=csrf)
        assert response.status_code == 403 and "安全令牌" in response.text, response.status_code
        assert "closeloop_session" not in response.headers.get("set-cookie", "")


def test_repeated_failures_answer_429_until_the_window_ends(client, world, rt, clock):
    give_password(rt, "sup")
    limit = rt.settings.signin_failure_limit
    for _ in range(limit):
        assert _post_signin(client, "sup", "guess").status_code == 401
    refused = _post_signin(client, "sup", PASSWORD)  # even the right password waits: guessing stays capped
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert "秒后再试" in alert(refused.text)
    clock.advance(seconds=rt.settings.signin_failure_window_seconds + 1)
    assert _post_signin(client, "sup", PASSWORD).status_code == 303


def test_signing_out_ends_the_session_on_the_server(client, world, rt):
    csrf = sign_in(client, rt, "sup")
    cookie = client.cookies["closeloop_session"]
    refused = client.post("/signout", data={}, follow_redirects=False)
    assert refused.status_code == 403  # sign-out is a form too: no token, no sign-out
    out = client.post("/signout", data={"csrf": csrf}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/signin"
    client.cookies.set("closeloop_session", cookie)  # the old cookie, replayed
    assert client.get("/items", follow_redirects=False).status_code == 303
    with rt.store.read() as conn:
        ended = conn.execute(sa.select(WebSession.__table__.c.ended_at)).scalar_one()
    assert ended is not None


def test_a_session_ends_after_the_idle_time_and_after_the_longest_time(client, world, rt, clock):
    sign_in(client, rt, "sup")
    clock.advance(minutes=rt.settings.web_session_idle_minutes - 1)
    assert client.get("/", follow_redirects=False).status_code == 200  # used: idle time counts from now
    clock.advance(minutes=rt.settings.web_session_idle_minutes - 1)
    assert client.get("/", follow_redirects=False).status_code == 200
    clock.advance(minutes=rt.settings.web_session_idle_minutes + 1)
    assert client.get("/", follow_redirects=False).status_code == 303

    sign_in(client, rt, "sup")
    step = rt.settings.web_session_idle_minutes - 5
    used = 0
    while used + step < rt.settings.web_session_max_hours * 60:
        clock.advance(minutes=step)
        used += step
        assert client.get("/", follow_redirects=False).status_code == 200
    clock.advance(minutes=step)  # past the longest a session may last, though never idle
    assert client.get("/", follow_redirects=False).status_code == 303


def test_a_deactivated_users_session_stops_at_once(client, world, rt):
    sign_in(client, rt, "sup")
    assert client.get("/", follow_redirects=False).status_code == 200
    with rt.store.write() as conn:
        update_user(conn, "sup", {"active": False}, clock=rt.clock, actor="cli:tests")
    assert client.get("/", follow_redirects=False).status_code == 303
    assert _post_signin(client, "sup", PASSWORD).status_code == 401


def test_the_language_switch_is_kept_in_a_cookie(client, world, rt):
    sign_in(client, rt, "sup")
    assert "问题清单" in client.get("/").text
    english = client.get("/?lang=en")
    assert "Items" in english.text and english.cookies.get("closeloop_lang") == "en"
    assert "Sign out" in client.get("/items").text

"""Every route that takes an id, tried with another unit's ids: 404, the same answer as for an id that does not
exist, and nothing changed. The routes are read from the app itself, so a new route taking an id fails this test
until it says what kind of id it takes.

Unit-scoped ids (an item by id or number, its evidence by hash, a reminder in someone's inbox) are tried by a
DEPT-A supervisor, signed in through the API's token and the pages' session, on an item of DEPT-B. Ids of things
that belong to no unit are reserved to a role (admins for people, tokens and webhooks; auditors for look-backs)
and are tried by the same supervisor for a 403; workflow definitions and campaigns are shared by everyone.
"""
from __future__ import annotations

import re
import uuid

import sqlalchemy as sa

from api.problems import all_routes
from engine.reminders.sweep import sweep
from tests.evidence_samples import PDF
from tests.helpers import COUNTED_TABLES, drive, new_item, table_counts
from tests.web.support import sign_in

SCOPED = {"item_id", "ref", "sha256", "entry_id"}
ADMIN_ONLY = {"username", "token_id", "webhook_id", "delivery_id"}
AUDITOR_ONLY = {"lookback_id"}
SHARED = {"name", "code"}  # workflow definitions; campaigns (their reconciliation lists only items in scope)
CALLER = "sup_a"  # a supervisor of DEPT-A: sees DEPT-A and SUB-A1, not DEPT-B


def _id_routes(app) -> set[tuple[str, str]]:
    return {(method, route.path) for route in all_routes(app.router.routes) if "{" in getattr(route, "path", "")
            for method in (route.methods or ()) if method != "HEAD"}


def _params(path: str) -> set[str]:
    return {name.split(":")[0] for name in re.findall(r"{([^}]+)}", path)}


def _hidden(client, world, rt, tmp_path) -> dict[str, str]:
    """A DEPT-B item in rectifying with a stored evidence file and, past its deadline, a reminder for asg_b."""
    rt.settings.evidence_dir = tmp_path / "evidence"
    item = drive(client, world, rt, new_item(client, world, unit="DEPT-B"), "rectifying")
    stored = client.post(f"/api/v1/items/{item['id']}/evidence", headers=world.h("asg_b"),
                         files={"file": ("整改报告.pdf", PDF, "application/pdf")})
    assert stored.status_code == 201, stored.text
    rt.clock.advance(days=90)
    sweep(rt)
    entries = client.get("/api/v1/me/reminders", headers=world.h("asg_b")).json()["data"]
    assert entries, "the overdue DEPT-B item left a reminder in its assignee's inbox"
    return {"item_id": item["id"], "number": item["number"], "sha256": stored.json()["sha256"],
            "entry_id": str(entries[0]["id"])}


def _missing() -> dict[str, str]:
    return {"item_id": str(uuid.uuid4()), "number": "ZG-2026-999999", "sha256": "0" * 64, "entry_id": "999999"}


def _call(client, headers: dict, csrf: str, method: str, path: str, ids: dict[str, str], as_number: bool):
    filled = path.replace("{item_id}", ids["number" if as_number else "item_id"]).replace(
        "{ref}", ids["number" if as_number else "item_id"]).replace("{sha256}", ids["sha256"]).replace(
        "{entry_id}", ids["entry_id"])
    page = not filled.startswith("/api/")
    if method == "GET":
        return client.get(filled, headers={} if page else headers, follow_redirects=False)
    if filled.endswith("/evidence"):
        files = {"file": ("整改报告.pdf", PDF, "application/pdf")}
        return client.post(filled, headers={} if page else headers, files=files,
                           data={"csrf": csrf} if page else None, follow_redirects=False)
    if page:
        return client.post(filled, data={"csrf": csrf, "trigger": "cancel", "version": "1", "comment": "重复登记"},
                           follow_redirects=False)
    body = {"trigger": "cancel", "comment": "重复登记"} if filled.endswith("/transitions") else None
    return client.post(filled, headers=headers, json=body)


def _comparable(response, ids: dict[str, str]) -> tuple:
    """Status, type and what the answer says (a problem's body, a page's title), with the ids taken out."""
    if response.headers.get("content-type", "").startswith("text/html"):
        said = re.search(r"<title>(.*?)</title>", response.text, re.S).group(1)
    else:
        said = response.text
        for value in ids.values():
            said = said.replace(value, "<id>")
    return response.status_code, response.headers.get("content-type"), said


def test_every_route_taking_an_id_answers_another_units_id_as_a_missing_one(client, world, rt, tmp_path):
    routes = _id_routes(client.app)
    unknown = {(m, p) for m, p in routes if not _params(p) <= SCOPED | ADMIN_ONLY | AUDITOR_ONLY | SHARED}
    assert not unknown, f"say what kind of id these take: {sorted(unknown)}"
    hidden, missing = _hidden(client, world, rt, tmp_path), _missing()
    csrf = sign_in(client, rt, CALLER)  # the pages' session cookie; the API routes get the token instead
    headers = world.h(CALLER)
    before = table_counts(rt, COUNTED_TABLES)
    tried = []
    for method, path in sorted(routes):
        params = _params(path)
        if params & (ADMIN_ONLY | AUDITOR_ONLY) or not params & SCOPED:
            continue
        for as_number in (False, True):
            if as_number and not params & {"item_id", "ref"}:
                continue
            seen = _call(client, headers, csrf, method, path, hidden, as_number)
            assert seen.status_code == 404, (method, path, as_number, seen.status_code, seen.text[:300])
            absent = _call(client, headers, csrf, method, path, missing, as_number)
            assert _comparable(seen, hidden) == _comparable(absent, missing), (method, path, as_number)
        tried.append((method, path))
    assert table_counts(rt, COUNTED_TABLES) == before  # nothing was changed by any of them
    with rt.store.read() as conn:
        unread = conn.execute(sa.text("SELECT count(*) FROM notice_recipients WHERE read_at IS NULL")).scalar()
    assert unread >= 1  # asg_b's reminder was not marked read by the outsider
    assert len(tried) >= 14, tried


def test_ids_that_belong_to_no_unit_are_reserved_to_their_role(client, world):
    routes = _id_routes(client.app)
    values = {"username": "asg_b", "token_id": "1", "webhook_id": "1", "delivery_id": "1", "lookback_id": "1",
              "item_id": str(uuid.uuid4())}
    checked = 0
    for method, path in sorted(routes):
        params = _params(path)
        if not params & (ADMIN_ONLY | AUDITOR_ONLY):
            continue
        filled = path
        for name in params:
            filled = filled.replace("{" + name + "}", values[name])
        body = {"active": False} if method == "PATCH" else ({"result": "passed", "note": "ok"} if "lookbacks" in path
                                                             else None)
        response = client.request(method, filled, headers=world.h(CALLER), json=body)
        assert response.status_code == 403, (method, path, response.text[:300])
        assert response.json()["reason"] == "role", (method, path)
        checked += 1
    assert checked >= 9

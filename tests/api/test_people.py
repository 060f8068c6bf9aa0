"""People: e-mail addresses, changing and deactivating users, listing and revoking their tokens (admin only),
through the real app on both stores."""
from __future__ import annotations

import pytest

from engine import accounts
from engine.reminders.recipients import Directory
from tests.helpers import assert_problem, drive, new_item, table_counts

NEW_USER = {"username": "wang.fang", "roles": ["assignee"], "unit": "DEPT-A"}


def me(client, token: str) -> int:
    return client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code


def patch(client, world, username: str, body: dict, as_user: str = "adm"):
    return client.patch(f"/api/v1/users/{username}", json=body, headers=world.h(as_user))


def test_a_user_is_added_with_an_e_mail_address(client, world):
    created = client.post("/api/v1/users", json={**NEW_USER, "email": " Wang.Fang@JYJ.Example.GOV.cn "},
                          headers=world.h("adm"))
    assert created.status_code == 201, created.text
    assert created.json()["email"] == "Wang.Fang@jyj.example.gov.cn"
    listed = {u["username"]: u for u in client.get("/api/v1/users", headers=world.h("adm")).json()["data"]}
    assert listed["wang.fang"]["email"] == "Wang.Fang@jyj.example.gov.cn" and listed["asg_a"]["email"] is None


@pytest.mark.parametrize("email", ["wang.fang", "wang@", "@example.cn", "wang fang@example.cn", "wang@example",
                                   "wang..fang@example.cn", "王芳@example.cn", "wang@exa_mple.cn",
                                   "wang@example.cn\nBcc: x@y.cn", "a" * 65 + "@example.cn", ""])
def test_a_bad_e_mail_address_is_refused_naming_the_field(client, world, rt, email):
    before = table_counts(rt)
    refused = client.post("/api/v1/users", json={**NEW_USER, "email": email}, headers=world.h("adm"))
    problem = assert_problem(refused, 422)
    assert problem.get("field") == "email" or "email" in str(problem.get("errors")), problem
    assert table_counts(rt) == before
    assert_problem(patch(client, world, "asg_a", {"email": email}), 422)


def test_an_admin_changes_roles_unit_e_mail_and_name(client, world):
    changed = patch(client, world, "asg_a", {"roles": ["assignee", "verifier"], "unit": "SUB-A1",
                                             "email": "li.ming@example.gov.cn", "display_name": "李明"})
    assert changed.status_code == 200, changed.text
    assert changed.json() == {"username": "asg_a", "display_name": "李明", "roles": ["assignee", "verifier"],
                              "unit": "SUB-A1", "email": "li.ming@example.gov.cn", "active": True,
                              "assigned_open_items": 0}
    assert client.get("/api/v1/me", headers=world.h("asg_a")).json() == {
        "username": "asg_a", "roles": ["assignee", "verifier"], "unit": "SUB-A1"}
    removed = patch(client, world, "asg_a", {"email": None})
    assert removed.status_code == 200 and removed.json()["email"] is None


@pytest.mark.parametrize("body, status, field", [
    ({}, 422, "body"), ({"roles": None}, 422, "roles"), ({"unit": None}, 422, "unit"),
    ({"roles": []}, 422, None), ({"roles": ["mayor"]}, 422, None), ({"unit": "NO-SUCH"}, 422, "unit"),
    ({"active": "no"}, 422, None), ({"password": "x"}, 422, None), ({"username": "other"}, 422, None)])
def test_a_bad_change_is_refused_and_changes_nothing(client, world, body, status, field):
    before = client.get("/api/v1/users", headers=world.h("adm")).json()
    problem = assert_problem(patch(client, world, "asg_a", body), status)
    if field is not None:
        assert problem["field"] == field, problem
    assert client.get("/api/v1/users", headers=world.h("adm")).json() == before


def test_changing_someone_unknown_answers_404_and_only_admins_change_anyone(client, world):
    assert_problem(patch(client, world, "ghost", {"active": False}), 404)
    assert_problem(patch(client, world, "ghost%00", {"active": False}), 404)
    for caller in ("sup", "aud", "asg_a"):
        assert assert_problem(patch(client, world, "asg_a", {"active": False}, caller), 403)["reason"] == "role"
    assert me(client, world.tokens["asg_a"]) == 200


def test_a_deactivated_users_tokens_stop_at_once_and_they_receive_nothing(client, world, rt):
    second = client.post("/api/v1/users/asg_a/tokens", headers=world.h("adm")).json()["token"]
    item = drive(client, world, rt, new_item(client, world), "rectifying")
    with rt.store.read() as conn:
        assert "asg_a" in Directory.load(conn).resolve(["assignee"], assignee=None, unit_path=_path(rt, "DEPT-A"))
    off = patch(client, world, "asg_a", {"active": False})
    assert off.status_code == 200, off.text
    assert off.json()["active"] is False and off.json()["assigned_open_items"] == 1
    assert me(client, world.tokens["asg_a"]) == me(client, second) == 401
    with rt.store.read() as conn:
        directory = Directory.load(conn)
    assert "asg_a" not in directory.people
    # They receive nothing: the unit's other assignee stands in for them.
    assert directory.resolve(["assignee"], assignee="asg_a", unit_path=_path(rt, "DEPT-A")) == ["doer_a"]
    # Their item is handed on within the unit (改派), then they come back with their tokens.
    moved = client.post(f"/api/v1/items/{item['id']}/transitions", headers=world.h("sup_a"), json={
        "trigger": "transfer", "comment": "原责任人离岗", "fields": {"unit": "DEPT-A", "assignee": "doer_a"}})
    assert moved.status_code == 200 and moved.json()["assignee"] == "doer_a", moved.text
    back = patch(client, world, "asg_a", {"active": True})
    assert back.json()["active"] is True and back.json()["assigned_open_items"] == 0
    assert me(client, world.tokens["asg_a"]) == me(client, second) == 200


def _path(rt, code: str) -> str:
    with rt.store.read() as conn:
        return accounts.unit_by_code(conn, code).path


def test_the_last_active_admin_stays_one(client, world):
    for body in ({"active": False}, {"roles": ["supervisor"]}):
        problem = assert_problem(patch(client, world, "adm", body), 409)
        assert "last active admin" in problem["detail"]
    assert me(client, world.tokens["adm"]) == 200
    assert client.post("/api/v1/users", json={"username": "adm2", "roles": ["admin"], "unit": "CITY"},
                       headers=world.h("adm")).status_code == 201
    assert patch(client, world, "adm", {"active": False}).status_code == 200
    assert me(client, world.tokens["adm"]) == 401


def test_tokens_are_listed_without_secrets_and_revoked_one_at_a_time(client, world, rt):
    second = client.post("/api/v1/users/asg_a/tokens", headers=world.h("adm")).json()["token"]
    listed = client.get("/api/v1/users/asg_a/tokens", headers=world.h("adm"))
    assert listed.status_code == 200, listed.text
    tokens = listed.json()["data"]
    assert [(t["label"], t["revoked"], t["revoked_at"]) for t in tokens] == [
        ("created with the user", False, None), ("issued later", False, None)]
    assert all(set(t) == {"id", "label", "created_at", "revoked_at", "revoked"} for t in tokens)
    for secret in (world.tokens["asg_a"], second, accounts.hash_token(second)):
        assert secret not in listed.text
    first_id = tokens[0]["id"]
    revoked = client.delete(f"/api/v1/users/asg_a/tokens/{first_id}", headers=world.h("adm"))
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["revoked"] is True and revoked.json()["revoked_at"] == "2026-03-02T01:00:00.000000Z"
    assert me(client, world.tokens["asg_a"]) == 401 and me(client, second) == 200
    again = client.delete(f"/api/v1/users/asg_a/tokens/{first_id}", headers=world.h("adm"))
    assert again.status_code == 200 and again.json() == revoked.json()
    before = table_counts(rt)
    for path, status in ((f"/api/v1/users/sup/tokens/{first_id}", 404), ("/api/v1/users/ghost/tokens/1", 404),
                         ("/api/v1/users/asg_a/tokens/999999", 404), ("/api/v1/users/asg_a/tokens/0", 422),
                         ("/api/v1/users/asg_a/tokens/99999999999999999999", 422),
                         ("/api/v1/users/asg_a/tokens/abc", 422)):
        assert_problem(client.delete(path, headers=world.h("adm")), status)
    assert_problem(client.get("/api/v1/users/ghost/tokens", headers=world.h("adm")), 404)
    assert_problem(client.delete(f"/api/v1/users/asg_a/tokens/{tokens[1]['id']}", headers=world.h("sup")), 403)
    assert table_counts(rt) == before and me(client, second) == 200

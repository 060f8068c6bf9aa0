"""The authorization matrix of the HTTP API, on both stores.

Every caller sits in DEPT-A (units CITY > DEPT-A > SUB-A1 and CITY > DEPT-B), one per role, so each role
meets an item of its own unit, of a sub-unit and of another unit. The expected answers are tables:
ITEM_MATRIX for the item routes, ROUTE_MATRIX for the routes without an item, CREDENTIALS for 401.
An answer is written as its status, and a 403 with the problem's ``reason``: "200", "404", "403 role".
"""
from __future__ import annotations

import uuid

import pytest

from engine import accounts
from engine.models import Token, User
from tests.helpers import drive, fire, new_item, path_to, payload

ROLES = ("registrar", "supervisor", "assignee", "verifier", "auditor", "admin")
RELATIONS = ("own", "sub", "other")
UNIT = {"own": "DEPT-A", "sub": "SUB-A1", "other": "DEPT-B"}
UNITS_BELOW = {"CITY": {"own", "sub", "other"}, "DEPT-A": {"own", "sub"}, "SUB-A1": {"sub"},
               "DEPT-B": {"other"}}
# One caller per role, all in DEPT-A; aud_a and adm_a are added by the `callers` fixture.
CALLER = {"registrar": "reg_a", "supervisor": "sup_a", "assignee": "asg_a", "verifier": "ver_a",
          "auditor": "aud_a", "admin": "adm_a"}
# A trigger each role holds in the standard workflow (registrars and admins hold none), and one it lacks.
OWN_TRIGGER = {"supervisor": "assign", "assignee": "accept", "verifier": "approve", "auditor": "reopen"}
LACKED_TRIGGER = {role: "accept" if role == "supervisor" else "assign" for role in ROLES}
# Who moves an item of each unit into the state a check needs (all of them can see that unit).
MOVERS = {unit: {"supervisor": "sup", "assignee": asg, "verifier": "ver"}
          for unit, asg in (("DEPT-A", "asg_a"), ("SUB-A1", "asg_a1"), ("DEPT-B", "asg_b"))}

R403 = "403 role"
S403 = "403 unit_scope"
A403 = "403 not_assignee"
# (role, relation of the item's unit to the caller's): (GET item, by number and history; POST /items in
# that unit; POST the role's own trigger; POST a trigger the role lacks). None: the role holds no trigger.
ITEM_MATRIX = {
    ("registrar", "own"):    ("200", "201", None,  R403),
    ("registrar", "sub"):    ("200", "201", None,  R403),
    ("registrar", "other"):  ("404", S403,  None,  "404"),
    ("supervisor", "own"):   ("200", "201", "200", R403),
    ("supervisor", "sub"):   ("200", "201", "200", R403),
    ("supervisor", "other"): ("404", S403,  "404", "404"),
    ("assignee", "own"):     ("200", R403,  "200", R403),
    # The sub-unit's item names its own assignee (asg_a1): only they accept it, whoever else sees it.
    ("assignee", "sub"):     ("200", R403,  A403,  R403),
    ("assignee", "other"):   ("404", R403,  "404", "404"),
    ("verifier", "own"):     ("200", R403,  "200", R403),
    ("verifier", "sub"):     ("200", R403,  "200", R403),
    ("verifier", "other"):   ("404", R403,  "404", "404"),
    # Auditors and admins read every unit; an auditor's reopen follows that read scope.
    ("auditor", "own"):      ("200", R403,  "200", R403),
    ("auditor", "sub"):      ("200", R403,  "200", R403),
    ("auditor", "other"):    ("200", R403,  "200", R403),
    ("admin", "own"):        ("200", "201", None,  R403),
    ("admin", "sub"):        ("200", "201", None,  R403),
    ("admin", "other"):      ("200", "201", None,  R403),
}

EVERYONE = ("200",) * 6
ADMIN_ONLY_READ = (R403,) * 5 + ("200",)
ADMIN_ONLY_WRITE = (R403,) * 5 + ("201",)
# Routes without an item: (method, path) -> answers for ROLES in order
# (registrar, supervisor, assignee, verifier, auditor, admin).
ROUTE_MATRIX = {
    ("GET", "/api/v1/me"): EVERYONE,
    ("GET", "/api/v1/items"): EVERYONE,
    ("GET", "/api/v1/workflows"): EVERYONE,
    ("GET", "/api/v1/workflows/standard"): EVERYONE,
    ("GET", "/api/v1/workflows/no-such-workflow"): ("404",) * 6,
    ("GET", "/api/v1/audit/verify"): (R403, R403, R403, R403, "200", "200"),
    ("GET", "/api/v1/units"): ADMIN_ONLY_READ,
    ("POST", "/api/v1/units"): ADMIN_ONLY_WRITE,
    ("GET", "/api/v1/users"): ADMIN_ONLY_READ,
    ("POST", "/api/v1/users"): ADMIN_ONLY_WRITE,
    ("POST", "/api/v1/users/asg_a/tokens"): ADMIN_ONLY_WRITE,
    ("PATCH", "/api/v1/users/asg_a"): ADMIN_ONLY_READ,
    ("GET", "/api/v1/users/asg_a/tokens"): ADMIN_ONLY_READ,
    # No such token: only an admin gets as far as finding that out.
    ("DELETE", "/api/v1/users/asg_a/tokens/999999"): (R403,) * 5 + ("404",),
}
BODIES = {"/api/v1/units": {"code": "DEPT-C", "name": "市住建委", "parent": "CITY"},
          "/api/v1/users": {"username": "wang.fang", "roles": ["assignee"], "unit": "DEPT-A"},
          "/api/v1/items": {"title": "家庭养老床位建设进度滞后", "source": "supervision", "unit": "DEPT-A"},
          "/api/v1/users/asg_a": {"email": "asg_a@jyj.example.gov.cn"}}
WITH_BODY = ("POST", "PATCH")


@pytest.fixture
def callers(rt, world):
    """The world plus an auditor and an admin based in DEPT-A, so every role has a caller there."""
    with rt.store.write() as conn:
        for username, role in (("aud_a", "auditor"), ("adm_a", "admin")):
            _, token = accounts.add_user(conn, clock=rt.clock, actor="cli:tests", username=username, roles=[role], unit="DEPT-A")
            world.tokens[username] = token
    return world


def outcome(response) -> str:
    """'200', '404', '403 role'...: the status, with the problem's reason for a 403 (errors: problem+json)."""
    if response.status_code >= 400:
        assert response.headers["content-type"] == "application/problem+json", response.text
        assert response.json()["status"] == response.status_code
    if response.status_code == 403:
        return f"403 {response.json()['reason']}"
    return str(response.status_code)


def item_at(client, world, rt, unit: str, state: str, **registered) -> dict:
    """A new item of ``unit`` moved to ``state`` by people who can see that unit."""
    item = new_item(client, world, unit=unit, **registered)
    for tdef in path_to(rt.registry.current("standard").definition, state):
        response = fire(client, world, item, payload(tdef, rt.today(), item), MOVERS[unit][tdef.roles[0]])
        assert response.status_code == 200, (tdef.trigger, response.text)
        item = response.json()
    return item


def footprint(client, world, item: dict) -> tuple[int, int]:
    """(version, history length) of an item, read by a city-level admin."""
    url = f"/api/v1/items/{item['id']}"
    version = client.get(url, headers=world.h("adm")).json()["version"]
    return version, len(client.get(f"{url}/history", headers=world.h("adm")).json()["data"])


def try_trigger(client, world, rt, caller: str, unit: str, trigger: str) -> str:
    """Fire ``trigger`` as ``caller`` on a fresh item of ``unit`` in the trigger's source state."""
    tdef = next(t for t in rt.registry.current("standard").definition.transitions if t.trigger == trigger)
    item = item_at(client, world, rt, unit, tdef.source[0])
    before = footprint(client, world, item)
    result = outcome(fire(client, world, item, payload(tdef, rt.today(), item), caller))
    # Only a success changes the item; every refusal leaves version and history as they were.
    bump = 1 if result == "200" else 0
    assert footprint(client, world, item) == (before[0] + bump, before[1] + bump), (trigger, result)
    return result


@pytest.mark.parametrize("relation", RELATIONS)
@pytest.mark.parametrize("role", ROLES)
def test_item_routes_by_role_and_unit(client, callers, rt, role, relation):
    world, caller, unit = callers, CALLER[role], UNIT[relation]
    item = new_item(client, world, unit=unit)
    reads = {outcome(client.get(path, headers=world.h(caller)))
             for path in (f"/api/v1/items/{item['id']}", f"/api/v1/items/{item['number']}",
                          f"/api/v1/items/{item['id']}/history")}
    created = client.post("/api/v1/items", json={**BODIES["/api/v1/items"], "unit": unit},
                          headers=world.h(caller))
    if created.status_code == 201:
        assert created.headers["location"] == f"/api/v1/items/{created.json()['id']}"
        assert created.json()["unit"] == unit
    own = OWN_TRIGGER.get(role)
    actual = ("|".join(sorted(reads)), outcome(created),
              try_trigger(client, world, rt, caller, unit, own) if own else None,
              try_trigger(client, world, rt, caller, unit, LACKED_TRIGGER[role]))
    assert actual == ITEM_MATRIX[role, relation]


def _listed(client, world, caller: str, ids: dict[str, str], query: str) -> set[str]:
    """Relations whose item shows in the list, following every cursor (pages of one)."""
    seen: list[str] = []
    url = f"/api/v1/items?limit=1{query}"
    while url:
        response = client.get(url, headers=world.h(caller))
        assert response.status_code == 200, response.text
        page = response.json()
        seen += [row["id"] for row in page["data"]]
        url = f"/api/v1/items?limit=1{query}&cursor={page['next_cursor']}" if page["next_cursor"] else None
    assert len(seen) == len(set(seen)) and set(seen) <= set(ids.values())
    return {relation for relation, item_id in ids.items() if item_id in seen}


def _unit_refusal(client, world, caller: str, unit: str) -> tuple:
    """The answer to ``?unit=`` with the code itself blanked out of the detail."""
    response = client.get("/api/v1/items", params={"unit": unit}, headers=world.h(caller))
    body = response.json()
    return response.status_code, body.get("type"), body.get("field"), body.get("detail", "").replace(repr(unit), "?")


@pytest.mark.parametrize("role", ROLES)
def test_lists_hold_only_items_in_scope(client, callers, role):
    world, caller = callers, CALLER[role]
    ids = {relation: new_item(client, world, unit=UNIT[relation], campaign="2026-XC-R1")["id"]
           for relation in RELATIONS}
    visible = {relation for relation in RELATIONS if ITEM_MATRIX[role, relation][0] == "200"}
    assert _listed(client, world, caller, ids, "") == visible
    for unit, below in UNITS_BELOW.items():
        if role in ("auditor", "admin") or unit in ("DEPT-A", "SUB-A1"):
            assert _listed(client, world, caller, ids, f"&unit={unit}") == visible & below, unit
        else:  # a unit outside the caller's scope is answered exactly like one that does not exist
            assert _unit_refusal(client, world, caller, unit) == _unit_refusal(client, world, caller, "NO-SUCH"), unit
    for query in ("&q=幼儿园", "&state=identified", "&campaign=2026-XC-R1", "&assignee=asg_b"):
        expected = visible & {"other"} if "asg_b" in query else visible
        assert _listed(client, world, caller, ids, query) == expected, query


@pytest.mark.parametrize("role", ROLES)
def test_routes_without_an_item(client, callers, role):
    world, caller, column = callers, CALLER[role], ROLES.index(role)
    actual, expected = {}, {}
    for (method, path), answers in ROUTE_MATRIX.items():
        response = client.request(method, path, json=BODIES.get(path) if method in WITH_BODY else None,
                                  headers=world.h(caller))
        actual[method, path], expected[method, path] = outcome(response), answers[column]
    assert actual == expected
    me = client.get("/api/v1/me", headers=world.h(caller)).json()
    assert me == {"username": caller, "roles": [role], "unit": "DEPT-A"}
    # A refused admin write leaves nothing behind.
    units = [u["code"] for u in client.get("/api/v1/units", headers=world.h("adm")).json()["data"]]
    users = [u["username"] for u in client.get("/api/v1/users", headers=world.h("adm")).json()["data"]]
    assert ("DEPT-C" in units) == ("wang.fang" in users) == (role == "admin")


def _revoke(rt, token: str) -> None:
    tokens = Token.__table__
    with rt.store.write() as conn:
        conn.execute(tokens.update().where(tokens.c.token_hash == accounts.hash_token(token))
                     .values(revoked_at=rt.clock.now()))


def _deactivate(rt, username: str) -> None:
    users = User.__table__
    with rt.store.write() as conn:
        conn.execute(users.update().where(users.c.username == username).values(active=False))


def _credentials(kind: str, client, world, rt) -> dict:
    """The Authorization header of each kind of bad credential (and the setup that makes it bad)."""
    token = world.tokens["reg_a"]
    if kind in ("revoked", "inactive_user"):
        assert client.get("/api/v1/me", headers=world.h("reg_a")).status_code == 200
        if kind == "revoked":
            _revoke(rt, token)
        else:
            _deactivate(rt, "reg_a")
    return {"missing": {}, "empty_bearer": {"Authorization": "Bearer "},
            "not_bearer": {"Authorization": f"Basic {token}"},
            "unknown": {"Authorization": f"Bearer cl_{uuid.uuid4().hex}{uuid.uuid4().hex}"},
            "oversized": {"Authorization": "Bearer " + "x" * 4000},
            "revoked": {"Authorization": f"Bearer {token}"},
            "inactive_user": {"Authorization": f"Bearer {token}"}}[kind]


CREDENTIALS = ("missing", "empty_bearer", "not_bearer", "unknown", "oversized", "revoked", "inactive_user")


@pytest.mark.parametrize("kind", CREDENTIALS)
def test_every_route_answers_401_to_bad_credentials(client, callers, rt, kind):
    world = callers
    item = new_item(client, world)
    second = client.post("/api/v1/users/reg_a/tokens", headers=world.h("adm")).json()["token"]
    headers = _credentials(kind, client, world, rt)
    url = f"/api/v1/items/{item['id']}"
    routes = [*ROUTE_MATRIX, ("POST", "/api/v1/items"), ("GET", url), ("GET", f"{url}/history"),
              ("POST", f"{url}/transitions")]
    bodies = {**BODIES, f"{url}/transitions": {"trigger": "cancel", "comment": "重复登记"}}
    for method, path in routes:
        body = bodies.get(path) if method in WITH_BODY else None
        response = client.request(method, path, json=body, headers=headers)
        assert response.status_code == 401, (method, path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json()["status"] == 401 and "Traceback" not in response.text
    # Nothing was changed by any of them; a revoked token leaves the user's other tokens working.
    assert client.get(f"/api/v1/items/{item['id']}", headers=world.h("adm")).json()["version"] == 1
    other_token = client.get("/api/v1/me", headers={"Authorization": f"Bearer {second}"}).status_code
    assert other_token == (401 if kind == "inactive_user" else 200)


def test_out_of_scope_item_answers_like_a_missing_one(client, callers):
    world = callers
    hidden = new_item(client, world, unit="DEPT-B")
    missing = {"id": str(uuid.uuid4()), "number": "ZG-2026-999999"}

    def answer(ref: str, method: str, suffix: str, **headers) -> tuple:
        body = {"trigger": "cancel", "comment": "重复登记"} if method == "POST" else None
        response = client.request(method, f"/api/v1/items/{ref}{suffix}", json=body,
                                  headers=world.h("ver_a", **headers))
        return response.status_code, response.headers["content-type"], response.text.replace(ref, "<ref>")

    for method, suffix, headers in (("GET", "", {}), ("GET", "/history", {}), ("POST", "/transitions", {}),
                                    ("POST", "/transitions", {"If-Match": '"99"'}),
                                    ("POST", "/transitions", {"Idempotency-Key": "k-404"})):
        for field in ("id", "number"):
            seen = answer(hidden[field], method, suffix, **headers)
            assert seen[0] == 404, (method, suffix, seen)
            assert seen == answer(missing[field], method, suffix, **headers), (method, suffix)
    assert client.get(f"/api/v1/items/{hidden['id']}", headers=world.h("adm")).json()["version"] == 1


def test_moving_an_item_out_of_scope_is_refused(client, world, rt):
    item = new_item(client, world, unit="DEPT-A")
    fields = {"due_date": "2026-04-30", "unit": "DEPT-B", "assignee": "asg_b"}
    assign = {"trigger": "assign", "fields": fields}
    refused = fire(client, world, item, assign, "sup_a")
    assert outcome(refused) == S403
    assert footprint(client, world, item) == (1, 1)
    fields.update(unit="SUB-A1", assignee="asg_a1")
    moved = fire(client, world, item, assign, "sup_a")
    assert moved.status_code == 200 and moved.json()["unit"] == "SUB-A1", moved.text
    assert moved.json()["transition"]["fields"] == fields
    assert client.get("/api/v1/audit/verify", headers=world.h("aud")).json()["ok"] is True


def test_verifier_who_submitted_the_fix_may_not_verify_it(client, world, rt):
    item = drive(client, world, rt, new_item(client, world, assignee="doer_a"), "rectifying")
    submitted = fire(client, world, item, {"trigger": "submit", "evidence": [
        {"name": "整改报告.pdf", "sha256": "ab" * 32}]}, "doer_a")
    assert submitted.status_code == 200 and submitted.json()["submitted_by"] == "doer_a", submitted.text
    seen_by_doer = client.get(f"/api/v1/items/{item['id']}", headers=world.h("doer_a")).json()
    assert not {"approve", "reject"} & set(seen_by_doer["allowed_triggers"])
    before = footprint(client, world, item)
    for body in ({"trigger": "approve"}, {"trigger": "reject", "comment": "材料不全"}):
        assert outcome(fire(client, world, item, body, "doer_a")) == "403 separation_of_duties"
    assert footprint(client, world, item) == before
    seen_by_other = client.get(f"/api/v1/items/{item['id']}", headers=world.h("ver_a")).json()
    assert {"approve", "reject"} <= set(seen_by_other["allowed_triggers"])
    # The bar follows the latest submitter: once someone else resubmits, doer_a may verify. Only the named
    # assignee submits, so the someone else is in the unit the item is transferred to (转办).
    assert fire(client, world, item, {"trigger": "reject", "comment": "材料不全"}, "ver_a").status_code == 200
    moved = fire(client, world, item, {"trigger": "transfer", "comment": "由区教育局整改",
                                       "fields": {"unit": "SUB-A1", "assignee": "asg_a1"}}, "sup_a")
    assert moved.status_code == 200, moved.text
    assert fire(client, world, item, {"trigger": "accept"}, "asg_a1").status_code == 200
    evidence = [{"name": "补充.pdf", "sha256": "cd" * 32}]
    resubmit = fire(client, world, item, {"trigger": "submit", "evidence": evidence}, "asg_a1")
    assert resubmit.json()["submitted_by"] == "asg_a1"
    assert fire(client, world, item, {"trigger": "approve"}, "doer_a").status_code == 200


# 转办 (transfer): the supervisor role, with the item's unit AND the target unit both in its write scope.
# (caller, item's unit, target unit): the answer. Items stand in `rectifying`, named to their unit's assignee.
TRANSFER_MATRIX = {
    ("sup", "DEPT-A", "DEPT-B"): "200", ("sup", "SUB-A1", "DEPT-B"): "200",
    ("sup_a", "DEPT-A", "SUB-A1"): "200", ("sup_a", "SUB-A1", "DEPT-A"): "200",
    ("sup_a", "DEPT-A", "DEPT-B"): S403, ("sup_a", "DEPT-B", "DEPT-A"): "404",
    ("sup_b", "DEPT-B", "DEPT-A"): S403, ("sup_b", "DEPT-A", "DEPT-B"): "404",
    ("aud_a", "DEPT-A", "SUB-A1"): R403, ("adm_a", "DEPT-A", "SUB-A1"): R403, ("asg_a", "DEPT-A", "SUB-A1"): R403,
}


def test_transfer_needs_both_units_in_the_supervisors_scope(client, callers, rt):
    world, actual = callers, {}
    for caller, unit, target in TRANSFER_MATRIX:
        item = item_at(client, world, rt, unit, "rectifying")
        before = footprint(client, world, item)
        result = outcome(fire(client, world, item, {"trigger": "transfer", "comment": "职责调整",
                                                    "fields": {"unit": target}}, caller))
        bump = 1 if result == "200" else 0
        assert footprint(client, world, item) == (before[0] + bump, before[1] + bump), (caller, unit, target)
        actual[caller, unit, target] = result
    assert actual == TRANSFER_MATRIX
    assert client.get("/api/v1/audit/verify", headers=world.h("aud")).json()["ok"] is True

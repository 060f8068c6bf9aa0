"""The authorization matrix for people who hold several roles, on both stores.

Scope comes from the role that grants the action: an auditor's or admin's all-units *read* scope never
lets the same person's supervisor, registrar, assignee or verifier role act outside their own subtree.
Every caller here sits in DEPT-B (units CITY > DEPT-A > SUB-A1 and CITY > DEPT-B); the items they meet
are in DEPT-A ("other") and DEPT-B ("own"). Answers are written as in test_authorization.py.
"""
from __future__ import annotations

import pytest

from engine import accounts
from tests.api.test_authorization import R403, S403, footprint, item_at, outcome
from tests.helpers import fire, new_item, payload

# username: roles, all based in DEPT-B.
MULTI = {
    "aud_sup": ["auditor", "supervisor"],
    "adm_sup": ["admin", "supervisor"],
    "aud_reg": ["auditor", "registrar"],
    "aud_asg": ["assignee", "auditor"],
    "aud_ver": ["auditor", "verifier"],
}
UNIT = {"own": "DEPT-B", "other": "DEPT-A"}
# (caller, relation): (read the item; register an item there; the trigger each role pair tries and its answer)
ACTIONS = {
    "aud_sup": ("assign", "cancel", "reopen"),
    "adm_sup": ("assign", "cancel"),
    "aud_reg": (),
    "aud_asg": ("accept",),
    "aud_ver": ("approve",),
}
MATRIX = {
    ("aud_sup", "own"): ("200", "201", {"assign": "200", "cancel": "200", "reopen": "200"}),
    # Read everywhere (auditor) but act as a supervisor only at home; reopening is the auditor's own act.
    ("aud_sup", "other"): ("200", S403, {"assign": S403, "cancel": S403, "reopen": "200"}),
    ("adm_sup", "own"): ("200", "201", {"assign": "200", "cancel": "200"}),
    # An admin registers anywhere; assigning and cancelling are a supervisor's, scoped to their subtree.
    ("adm_sup", "other"): ("200", "201", {"assign": S403, "cancel": S403}),
    ("aud_reg", "own"): ("200", "201", {}),
    ("aud_reg", "other"): ("200", S403, {}),
    ("aud_asg", "own"): ("200", R403, {"accept": "200"}),
    ("aud_asg", "other"): ("200", R403, {"accept": S403}),
    ("aud_ver", "own"): ("200", R403, {"approve": "200"}),
    ("aud_ver", "other"): ("200", R403, {"approve": S403}),
}
SOURCE_STATE = {"assign": "identified", "cancel": "identified", "reopen": "closed", "accept": "assigned",
                "approve": "pending_verification"}


@pytest.fixture
def multi(rt, world):
    """The world plus the multi-role callers of MULTI, all in DEPT-B."""
    with rt.store.write() as conn:
        for username, roles in MULTI.items():
            _, world.tokens[username] = accounts.add_user(conn, clock=rt.clock, actor="cli:tests", username=username, roles=roles,
                                                          unit="DEPT-B")
    return world


def _try(client, world, rt, caller: str, unit: str, trigger: str) -> str:
    tdef = next(t for t in rt.registry.current("standard").definition.transitions if t.trigger == trigger)
    # An item with no named assignee, so that accepting it is open to any assignee of its unit.
    item = item_at(client, world, rt, unit, SOURCE_STATE[trigger], **({"assignee": None} if trigger == "accept" else {}))
    before = footprint(client, world, item)
    seen_allowed = trigger in client.get(f"/api/v1/items/{item['id']}", headers=world.h(caller)).json()[
        "allowed_triggers"]
    result = outcome(fire(client, world, item, payload(tdef, rt.today(), item), caller))
    bump = 1 if result == "200" else 0
    assert footprint(client, world, item) == (before[0] + bump, before[1] + bump), (trigger, result)
    # What the item offers the caller agrees with what the caller may actually do.
    assert seen_allowed == (result == "200"), (caller, trigger, result)
    return result


@pytest.mark.parametrize("relation", ["own", "other"])
@pytest.mark.parametrize("caller", list(MULTI))
def test_multi_role_users_act_only_within_the_granting_roles_scope(client, multi, rt, caller, relation):
    world, unit = multi, UNIT[relation]
    item = new_item(client, world, unit=unit)
    read = outcome(client.get(f"/api/v1/items/{item['id']}", headers=world.h(caller)))
    created = client.post("/api/v1/items", json={"title": "家庭养老床位建设进度滞后", "source": "supervision",
                                                 "unit": unit}, headers=world.h(caller))
    triggers = {trigger: _try(client, world, rt, caller, unit, trigger) for trigger in ACTIONS[caller]}
    assert (read, outcome(created), triggers) == MATRIX[caller, relation]


def test_a_supervisor_who_audits_cannot_move_an_item_into_another_units_hands(client, multi, rt):
    world = multi
    item = new_item(client, world, unit="DEPT-B")
    moved = fire(client, world, item, {"trigger": "assign", "fields": {
        "due_date": "2026-04-30", "unit": "DEPT-A", "assignee": "asg_a"}}, "aud_sup")
    assert outcome(moved) == S403
    assert footprint(client, world, item) == (1, 1)
    # Within the home subtree the same request goes through.
    kept = fire(client, world, item, {"trigger": "assign", "fields": {"due_date": "2026-04-30"}}, "aud_sup")
    assert kept.status_code == 200, kept.text


def test_a_supervisor_who_audits_transfers_only_within_their_supervising_scope(client, multi, rt):
    world = multi
    for unit, target in (("DEPT-A", "DEPT-B"), ("DEPT-B", "DEPT-A")):
        item = item_at(client, world, rt, unit, "rectifying")
        offered = client.get(f"/api/v1/items/{item['id']}", headers=world.h("aud_sup")).json()["allowed_triggers"]
        # Offered where the item's unit is theirs to supervise; the target must be theirs as well.
        assert ("transfer" in offered) == (unit == "DEPT-B"), (unit, offered)
        body = {"trigger": "transfer", "comment": "职责调整", "fields": {"unit": target}}
        assert outcome(fire(client, world, item, body, "aud_sup")) == S403, (unit, target)
        assert footprint(client, world, item) == (item["version"], item["version"])

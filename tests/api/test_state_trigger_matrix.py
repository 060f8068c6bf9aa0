"""Every (state, trigger) pair of every bundled workflow, generated from its definition, on both stores.

For each state of a workflow an item is driven there fresh, and every trigger is fired by a user who holds
the trigger's role, with a request that satisfies its requirements and guards:

- a pair the workflow defines must succeed (200) and land in its destination, one version and one history
  record further; fired first by a user without the role it answers 403 (reason "role") and writes nothing;
- any other pair answers 409 with the problem fields ``state`` and ``allowed_triggers`` (the caller's) and
  writes nothing. Triggers that only other bundled workflows know are fired too: unknown here, they answer
  422 ``unknown-trigger`` naming the workflow's own triggers in ``triggers``, and write nothing.

A refusal is checked to change nothing (item version, history, outbox), so one driven item serves all the
refused pairs of its state; each defined pair gets an item of its own, since succeeding moves it on.
"""
from __future__ import annotations

import pytest

from engine.config import BUNDLED_WORKFLOWS
from engine.definitions import TransitionDef, load_path
from tests.helpers import DRIVER, USERS, assert_problem, drive, fire, new_item, payload, table_counts

# Collected from the workflow files themselves, so a new bundled workflow is covered without editing here.
BUNDLED = sorted(load_path(BUNDLED_WORKFLOWS))
# Users tried, in order, as the caller who lacks a transition's role (all of them can see DEPT-A's items).
OUTSIDERS = ("asg_a", "ver", "sup", "aud", "reg", "adm")
WRITTEN = ("items", "history", "outbox")


def without_role(roles: list[str]) -> str:
    """A user in scope who holds none of ``roles``."""
    return next(u for u in OUTSIDERS if not set(USERS[u][0]) & set(roles))


class Probe:
    """Fires one trigger on one item and checks the answer and what was (not) written."""

    def __init__(self, client, world, rt, workflow: str) -> None:
        self.client, self.world, self.rt, self.workflow = client, world, rt, workflow

    def fresh(self, state: str) -> dict:
        item = new_item(self.client, self.world, workflow=self.workflow)
        return drive(self.client, self.world, self.rt, item, state)

    def view(self, item: dict, as_user: str) -> dict:
        response = self.client.get(f"/api/v1/items/{item['id']}", headers=self.world.h(as_user))
        assert response.status_code == 200, response.text
        return response.json()

    def refused(self, item: dict, tdef: TransitionDef, as_user: str, status: int, where: str) -> dict:
        """Fire and expect a refusal with ``status`` that writes nothing; return the problem body."""
        counts = table_counts(self.rt, WRITTEN)
        response = fire(self.client, self.world, item, payload(tdef, self.rt.today(), item), as_user)
        assert response.status_code == status, f"{where} as {as_user}: expected {status}, got {response.text}"
        problem = assert_problem(response, status)
        after = self.view(item, as_user)
        assert after["version"] == item["version"], f"{where}: a refused trigger changed the item's version"
        assert after["state"] == item["state"], f"{where}: a refused trigger changed the item's state"
        assert table_counts(self.rt, WRITTEN) == counts, f"{where}: a refused trigger wrote rows"
        return problem | {"caller_allowed": after["allowed_triggers"]}

    def succeeds(self, item: dict, tdef: TransitionDef, where: str) -> dict:
        """Fire as the trigger's usual actor and expect the move to ``tdef.dest``."""
        as_user = DRIVER[tdef.roles[0]]
        offered = self.view(item, as_user)["allowed_triggers"]
        assert tdef.trigger in offered, f"{where}: not offered to {as_user}"
        counts = table_counts(self.rt, WRITTEN)
        response = fire(self.client, self.world, item, payload(tdef, self.rt.today(), item), as_user)
        assert response.status_code == 200, f"{where} as {as_user}: {response.text}"
        moved = response.json()
        assert moved["state"] == tdef.dest, f"{where}: landed in {moved['state']}, not {tdef.dest}"
        assert moved["version"] == item["version"] + 1, f"{where}: version did not rise by one"
        assert response.headers["etag"] == f'"{moved["version"]}"', where
        record = moved["transition"]
        assert (record["trigger"], record["from_state"], record["to_state"], record["actor"]) == (
            tdef.trigger, item["state"], tdef.dest, as_user), where
        after = table_counts(self.rt, WRITTEN)
        assert (after["items"], after["history"], after["outbox"]) == (
            counts["items"], counts["history"] + 1, counts["outbox"] + 1), f"{where}: {counts} -> {after}"
        return moved


@pytest.mark.parametrize("workflow", BUNDLED)
def test_every_state_and_trigger_of_the_workflow(client, world, rt, workflow):
    assert sorted(rt.registry.names()) == BUNDLED
    definition = rt.registry.current(workflow).definition
    own = {t.trigger: t for t in reversed(definition.transitions)}  # first definition of each trigger wins
    foreign = {t.trigger: t for name in BUNDLED if name != workflow
               for t in rt.registry.current(name).definition.transitions if t.trigger not in own}
    probe = Probe(client, world, rt, workflow)
    own_order = dict.fromkeys(t.trigger for t in definition.transitions)  # the workflow's triggers, file order
    outcomes = {"done": 0, "409": 0, "422": 0, "403": 0}
    for state in definition.states:
        defined = [t for t in definition.transitions if state.name in t.source]
        item = probe.fresh(state.name)
        assert item["state"] == state.name, f"{workflow}/{state.name}: could not drive there"
        for trigger, tdef in sorted({**own, **foreign}.items()):
            if any(t.trigger == trigger for t in defined):
                continue
            where = f"{workflow}/{state.name}/{trigger}" + (" (from another workflow)" * (trigger in foreign))
            if trigger in foreign:
                problem = probe.refused(item, tdef, DRIVER[tdef.roles[0]], 422, where)
                assert problem["type"].endswith("/unknown-trigger"), where
                assert problem["triggers"] == list(own_order), f"{where}: {problem['triggers']}"
                outcomes["422"] += 1
                continue
            problem = probe.refused(item, tdef, DRIVER[tdef.roles[0]], 409, where)
            assert problem["type"].endswith("/invalid-transition"), where
            assert problem["state"] == state.name, f"{where}: problem names state {problem.get('state')}"
            assert isinstance(problem["allowed_triggers"], list), where
            assert sorted(problem["allowed_triggers"]) == sorted(problem["caller_allowed"]), where
            assert trigger not in problem["allowed_triggers"], where
            outcomes["409"] += 1
        for n, tdef in enumerate(defined):
            item = item if n == 0 else probe.fresh(state.name)
            where = f"{workflow}/{state.name}/{tdef.trigger}"
            outsider = without_role(tdef.roles)
            problem = probe.refused(item, tdef, outsider, 403, f"{where} without the role")
            assert problem["reason"] == "role", f"{where} as {outsider}: {problem}"
            assert tdef.trigger not in problem["caller_allowed"], f"{where}: offered to {outsider}"
            outcomes["403"] += 1
            probe.succeeds(item, tdef, where)
            outcomes["done"] += 1
    pairs = len(definition.states) * len(own)
    defined_pairs = sum(len(t.source) for t in definition.transitions)
    assert outcomes["done"] == outcomes["403"] == defined_pairs
    assert outcomes["409"] == pairs - defined_pairs
    assert outcomes["422"] == len(definition.states) * len(foreign)
    verify = client.get("/api/v1/audit/verify", headers=world.h("aud")).json()
    assert verify["ok"] is True, verify

"""A Hypothesis state machine that drives random sequences of API calls against the model of tests/model/rules.py.

Each example starts from a fresh copy of the test world (units CITY > DEPT-A > SUB-A1, CITY > DEPT-B and a
user of every role) and the app in-process through httpx. Steps register items, fire triggers (valid ones,
spoiled ones, as callers with and without the role, the scope or the item), send stale If-Match versions,
repeat Idempotency-Keys with the same and another body, move the injected clock and run the sweep. After
every step the item lists of two callers (the auditor's and another's, in turn) must show exactly the items
the model says they see, in the model's state and version, offering the model's triggers; at the end of
each example every item's history is the model's and its chain verifies.
"""
from __future__ import annotations

import datetime as dt
import itertools
from collections import Counter
from dataclasses import dataclass, field

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from engine.reminders.sweep import sweep
from tests.helpers import USERS, assert_problem
from tests.model.notices import falling_due, modelled
from tests.model.rules import (
    PEOPLE,
    UNIT_PATHS,
    Item,
    allowed_triggers,
    apply,
    expect_transition,
    spoil,
    valid_body,
)

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
MAX_ITEMS = 6
CREATORS = ("reg", "sup", "adm", "reg_a", "sup_a")
# A named assignee is one of the item's own unit's people (one of a unit below could not see the item).
ASSIGNEES = {unit: [u for u, (roles, home) in USERS.items() if "assignee" in roles and home == unit]
             for unit in UNIT_PATHS}


def dead_end(workflow, state: str) -> bool:
    """A state no transition leaves (作废: cancelled)."""
    return not any(state in t.source for t in workflow.transitions)


SPOILS = ("no_comment", "no_evidence", "foreign_field", "unknown_trigger")


@dataclass
class Tally:
    """What the machine tried, over every example of a run."""

    examples: int = 0
    steps: int = 0
    calls: Counter = field(default_factory=Counter)
    statuses: Counter = field(default_factory=Counter)
    moves: Counter = field(default_factory=Counter)  # accepted transitions by trigger

    def line(self, label: str, seconds: float) -> str:
        calls = ", ".join(f"{k} {v}" for k, v in sorted(self.calls.items()))
        refused = ", ".join(f"{k}: {v}" for k, v in sorted(self.statuses.items()) if not 200 <= k < 300)
        moves = ", ".join(f"{k} {v}" for k, v in sorted(self.moves.items()))
        return (f"model {label}: {self.examples} examples, {self.steps} steps in {seconds:.0f} s; calls: {calls}; "
                f"accepted: {moves}; refusals by status: {refused}")


class Deployment:
    """Opens a fresh database with the test world per example: ``open() -> (client, world, rt, clock, url)``
    and ``close()``; set by the test before the machine runs."""

    open = None
    close = None


class ItemsMachine(RuleBasedStateMachine):
    """Random API calls against the model; see the module docstring."""

    tally = Tally()

    def __init__(self) -> None:
        super().__init__()
        self.client, self.world, self.rt, self.clock, self.url = Deployment.open()
        self.items: list[Item] = []
        self.keys: dict[tuple[str, str], tuple] = {}  # (caller, key) -> (path, body, If-Match, response)
        self.key_numbers = itertools.count(1)
        self.observers = itertools.cycle(sorted(PEOPLE))
        self.swept_at = None
        self.tally.examples += 1

    # -- time --------------------------------------------------------------------------------------

    def now(self) -> dt.datetime:
        return self.clock.now().astimezone(SHANGHAI)

    def max_due(self, item: Item) -> dt.date | None:
        limit = item.workflow.due_date.max
        if limit is None:
            return None
        assert limit.unit == "days", limit
        return self.now().date() + dt.timedelta(days=limit.amount)

    # -- calls -------------------------------------------------------------------------------------

    def post(self, kind: str, user: str, path: str, body: dict, if_match: int | None = None,
             key: str | None = None):
        headers = {}
        if if_match is not None:
            headers["If-Match"] = f'"{if_match}"'
        if key is not None:
            headers["Idempotency-Key"] = key
        response = self.client.post(path, json=body, headers=self.world.h(user, **headers))
        self.tally.calls[kind] += 1
        self.tally.statuses[response.status_code] += 1
        assert response.status_code < 500, response.text
        if response.status_code >= 400:
            assert_problem(response)
        return response

    def new_key(self, use: bool) -> str | None:
        return f"k-{next(self.key_numbers)}" if use else None

    def remember(self, user: str, key: str | None, path: str, body: dict, if_match, response) -> None:
        """A key is used up only by a request that succeeded (a refused one may be retried with it)."""
        if key is not None and response.status_code < 300:
            self.keys[(user, key)] = (path, body, if_match, response)

    # -- rules -------------------------------------------------------------------------------------

    @precondition(lambda self: len(self.items) < MAX_ITEMS)
    @rule(data=st.data(), workflow=st.sampled_from(["standard", "immediate", "long_term"]),
          creator=st.sampled_from(CREATORS), use_key=st.booleans())
    def register(self, data, workflow, creator, use_key):
        """POST /items by a registrar or supervisor, within their unit, with or without a named assignee."""
        units = [u for u in UNIT_PATHS if PEOPLE[creator].covers(u)]
        unit = data.draw(st.sampled_from(units), label="unit")
        assignee = data.draw(st.sampled_from([None, *ASSIGNEES[unit]]), label="assignee")
        body = {"title": "家庭养老床位建设进度滞后", "source": "inspection", "unit": unit, "workflow": workflow}
        if assignee:
            body["assignee"] = assignee
        key = self.new_key(use_key)
        response = self.post("create", creator, "/api/v1/items", body, key=key)
        assert response.status_code == 201, response.text
        created = response.json()
        definition = self.rt.registry.current(workflow).definition
        item = Item(created["id"], definition, definition.initial, unit, assignee, entered_at=self.now())
        self.items.append(item)
        self.remember(creator, key, "/api/v1/items", body, None, response)
        self.check_view(item, created, creator)

    @precondition(lambda self: self.items)
    @rule(data=st.data(), use_key=st.booleans(), if_match=st.sampled_from(["none", "current", "stale"]))
    def fire_offered(self, data, use_key, if_match):
        """A trigger the model says some caller may fire now, by that caller, with a valid request."""
        self.step(data, data.draw(st.sampled_from(self.items), label="item"), if_match, use_key, dead_ends=True)

    @precondition(lambda self: self.items)
    @rule(data=st.data(), steps=st.integers(2, 6), days_between=st.integers(0, 4))
    def work_along(self, data, steps, days_between):
        """Several offered triggers in a row on one item, never into a dead end (a final state with no way out),
        some days apart, the sweep running each day: moving items along is what reaches the deep states and
        the deadlines."""
        item = data.draw(st.sampled_from(self.items), label="item")
        for _ in range(steps):
            for _ in range(days_between):
                self.clock.advance(days=1)
                self.run_sweep()
            if not self.step(data, item, "current", use_key=False, dead_ends=False):
                return

    def step(self, data, item: Item, if_match: str, use_key: bool, dead_ends: bool) -> bool:
        """Fire one trigger the model offers on ``item`` (each offered trigger as likely as another), by one of
        the callers it is offered to, with a valid request; False when nothing is offered."""
        offers = {t.trigger: t for t in item.transitions_from_here() if dead_ends or not dead_end(item.workflow, t.dest)}
        callers = {trigger: [name for name in sorted(PEOPLE) if trigger in allowed_triggers(item, PEOPLE[name])]
                   for trigger in offers}
        triggers = sorted(trigger for trigger in offers if callers[trigger])
        if not triggers:
            return False
        trigger = data.draw(st.sampled_from(triggers), label="trigger")
        name = data.draw(st.sampled_from(callers[trigger]), label="caller")
        due_in = data.draw(st.integers(1, 14), label="due in days")  # immediate items allow 15 at most
        body = valid_body(item, offers[trigger], PEOPLE[name], self.now().date(), due_in)
        self.fire(item, name, body, if_match, use_key)
        return True

    @precondition(lambda self: self.items)
    @rule(data=st.data(), use_key=st.booleans(), if_match=st.sampled_from(["none", "current", "stale"]),
          how=st.sampled_from(("valid",) + SPOILS))
    def fire_anything(self, data, use_key, if_match, how):
        """Any trigger of the item's workflow by anyone who sees the item, valid or spoiled: mostly refusals
        (409, 403, 422, 412), each predicted."""
        item = data.draw(st.sampled_from(self.items), label="item")
        user = data.draw(st.sampled_from([name for name in sorted(PEOPLE) if PEOPLE[name].sees(item.unit)]),
                         label="caller")
        tdef = data.draw(st.sampled_from(item.workflow.transitions), label="transition")
        body = valid_body(item, tdef, PEOPLE[user], self.now().date())
        if how == "unknown_trigger":
            body["trigger"] = "escalate_to_mars"
        elif how != "valid":
            body = spoil(body, tdef, how)
        self.fire(item, user, body, if_match, use_key)

    def fire(self, item: Item, user: str, body: dict, if_match_mode: str, use_key: bool) -> None:
        if_match = {"none": None, "current": item.version, "stale": item.version - 1}[if_match_mode]
        if if_match == 0:
            if_match = item.version + 1  # version 1 has no earlier one: a version from the future is stale too
        expected = expect_transition(item, PEOPLE[user], body, if_match, self.now().date(), self.max_due(item))
        key = self.new_key(use_key)
        path = f"/api/v1/items/{item.id}/transitions"
        response = self.post("transition", user, path, body, if_match, key)
        where = f"{body} as {user} on {item.workflow.name}/{item.state} v{item.version}"
        assert response.status_code == expected.status, f"{where}: expected {expected}, got {response.text}"
        problem = response.json()
        if expected.status == 412:
            assert problem["current_version"] == item.version, where
        elif expected.status == 409:
            assert problem["state"] == item.state, where
            assert sorted(problem["allowed_triggers"]) == allowed_triggers(item, PEOPLE[user]), where
        elif expected.status == 403:
            assert problem["reason"] == expected.why, f"{where}: {problem}"
        elif expected.status == 422 and expected.why == "unknown-trigger":
            assert problem["triggers"] == list(dict.fromkeys(t.trigger for t in item.workflow.transitions)), where
        elif expected.status == 422:
            assert problem.get("guard") == expected.why, f"{where}: {problem}"
        elif expected.status == 200:
            apply(item, PEOPLE[user], expected.tdef, body, self.now())
            self.tally.moves[body["trigger"]] += 1
            record = problem.pop("transition")
            assert (record["seq"], record["trigger"], record["actor"]) == (item.version, body["trigger"], user), where
            self.check_view(item, problem, user)
            self.remember(user, key, path, body, if_match, response)
        self.check_history_length(item)

    @precondition(lambda self: self.keys)
    @rule(data=st.data(), same=st.booleans())
    def repeat_key(self, data, same):
        """A used key again: the same request replays the first answer and changes nothing; another is 422."""
        (user, key) = data.draw(st.sampled_from(sorted(self.keys)), label="key")
        path, body, if_match, first = self.keys[(user, key)]
        if not same:
            body = {**body, "comment": "另一个请求"} if "trigger" in body else {**body, "title": "另一个问题"}
        response = self.post("repeat-key", user, path, body, if_match, key)
        if same:
            assert (response.status_code, response.content) == (first.status_code, first.content)
            assert response.headers.get("etag") == first.headers.get("etag")
        else:
            assert response.status_code == 422, response.text
            assert response.json()["type"].endswith("/idempotency-key-reused"), response.text
        for item in self.items:  # neither wrote a record (a second item would show in the auditor's list)
            if path.startswith(f"/api/v1/items/{item.id}/"):
                self.check_history_length(item)

    @precondition(lambda self: self.items)
    @rule(data=st.data())
    def outsider_reads(self, data):
        """Someone outside an item's unit reads it, its history and its notices, and fires one of its triggers:
        404, as for a missing item, and nothing written."""
        item = data.draw(st.sampled_from(self.items), label="item")
        outsiders = [name for name, person in sorted(PEOPLE.items()) if not person.sees(item.unit)]
        if not outsiders:
            return
        user = data.draw(st.sampled_from(outsiders), label="outsider")
        for suffix in ("", "/history", "/reminders"):
            response = self.client.get(f"/api/v1/items/{item.id}{suffix}", headers=self.world.h(user))
            self.tally.calls["outsider-read"] += 1
            self.tally.statuses[response.status_code] += 1
            assert_problem(response, 404)
        tdef = data.draw(st.sampled_from(item.workflow.transitions), label="transition")
        self.fire(item, user, valid_body(item, tdef, PEOPLE[user], self.now().date()), "none", False)

    @rule(hours=st.sampled_from([1, 3, 8, 16]), days=st.integers(0, 8), swept=st.booleans())
    def time_passes(self, hours, days, swept):
        """The injected clock moves on (the app never sleeps); the scheduler's sweep may run when it arrives."""
        self.clock.advance(days=days, hours=hours)
        self.tally.calls["clock"] += 1
        if swept and self.items:
            self.run_sweep()

    @precondition(lambda self: self.items and self.swept_at != self.clock.now())
    @rule()
    def run_sweep(self):
        """The reminder sweep, run as the scheduler runs it; then each item's notices are the model's."""
        now = self.now()
        for item in self.items:
            if item.notices is not None and modelled(item.workflow, item.state):
                item.notices |= falling_due(item, now)
        self.swept_at = self.clock.now()
        self.tally.calls["notices issued"] += sweep(self.rt).issued
        self.tally.calls["sweep"] += 1
        for item in self.items:
            count = self.notice_count(item)
            if item.notices is not None and modelled(item.workflow, item.state):
                assert count == len(item.notices), (item.workflow.name, item.state, item.due_date, now,
                                                     sorted(item.notices), self.notices(item))
            else:
                item.notices = None  # from here on the model only knows that notices never disappear
        again = sweep(self.rt)  # the same moment again: nothing twice
        assert (again.issued, again.superseded) == (0, 0), again

    # -- checks ------------------------------------------------------------------------------------

    def notices(self, item: Item) -> list:
        response = self.client.get(f"/api/v1/items/{item.id}/reminders", headers=self.world.h("aud"))
        assert response.status_code == 200, response.text
        return [(n["kind"], n["level"], n["due_at"], n["status"]) for n in response.json()["data"]]

    def notice_count(self, item: Item) -> int:
        return len(self.notices(item))

    def check_history_length(self, item: Item) -> None:
        """The item has as many history records as the model has seen accepted (creation included)."""
        response = self.client.get(f"/api/v1/items/{item.id}/history", headers=self.world.h("aud"))
        assert len(response.json()["data"]) == len(item.triggers), (item.id, item.triggers)

    def check_view(self, item: Item, view: dict, user: str) -> None:
        """An item as the API shows it to ``user`` agrees with the model."""
        where = f"{item.workflow.name} item {item.id} as {user}"
        assert (view["state"], view["version"], view["unit"], view["assignee"]) == (
            item.state, item.version, item.unit, item.assignee), where
        assert view["due_date"] == (item.due_date.isoformat() if item.due_date else None), where
        assert sorted(view["allowed_triggers"]) == allowed_triggers(item, PEOPLE[user]), where

    @invariant()
    def lists_agree(self):
        """The auditor and one other caller in turn list exactly what the model says, as it says."""
        self.tally.steps += 1
        for user in ("aud", next(self.observers)):
            response = self.client.get("/api/v1/items?limit=500", headers=self.world.h(user))
            assert response.status_code == 200, response.text
            listed = {view["id"]: view for view in response.json()["data"]}
            visible = {item.id for item in self.items if PEOPLE[user].sees(item.unit)}
            assert set(listed) == visible, user
            for item in self.items:
                if item.id in listed:
                    self.check_view(item, listed[item.id], user)

    def teardown(self):
        try:
            if self.items:
                self.check_histories()
        finally:
            Deployment.close()

    def check_histories(self) -> None:
        """Every item's history is the model's, chained; the whole store verifies."""
        total = 0
        for item in self.items:
            response = self.client.get(f"/api/v1/items/{item.id}/history", headers=self.world.h("aud"))
            records = response.json()["data"]
            assert [r["trigger"] for r in records] == item.triggers, item.id
            assert [r["seq"] for r in records] == list(range(1, len(records) + 1))
            assert records[0]["prev_hash"] == "0" * 64 and records[-1]["to_state"] == item.state
            for earlier, later in zip(records, records[1:]):
                assert later["prev_hash"] == earlier["hash"] and later["from_state"] == earlier["to_state"]
            total += len(records)
        verify = self.client.get("/api/v1/audit/verify", headers=self.world.h("aud")).json()
        assert verify["ok"] is True and verify["records"] == total, verify

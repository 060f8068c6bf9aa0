"""Generic webhooks through the real thing: a receiver on 127.0.0.1 verifies every delivery with the
Standard Webhooks reference library; retries follow the schedule on the injected clock; replay and 410."""
from __future__ import annotations

import datetime as dt
from itertools import pairwise

import pytest
from standardwebhooks.webhooks import Webhook

from engine import accounts, service
from engine.config import Settings
from engine.delivery.retry import JITTER, base_delay
from engine.delivery.worker import deliver, next_due_at
from engine.inputs import TransitionRequest
from tests.delivery_support import add_webhook, deliveries, drain
from tests.helpers import drive, fire, new_item
from tests.receivers import receiver


@pytest.fixture
def settings(db_url) -> Settings:
    """The receivers listen on 127.0.0.1, which only this setting lets a webhook reach."""
    return Settings(database_url=db_url, allow_private_webhooks=True)


def _status(code: int):
    return lambda _n, _r: (code, {}, {})


def test_each_event_arrives_signed_and_verifies_with_the_reference_library(rt, client, world, clock):
    with receiver(clock) as rx:
        hook = add_webhook(client, world, rx.url + "/hook", events=("item.created", "item.transitioned"))
        assert hook["secret"].startswith("whsec_") and hook["has_secret"]
        item = new_item(client, world)
        drive(client, world, rt, item, "rectifying")
        report = deliver(rt)
    assert report.delivered == len(rx.got) == 3  # created, assigned, accepted
    verifier = Webhook(hook["secret"])
    bodies = [verifier.verify(r.body, r.headers) for r in rx.got]
    assert [b["type"] for b in bodies] == ["item.created", "item.transitioned", "item.transitioned"]
    assert {b["data"]["number"] for b in bodies} == {item["number"]}
    assert bodies[0]["data"]["title"] == "公办幼儿园学位缺口未按计划补齐"
    assert bodies[0]["timestamp"] == item["created_at"]
    assert bodies[-1]["data"]["to_state"] == "rectifying"
    assert len({r.headers["webhook-id"] for r in rx.got}) == 3
    # The secret is answered once: never listed, and a wrong one does not verify.
    listed = client.get("/api/v1/webhooks", headers=world.h("adm")).json()["data"]
    assert listed[0]["id"] == hook["id"] and "secret" not in listed[0]
    with pytest.raises(Exception, match="signature"):
        Webhook("whsec_" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=").verify(rx.got[0].body, rx.got[0].headers)
    # Nothing is sent twice: the outbox rows are dispatched and the deliveries settled.
    with receiver(clock):
        assert deliver(rt).attempts == 0


def test_a_failing_receiver_gets_retries_on_the_schedule_then_everything_arrives(rt, client, world, clock):
    failures = 5
    with receiver(clock, lambda n, _r: (500, {}, {}) if n < failures else (200, {}, {})) as rx:
        hook = add_webhook(client, world, rx.url + "/hook")
        item = new_item(client, world)
        drain(rt, clock)
    assert len(rx.got) == failures + 1
    assert {r.headers["webhook-id"] for r in rx.got} == {rx.got[0].headers["webhook-id"]}
    for received in rx.got:
        assert Webhook(hook["secret"]).verify(received.body, received.headers)["data"]["number"] == item["number"]
    for attempt, (before, after) in enumerate(pairwise(rx.got), start=1):
        gap = after.at - before.at
        assert base_delay(attempt) * JITTER[0] <= gap <= base_delay(attempt) * JITTER[1], (attempt, gap)
    [delivery] = deliveries(client, world, hook)
    assert delivery["status"] == "delivered" and delivery["attempts"] == failures + 1
    assert [a["status_code"] for a in delivery["log"]] == [500] * failures + [200]
    assert [a["outcome"] for a in delivery["log"]] == ["failed"] * failures + ["delivered"]
    assert all(a["latency_ms"] is not None for a in delivery["log"]) and "HTTP 500" in delivery["log"][0]["error"]


def test_a_receiver_down_for_days_is_retried_for_three_days_then_given_up(rt, client, world, clock):
    with receiver(clock, _status(503)) as rx:
        hook = add_webhook(client, world, rx.url + "/hook")
        new_item(client, world)
        start = clock.now()
        drain(rt, clock)
    assert rx.got[-1].at - rx.got[0].at >= dt.timedelta(hours=72)
    assert rx.got[0].at == start
    # Backoff, not a tight loop: about twenty tries over three days.
    assert 10 <= len(rx.got) <= 40
    [delivery] = deliveries(client, world, hook)
    assert delivery["status"] == "failed" and delivery["next_attempt_at"] is None
    assert "503" in delivery["last_error"] and len(delivery["log"]) == len(rx.got)


def test_replay_sends_the_same_webhook_id_again(rt, client, world, clock):
    with receiver(clock) as rx:
        hook = add_webhook(client, world, rx.url + "/hook")
        new_item(client, world)
        deliver(rt)
        [delivery] = deliveries(client, world, hook)
        clock.advance(days=2)
        response = client.post(f"/api/v1/webhooks/{hook['id']}/deliveries/{delivery['id']}/replay",
                               headers=world.h("adm"))
        assert response.status_code == 202, response.text
        assert response.json()["status"] == "pending"
        deliver(rt)
    assert len(rx.got) == 2
    assert rx.got[0].headers["webhook-id"] == rx.got[1].headers["webhook-id"] == delivery["message_id"]
    assert rx.got[0].body == rx.got[1].body
    for received in rx.got:
        Webhook(hook["secret"]).verify(received.body, received.headers)
    [after] = deliveries(client, world, hook)
    assert after["status"] == "delivered" and after["attempts"] == 2
    # Replay of another endpoint's delivery, or of none, is not found.
    other = add_webhook(client, world, "http://127.0.0.1:9/other")
    missing = client.post(f"/api/v1/webhooks/{other['id']}/deliveries/{delivery['id']}/replay",
                          headers=world.h("adm"))
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"


def test_410_gone_disables_the_endpoint_and_nothing_more_is_sent_to_it(rt, client, world, clock):
    with receiver(clock, _status(410)) as rx:
        hook = add_webhook(client, world, rx.url + "/hook")
        new_item(client, world)
        new_item(client, world)
        deliver(rt)
        assert len(rx.got) == 1  # the first answer disabled it; the second delivery was not tried
        new_item(client, world)
        drain(rt, clock)
    assert len(rx.got) == 1
    [listed] = client.get("/api/v1/webhooks", headers=world.h("adm")).json()["data"]
    assert listed["active"] is False and "410" in listed["disabled_reason"]
    first, second = deliveries(client, world, hook)
    assert first["status"] == second["status"] == "failed" and second["attempts"] == 0
    replay = client.post(f"/api/v1/webhooks/{hook['id']}/deliveries/{first['id']}/replay", headers=world.h("adm"))
    assert replay.status_code == 409


def test_a_refused_or_rolled_back_transition_sends_nothing(rt, client, world, clock):
    with receiver(clock) as rx:
        add_webhook(client, world, rx.url + "/hook", events=("item.created", "item.transitioned"))
        item = new_item(client, world)
        deliver(rt)
        assert len(rx.got) == 1
        refused = fire(client, world, item, {"trigger": "verify_pass"}, "ver")
        assert refused.status_code in (403, 409, 422), refused.text
        with rt.store.read() as conn:
            actor = accounts.authenticate(conn, world.tokens["sup"])
        assign = {"trigger": "assign", "fields": {"assignee": "asg_a", "due_date": "2026-04-30"}}
        with pytest.raises(RuntimeError, match="after the transition"):
            with rt.store.write() as conn:
                service.fire(conn, rt, item_ref=item["id"], actor=actor,
                             request=TransitionRequest(trigger="assign", fields=assign["fields"]))
                raise RuntimeError("fails after the transition, before the commit")
        assert deliver(rt).attempts == 0
        assert next_due_at(rt) is None
        # The valid counterpart does send.
        assert fire(client, world, item, assign, "sup").status_code == 200
        deliver(rt)
    assert [r.json()["type"] for r in rx.got] == ["item.created", "item.transitioned"]


def test_endpoints_hear_only_their_events_and_their_unit_subtree(rt, client, world, clock):
    with receiver(clock) as rx:
        add_webhook(client, world, rx.url + "/dept-a", events=("item.created",), unit="DEPT-A")
        add_webhook(client, world, rx.url + "/moves", events=("item.transitioned",))
        in_a = new_item(client, world, unit="DEPT-A")
        below_a = new_item(client, world, unit="SUB-A1")
        in_b = new_item(client, world, unit="DEPT-B")
        moved = fire(client, world, in_b, {"trigger": "assign", "fields": {"assignee": "asg_b", "due_date": "2026-04-30"}},
                     "sup")
        assert moved.status_code == 200, moved.text
        deliver(rt)
    heard = {(r.path, r.json()["type"], r.json()["data"]["number"]) for r in rx.got}
    assert heard == {("/dept-a", "item.created", in_a["number"]), ("/dept-a", "item.created", below_a["number"]),
                     ("/moves", "item.transitioned", in_b["number"])}

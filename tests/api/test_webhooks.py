"""The webhook routes and commands: admin only, typed refusals (never a 500), SSRF refusals when an endpoint is
added and again when it is sent to, the secret shown once, test messages, deletion, paged deliveries."""
from __future__ import annotations

import socket
from urllib.parse import urlsplit

import pytest
from standardwebhooks.webhooks import Webhook
from typer.testing import CliRunner

from api.cli import app
from engine.config import Settings
from engine.delivery.worker import deliver
from tests.delivery_support import add_webhook, deliveries, insert_events, reminder
from tests.helpers import assert_problem, new_item, table_counts
from tests.receivers import receiver
from tests.tls_support import certificate

PUBLIC = "https://93.184.216.34/hook"  # an address literal: checked without any DNS lookup or traffic
PRIVATE = ["http://127.0.0.1:8000/hook", "http://localhost/hook", "http://10.1.2.3/hook", "http://192.168.0.9/",
           "http://172.16.5.5/", "http://169.254.169.254/latest/meta-data", "http://[::1]/hook",
           "http://[::ffff:127.0.0.1]/hook", "http://0.0.0.0/", "http://100.64.0.1/", "http://[fd00::1]/",
           # 127.0.0.1 and 10.0.0.1 through NAT64 (well-known and local-use prefixes) and 6to4:
           "http://[64:ff9b::7f00:1]/", "http://[64:ff9b:1::a00:1]/", "http://[2002:7f00:1::]/"]
COUNTED = ("webhook_endpoints", "deliveries", "outbox")


def _allow_private(rt, allowed: bool) -> None:
    rt.settings.allow_private_webhooks = allowed


def test_urls_into_private_networks_are_refused_unless_allowed(rt, client, world):
    before = table_counts(rt, COUNTED)
    for url in PRIVATE:
        body = assert_problem(client.post("/api/v1/webhooks", json={"url": url, "events": ["item.created"]},
                                          headers=world.h("adm")), 422)
        assert body["field"] == "url" and "CLOSELOOP_ALLOW_PRIVATE_WEBHOOKS" in body["detail"], url
    assert table_counts(rt, COUNTED) == before
    _allow_private(rt, True)
    for url in PRIVATE:
        assert add_webhook(client, world, url)["url"] == url


def test_a_public_url_is_accepted_and_robot_tokens_are_never_listed(client, world):
    hook = add_webhook(client, world, PUBLIC)
    assert hook["kind"] == "generic" and hook["active"] and hook["secret"].startswith("whsec_")
    ding = add_webhook(client, world, "https://93.184.216.34/robot/send?access_token=SECRET-TOKEN",
                       kind="dingtalk", events=("reminder.overdue", "escalation.issued"), unit="DEPT-A", secret="SEC1")
    assert ding["secret"] is None and ding["unit"] == "DEPT-A"
    listed = client.get("/api/v1/webhooks", headers=world.h("adm")).json()["data"]
    assert [h["id"] for h in listed] == [hook["id"], ding["id"]]
    assert "SECRET-TOKEN" not in str(listed) and "SEC1" not in str(listed) and "whsec_" not in str(listed)
    # A retry with the same Idempotency-Key gets the first answer, but never the secret a second time.
    body = {"url": PUBLIC, "events": ["item.created"]}
    headers = world.h("adm", **{"Idempotency-Key": "hook-1"})
    first = client.post("/api/v1/webhooks", json=body, headers=headers)
    again = client.post("/api/v1/webhooks", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json()["secret"].startswith("whsec_")
    assert again.json()["secret"] is None and "shown only" in again.json()["secret_note"]
    assert again.json()["id"] == first.json()["id"]
    assert len(client.get("/api/v1/webhooks", headers=world.h("adm")).json()["data"]) == 3


def test_a_url_that_turns_private_after_it_was_added_is_refused_at_send_time(rt, client, world, clock):
    _allow_private(rt, True)
    with receiver(clock) as rx:
        hook = add_webhook(client, world, rx.url + "/hook")
        new_item(client, world)
        _allow_private(rt, False)
        deliver(rt)
        assert rx.got == []
        [delivery] = deliveries(client, world, hook)
        assert delivery["status"] == "pending" and "refused" in delivery["log"][0]["error"]
        _allow_private(rt, True)
        clock.advance(minutes=5)
        deliver(rt)
    assert len(rx.got) == 1


def _rebinding(monkeypatch, name: str, answers: list[str]) -> list[str]:
    """Make ``name`` resolve to each of ``answers`` in turn (the last one from then on), as a rebinding DNS server
    with a zero TTL would; every other name resolves as usual. Returns the answers given so far."""
    real, given = socket.getaddrinfo, []

    def resolve(host, port, *args, **kwargs):
        if host != name:
            return real(host, port, *args, **kwargs)
        address = answers[min(len(given), len(answers) - 1)]
        given.append(address)
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, int(port)))]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    return given


def test_a_name_that_turns_private_between_the_check_and_the_connection_is_refused(rt, client, world, clock,
                                                                                   monkeypatch):
    # DNS rebinding: public when the URL is checked, loopback when the connection is made. The address connected
    # to must be the address checked, or the check guards nothing.
    _allow_private(rt, True)
    with receiver(clock) as rx:
        hook = add_webhook(client, world, f"http://rebind.test:{urlsplit(rx.url).port}/hook")
        new_item(client, world)
        _allow_private(rt, False)
        given = _rebinding(monkeypatch, "rebind.test", ["93.184.216.34", "127.0.0.1"])
        deliver(rt)
        assert rx.got == [] and given[0] == "93.184.216.34" and "127.0.0.1" in given
        [delivery] = deliveries(client, world, hook)
        assert delivery["status"] == "pending"
        assert "refused" in delivery["log"][0]["error"] and "127.0.0.1" in delivery["log"][0]["error"]


def test_a_checked_name_is_connected_at_the_address_checked_and_keeps_its_host(rt, client, world, clock,
                                                                              monkeypatch):
    # Loopback counted as public for this test only: what is checked is then what is connected to, and the
    # receiver still sees the name (Host header, and the name TLS would verify) rather than the address.
    monkeypatch.setattr("engine.delivery.safety._forbidden", lambda address: address != "127.0.0.1")
    _allow_private(rt, True)
    with receiver(clock) as rx:
        port = urlsplit(rx.url).port
        add_webhook(client, world, f"http://pinned.test:{port}/hook")
        new_item(client, world)
        _allow_private(rt, False)
        given = _rebinding(monkeypatch, "pinned.test", ["127.0.0.1"])
        deliver(rt)
    assert len(rx.got) == 1 and rx.got[0].headers["host"] == f"pinned.test:{port}" and given


def test_over_tls_the_certificate_is_verified_against_the_name_not_the_address(rt, client, world, clock,
                                                                               monkeypatch, tmp_path):
    monkeypatch.setattr("engine.delivery.safety._forbidden", lambda address: address != "127.0.0.1")
    server_tls, client_tls = certificate(tmp_path, "pinned.test")
    monkeypatch.setattr("engine.delivery.worker._tls", lambda: client_tls)
    _allow_private(rt, True)
    with receiver(clock, tls=server_tls) as rx:
        port = urlsplit(rx.url).port
        right = add_webhook(client, world, f"https://pinned.test:{port}/hook")
        wrong = add_webhook(client, world, f"https://other.test:{port}/hook")
        new_item(client, world)
        _allow_private(rt, False)
        _rebinding(monkeypatch, "pinned.test", ["127.0.0.1"])
        _rebinding(monkeypatch, "other.test", ["127.0.0.1"])
        deliver(rt)
    assert len(rx.got) == 1 and rx.got[0].headers["host"] == f"pinned.test:{port}"
    assert deliveries(client, world, right)[0]["status"] == "delivered"
    [refused] = deliveries(client, world, wrong)
    assert refused["status"] == "pending" and "certificate" in refused["log"][0]["error"].lower()


BAD_BODIES = [
    ({"url": PUBLIC, "events": ["item.created"], "extra": 1}, "extra"),
    ({"url": PUBLIC, "events": []}, "events"),
    ({"url": PUBLIC, "events": ["item.deleted"]}, "events"),
    ({"url": PUBLIC, "events": ["item.created"], "kind": "slack"}, "kind"),
    ({"url": PUBLIC, "events": ["item.created"], "secret": "mine"}, "secret"),
    ({"url": PUBLIC, "events": ["item.created"], "kind": "wecom", "secret": "x"}, "secret"),
    ({"url": PUBLIC, "events": ["item.created"], "unit": "NOPE"}, "unit"),
    ({"url": "ftp://93.184.216.34/x", "events": ["item.created"]}, "url"),
    ({"url": "https://user:pw@93.184.216.34/x", "events": ["item.created"]}, "url"),
    ({"url": "https://93.184.216.34/\x00", "events": ["item.created"]}, "url"),
    ({"url": "https://93.184.216.34/a\nb", "events": ["item.created"]}, "url"),
    ({"url": "http://[::1/", "events": ["item.created"]}, "url"),
    ({"url": "https://" + "a" * 2000, "events": ["item.created"]}, "url"),
    ({"url": 7, "events": ["item.created"]}, "url"),
]


def test_bad_webhook_requests_are_refused_and_change_nothing(rt, client, world):
    before = table_counts(rt, COUNTED)
    for body, field in BAD_BODIES:
        problem = assert_problem(client.post("/api/v1/webhooks", json=body, headers=world.h("adm")), 422)
        assert field in problem.get("field", "") or field in str(problem.get("errors", "")), (body, problem)
    assert table_counts(rt, COUNTED) == before


def test_only_admins_manage_webhooks_and_bad_ids_are_4xx(client, world):
    hook = add_webhook(client, world, PUBLIC)
    for method, path in [("post", "/api/v1/webhooks"), ("get", "/api/v1/webhooks"),
                         ("delete", f"/api/v1/webhooks/{hook['id']}"),
                         ("get", f"/api/v1/webhooks/{hook['id']}/deliveries"),
                         ("post", f"/api/v1/webhooks/{hook['id']}/test"),
                         ("post", f"/api/v1/webhooks/{hook['id']}/deliveries/1/replay")]:
        kwargs = {"json": {"url": PUBLIC, "events": ["item.created"]}} if method == "post" else {}
        assert_problem(getattr(client, method)(path, headers=world.h("aud"), **kwargs), 403)
        assert_problem(getattr(client, method)(path, **kwargs), 401)
    # Unknown or malformed ids are client errors, never a 500 (ids past PostgreSQL's integer included).
    for path in ("/api/v1/webhooks/999/deliveries", "/api/v1/webhooks/99999999999999999999/deliveries",
                 "/api/v1/webhooks/0/deliveries", "/api/v1/webhooks/abc/deliveries",
                 "/api/v1/webhooks/2147483647/deliveries"):
        assert_problem(client.get(path, headers=world.h("adm")))
    for path in ("/api/v1/webhooks/2147483647/test", "/api/v1/webhooks/1/deliveries/2147483647/replay"):
        assert_problem(client.post(path, headers=world.h("adm")), 404)


def test_a_test_message_is_sent_at_once_and_a_failed_one_is_not_retried(rt, client, world, clock):
    _allow_private(rt, True)
    with receiver(clock) as rx:
        hook = add_webhook(client, world, rx.url + "/hook")
        response = client.post(f"/api/v1/webhooks/{hook['id']}/test", headers=world.h("adm"))
    assert response.status_code == 200, response.text
    sent = response.json()
    assert sent["status"] == "delivered" and sent["event"] == "webhook.test" and len(sent["log"]) == 1
    [received] = rx.got
    body = Webhook(hook["secret"]).verify(received.body, received.headers)
    assert body["type"] == "webhook.test" and received.headers["webhook-id"] == sent["message_id"]
    # A failed test is reported, and not retried for days as an event would be.
    with receiver(clock, lambda _n, _r: (200, {"errcode": 310000, "errmsg": "keywords not in content"}, {})) as rx:
        robot = add_webhook(client, world, rx.url + "/robot/send?access_token=T", kind="dingtalk",
                            events=("reminder.overdue",))
        sent = client.post(f"/api/v1/webhooks/{robot['id']}/test", headers=world.h("adm")).json()
        clock.advance(days=1)
        deliver(rt)
    assert sent["status"] == "failed" and "310000" in sent["last_error"] and len(rx.got) == 1


def test_deleting_an_endpoint_stops_its_deliveries(rt, client, world, clock):
    _allow_private(rt, True)
    with receiver(clock) as rx:
        hook = add_webhook(client, world, rx.url + "/hook")
        new_item(client, world)
        response = client.delete(f"/api/v1/webhooks/{hook['id']}", headers=world.h("adm"))
        assert response.status_code == 200 and response.json()["active"] is False
        deliver(rt)
        new_item(client, world)
        deliver(rt)
    assert rx.got == []
    assert client.get("/api/v1/webhooks", headers=world.h("adm")).json()["data"] == []
    assert_problem(client.get(f"/api/v1/webhooks/{hook['id']}/deliveries", headers=world.h("adm")), 404)
    assert_problem(client.delete(f"/api/v1/webhooks/{hook['id']}", headers=world.h("adm")), 404)


def test_deliveries_are_paged_newest_first_with_a_checked_cursor(rt, client, world, clock):
    _allow_private(rt, True)
    with receiver(clock) as rx:
        hook = add_webhook(client, world, rx.url + "/hook", events=("reminder.overdue",))
        insert_events(rt, [("reminder.overdue", reminder(n), None) for n in range(1, 4)])
        deliver(rt)
    first = client.get(f"/api/v1/webhooks/{hook['id']}/deliveries?limit=2", headers=world.h("adm")).json()
    assert len(first["data"]) == 2 and first["next_cursor"]
    second = client.get(f"/api/v1/webhooks/{hook['id']}/deliveries",
                        params={"limit": 2, "cursor": first["next_cursor"]}, headers=world.h("adm")).json()
    ids = [d["id"] for d in first["data"] + second["data"]]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 3 and second["next_cursor"] is None
    assert len(rx.got) == 3
    assert_problem(client.get(f"/api/v1/webhooks/{hook['id']}/deliveries", params={"cursor": "forged"},
                              headers=world.h("adm")), 422)


def test_webhook_commands_add_list_and_test(db_url, tmp_path, clock):
    runner = CliRunner()
    env = {"CLOSELOOP_DATABASE_URL": db_url, "CLOSELOOP_ALLOW_PRIVATE_WEBHOOKS": "1"}
    with receiver(clock) as rx:
        added = runner.invoke(app, ["webhook", "add", rx.url + "/hook", "--event", "item.created", "--event",
                                    "reminder.overdue"], env=env)
        assert added.exit_code == 0, added.output
        secret = added.output.strip().splitlines()[-1]
        assert secret.startswith("whsec_")
        robot = runner.invoke(app, ["webhook", "add", rx.url + "/robot/send?access_token=TOK", "--kind", "dingtalk",
                                    "--event", "escalation.issued", "--secret", "SEC"], env=env)
        assert robot.exit_code == 0 and "whsec_" not in robot.output, robot.output
        listed = runner.invoke(app, ["webhook", "list"], env=env)
        assert listed.exit_code == 0 and "dingtalk" in listed.output and "TOK" not in listed.output
        tested = runner.invoke(app, ["webhook", "test", "1"], env=env)
        assert tested.exit_code == 0 and "delivered" in tested.output, tested.output
        Webhook(secret).verify(rx.got[0].body, rx.got[0].headers)
        refused = runner.invoke(app, ["webhook", "add", "http://127.0.0.1/x", "--event", "item.created"],
                                env={"CLOSELOOP_DATABASE_URL": db_url})
        assert refused.exit_code == 1 and "CLOSELOOP_ALLOW_PRIVATE_WEBHOOKS" in refused.output
        missing = runner.invoke(app, ["webhook", "test", "99"], env=env)
        assert missing.exit_code == 1 and "not found" in missing.output


@pytest.fixture
def settings(db_url) -> Settings:
    """Private URLs refused, as deployed; tests that need their local receiver allow them on the runtime."""
    return Settings(database_url=db_url, allow_private_webhooks=False)

"""Every kind of administrative action writes its admin-log entry in its own transaction: who, what, the target,
before/after, never a secret; an action that fails writes none; an entry that cannot be written fails the action;
concurrent admins still make one gapless chain (on PostgreSQL the writers truly run at once). Both stores."""
from __future__ import annotations

import hashlib
import threading

import orjson
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from api.cli import app
from engine import accounts
from engine.audit.actors import os_user
from engine.audit.verify import verify_admin_log
from engine.history import GENESIS
from tests.db_roles import refuse_inserts
from tests.delivery_support import add_webhook
from tests.helpers import assert_problem

PUBLIC = "https://93.184.216.34/hook"  # an address literal: checked without any DNS lookup or traffic


def _log(rt) -> list[dict]:
    with rt.store.read() as conn:
        return [dict(r) for r in conn.execute(sa.text("SELECT * FROM admin_log ORDER BY seq")).mappings()]


def _new(rt, since: int) -> list[dict]:
    """Entries after the first ``since``, with before/after parsed."""
    return [{**e, "before": e["before"] and orjson.loads(e["before"]), "after": e["after"] and orjson.loads(e["after"])}
            for e in _log(rt)[since:]]


def _brief(entries: list[dict]) -> list[tuple]:
    return [(e["actor"], e["action"], e["target"], e["before"], e["after"]) for e in entries]


def test_setting_up_the_world_is_logged_and_the_chain_holds(rt, world):
    log = _log(rt)
    assert [e["seq"] for e in log] == list(range(1, len(log) + 1)) and log[0]["prev_hash"] == GENESIS
    assert all(later["prev_hash"] == earlier["hash"] for earlier, later in zip(log, log[1:]))
    loaded = [e for e in log if e["action"] == "workflow.load"]
    assert loaded and all(e["actor"] == f"system:{os_user()}" and e["target"].startswith("workflow:") for e in loaded)
    assert {e["action"] for e in log} == {"workflow.load", "unit.add", "user.add", "token.issue"}
    with rt.store.read() as conn:
        check = verify_admin_log(conn)
    assert check == {"ok": True, "entries": len(log), "head": log[-1]["hash"], "first_bad": None}


def test_units_users_and_tokens_through_the_api(client, world, rt):
    start = len(_log(rt))
    assert client.post("/api/v1/units", json={"code": "DEPT-C", "name": "市卫健委", "parent": "CITY"},
                       headers=world.h("adm")).status_code == 201
    made = client.post("/api/v1/users", json={"username": "wang", "roles": ["registrar"], "unit": "DEPT-C",
                                              "email": "wang@example.cn"}, headers=world.h("adm")).json()
    again = client.post("/api/v1/users/wang/tokens", headers=world.h("adm")).json()
    entries = _new(rt, start)
    fingerprints = [hashlib.sha256(t.encode()).hexdigest()[:16] for t in (made["token"], again["token"])]
    with rt.store.read() as conn:
        ids = [r[0] for r in conn.execute(sa.text("SELECT t.id FROM tokens t JOIN users u ON u.id = t.user_id "
                                                  "WHERE u.username = 'wang' ORDER BY t.id"))]
    assert _brief(entries) == [
        ("adm", "unit.add", "unit:DEPT-C", None, {"code": "DEPT-C", "name": "市卫健委", "parent": "CITY"}),
        ("adm", "user.add", "user:wang", None, {"username": "wang", "display_name": "", "roles": ["registrar"],
                                                 "unit": "DEPT-C", "email": "wang@example.cn", "active": True}),
        ("adm", "token.issue", "user:wang", None, {"token_id": ids[0], "label": "created with the user",
                                                    "fingerprint": fingerprints[0]}),
        ("adm", "token.issue", "user:wang", None, {"token_id": ids[1], "label": "issued later",
                                                    "fingerprint": fingerprints[1]}),
    ]
    assert all(e["at"] == entries[0]["at"] and e["at"].endswith("Z") for e in entries)
    revoked = client.delete(f"/api/v1/users/wang/tokens/{ids[0]}", headers=world.h("adm"))
    assert revoked.status_code == 200
    client.delete(f"/api/v1/users/wang/tokens/{ids[0]}", headers=world.h("adm"))  # again: changes nothing
    named = {"token_id": ids[0], "label": "created with the user", "fingerprint": fingerprints[0]}
    assert _brief(_new(rt, start + 4)) == [("adm", "token.revoke", "user:wang", {**named, "revoked": False},
                                            {**named, "revoked": True})]
    text = orjson.dumps(_log(rt)).decode()
    assert made["token"] not in text and again["token"] not in text


def test_role_changes_deactivation_and_other_changes_are_separate_true_entries(client, world, rt):
    start = len(_log(rt))
    changed = client.patch("/api/v1/users/reg_a", json={"roles": ["supervisor", "verifier"], "email": "a@example.cn"},
                           headers=world.h("adm"))
    assert changed.status_code == 200, changed.text
    assert client.patch("/api/v1/users/reg_a", json={"active": False}, headers=world.h("adm")).status_code == 200
    assert client.patch("/api/v1/users/reg_a", json={"active": True, "roles": ["supervisor"]},
                        headers=world.h("adm")).status_code == 200
    assert client.patch("/api/v1/users/reg_a", json={"roles": ["supervisor"]},  # the same: nothing changed
                        headers=world.h("adm")).status_code == 200
    assert _brief(_new(rt, start)) == [
        ("adm", "role.grant", "user:reg_a", {"roles": ["registrar"]},
         {"roles": ["registrar", "supervisor", "verifier"], "granted": ["supervisor", "verifier"]}),
        ("adm", "role.revoke", "user:reg_a", {"roles": ["registrar", "supervisor", "verifier"]},
         {"roles": ["supervisor", "verifier"], "revoked": ["registrar"]}),
        ("adm", "user.change", "user:reg_a", {"email": None}, {"email": "a@example.cn"}),
        ("adm", "user.deactivate", "user:reg_a", {"active": True}, {"active": False}),
        ("adm", "role.revoke", "user:reg_a", {"roles": ["supervisor", "verifier"]},
         {"roles": ["supervisor"], "revoked": ["verifier"]}),
        ("adm", "user.reactivate", "user:reg_a", {"active": False}, {"active": True}),
    ]


def test_webhooks_are_logged_without_their_secrets(client, world, rt):
    start = len(_log(rt))
    generic = add_webhook(client, world, PUBLIC, events=("item.created",))
    robot = add_webhook(client, world, "https://93.184.216.34/robot/send?access_token=TOPSECRET", kind="dingtalk",
                        events=("reminder.overdue",), unit="DEPT-A", secret="SEC-ROBOT")
    assert client.delete(f"/api/v1/webhooks/{robot['id']}", headers=world.h("adm")).status_code == 200
    robot_logged = {"url": "https://93.184.216.34/robot/send?access_token=***", "kind": "dingtalk",
                    "events": ["reminder.overdue"], "unit": "DEPT-A", "active": True, "secret": "set"}
    assert _brief(_new(rt, start)) == [
        ("adm", "webhook.add", f"webhook:{generic['id']}", None,
         {"url": PUBLIC, "kind": "generic", "events": ["item.created"], "unit": None, "active": True, "secret": "set"}),
        ("adm", "webhook.add", f"webhook:{robot['id']}", None, robot_logged),
        ("adm", "webhook.remove", f"webhook:{robot['id']}", robot_logged, None),
    ]
    text = orjson.dumps(_log(rt)).decode()
    assert generic["secret"] not in text and "SEC-ROBOT" not in text and "TOPSECRET" not in text


def test_the_command_line_is_logged_as_its_operator(rt, world, db_url):
    start = len(_log(rt))
    runner = CliRunner()
    done = runner.invoke(app, ["unit", "add", "DEPT-D", "--name", "市司法局", "--parent", "CITY"],
                         env={"CLOSELOOP_DATABASE_URL": db_url})
    assert done.exit_code == 0, done.output
    done = runner.invoke(app, ["user", "set", "reg", "--inactive"], env={"CLOSELOOP_DATABASE_URL": db_url})
    assert done.exit_code == 0, done.output
    operator = f"cli:{os_user()}"
    assert _brief(_new(rt, start)) == [
        (operator, "unit.add", "unit:DEPT-D", None, {"code": "DEPT-D", "name": "市司法局", "parent": "CITY"}),
        (operator, "user.deactivate", "user:reg", {"active": True}, {"active": False})]


def test_a_failed_action_writes_no_entry(client, world, rt):
    before = _log(rt)
    assert_problem(client.post("/api/v1/units", json={"code": "X-1", "name": "某", "parent": "NOPE"},
                               headers=world.h("adm")), 422)
    assert_problem(client.post("/api/v1/units", json={"code": "city", "name": "重复"}, headers=world.h("adm")), 409)
    assert_problem(client.post("/api/v1/users", json={"username": "reg", "roles": ["registrar"], "unit": "CITY"},
                               headers=world.h("adm")), 409)
    assert_problem(client.patch("/api/v1/users/adm", json={"active": False}, headers=world.h("adm")), 409)
    assert_problem(client.patch("/api/v1/users/reg", json={"unit": "NOPE", "roles": ["auditor"]},
                               headers=world.h("adm")), 422)
    assert_problem(client.delete("/api/v1/users/reg/tokens/999999", headers=world.h("adm")), 404)
    assert_problem(client.delete("/api/v1/webhooks/999999", headers=world.h("adm")), 404)
    assert_problem(client.post("/api/v1/units", json={"code": "X-2", "name": "某"}, headers=world.h("reg")), 403)
    assert _log(rt) == before


def test_an_entry_that_cannot_be_written_fails_the_action(rt, world):
    refuse_inserts(rt, "admin_log", "no room")  # a fault in the log's table: every insert into it is refused
    with pytest.raises(sa.exc.DBAPIError, match="no room"):
        with rt.store.write() as conn:
            accounts.add_unit(conn, clock=rt.clock, actor="cli:tests", code="LOST", name="不该存在")
    with rt.store.read() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM units WHERE code = 'LOST'")).scalar_one() == 0


def test_concurrent_admin_actions_keep_one_gapless_chain(rt, world):
    start, errors = len(_log(rt)), []

    def admin(n: int) -> None:
        try:
            for k in range(5):
                with rt.store.write() as conn:
                    accounts.add_unit(conn, clock=rt.clock, actor=f"cli:racer{n}", code=f"R{n}-{k}", name="并发")
        except Exception as exc:  # reported below: a thread's exception would otherwise vanish
            errors.append(exc)

    threads = [threading.Thread(target=admin, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    log = _log(rt)
    assert len(log) == start + 40 and [e["seq"] for e in log] == list(range(1, start + 41))
    with rt.store.read() as conn:
        assert verify_admin_log(conn)["ok"]

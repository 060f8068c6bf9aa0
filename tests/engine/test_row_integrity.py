"""Item rows and stored workflow versions checked against the history that vouches for them, on both stores.

An insider with the database file can edit an item row (state, version, unit, assignee, due date,
workflow version), a stored workflow version or a history row directly. Verification must name each such
edit and go on to the end; fire() must refuse to build new history on an item whose row disagrees with
its chain head, and the registry must refuse a stored workflow whose content does not match its hash.
"""
from __future__ import annotations

import json
import logging

import pytest
import sqlalchemy as sa

from engine.audit.verify import verify_database
from engine.config import Settings
from engine.runtime import Runtime
from tests.db_roles import owner_write
from tests.engine.test_history_chain import _drop_protection
from tests.engine.test_workflow_versions import NEW, OLD
from tests.helpers import assert_problem, audit_verify_command, drive, fire, new_item, table_counts


def _sql(rt, statement: str, **params) -> None:
    """Edit rows outside closeloop, as whoever holds the database (the owner role on PostgreSQL)."""
    with owner_write(rt) as conn:
        conn.execute(sa.text(statement), params)


def _verify(client, world) -> dict:
    response = client.get("/api/v1/audit/verify", headers=world.h("aud"))
    assert response.status_code == 200, response.text
    return response.json()


def _unit_id(rt, code: str) -> int:
    with rt.store.read() as conn:
        return conn.execute(sa.text("SELECT id FROM units WHERE code = :c"), {"c": code}).scalar_one()


# id, the edit of item A's row (it is in 'verified', version 5), and a phrase of the reason verify gives
ROW_EDITS = [
    ("state", "UPDATE items SET state = 'rectifying' WHERE id = :i", "state is 'rectifying'"),
    ("nonexistent-state", "UPDATE items SET state = 'nonexistent' WHERE id = :i", "state is 'nonexistent'"),
    ("version", "UPDATE items SET version = 9 WHERE id = :i", "version is 9"),
    ("assignee", "UPDATE items SET assignee = 'doer_a' WHERE id = :i", "assignee is 'doer_a'"),
    ("due-date", "UPDATE items SET due_date = '2027-12-31' WHERE id = :i", "due_date is '2027-12-31'"),
    ("unit", "UPDATE items SET unit_id = :dept_b WHERE id = :i", "unit is 'DEPT-B'"),
    ("title", "UPDATE items SET title = '已整改完毕' WHERE id = :i", "title is '已整改完毕'"),
    ("workflow-version", "UPDATE items SET workflow_hash = :other WHERE id = :i", "workflow_hash is"),
    ("submitter", "UPDATE items SET submitted_by = NULL WHERE id = :i", "submitted_by is None"),
]
# The edits fire() sees in the row it locks (the head of the chain); the others are verify's to find.
REFUSED_BY_FIRE = {"state", "nonexistent-state", "version", "workflow-version"}


@pytest.fixture
def verified_item(client, world, rt):
    """Item A in 'verified' (5 records) and an untouched item B, both in DEPT-A."""
    a = drive(client, world, rt, new_item(client, world, due_date="2026-04-30"), "verified")
    b = drive(client, world, rt, new_item(client, world, due_date="2026-04-30"), "rectifying")
    assert a["version"] == 5
    return a, b


@pytest.mark.parametrize("kind, statement, reason", ROW_EDITS, ids=[e[0] for e in ROW_EDITS])
def test_an_item_row_edited_outside_closeloop_is_named_and_not_acted_on(client, world, rt, db_url, verified_item,
                                                                       kind, statement, reason):
    a, b = verified_item
    other = rt.registry.current("immediate").hash
    _sql(rt, statement, i=a["id"], dept_b=_unit_id(rt, "DEPT-B"), other=other)

    body = _verify(client, world)
    assert body["ok"] is False and "head" not in body
    assert body["first_bad"]["item"] == a["number"] and reason in body["first_bad"]["reason"], body
    done = audit_verify_command(db_url)
    assert done.returncode == 2 and f"item {a['number']}" in done.stderr and reason in done.stderr, done.stderr
    assert "Traceback" not in done.stderr

    before = table_counts(rt)
    closed = fire(client, world, a, {"trigger": "close"}, "sup")
    if kind in REFUSED_BY_FIRE:
        problem = assert_problem(closed, 423)
        assert problem["type"].endswith("/integrity-violation") and a["number"] in problem["detail"]
        assert table_counts(rt) == before
    # The untouched item keeps working either way.
    progressed = fire(client, world, b, {"trigger": "report_progress", "comment": "按计划推进"}, "asg_a")
    assert progressed.status_code == 200, progressed.text


def test_a_state_forged_by_sql_cannot_be_closed_on(client, world, rt, caplog):
    # The attack as it was found: reopened, set to 'verified' by SQL, then closed by a supervisor.
    item = drive(client, world, rt, new_item(client, world, due_date="2026-04-30"), "closed")
    item = fire(client, world, item, {"trigger": "reopen", "comment": "回头看发现问题反弹"}, "aud").json()
    assert item["state"] == "rectifying"
    _sql(rt, "UPDATE items SET state = 'verified' WHERE id = :i", i=item["id"])
    before = table_counts(rt)
    with caplog.at_level(logging.ERROR, logger="closeloop.integrity"):
        refused = fire(client, world, item, {"trigger": "close"}, "sup")
    problem = assert_problem(refused, 423)
    assert "state is 'verified' but its history leaves it in 'rectifying'" in problem["detail"]
    assert table_counts(rt) == before
    assert any(item["number"] in r.getMessage() for r in caplog.records)
    history = client.get(f"/api/v1/items/{item['id']}/history", headers=world.h("aud")).json()["data"]
    assert [r["to_state"] for r in history][-2:] == ["closed", "rectifying"]


def _rewrite_chain(rt, item_id: str, seq: int, **changes) -> None:
    """Change record ``seq`` and re-hash it and every later record and the item's head, as a careful forger would."""
    from engine.history import record_hash

    with owner_write(rt) as conn:  # an attacker holding the database
        _drop_protection(conn)
        rows = conn.execute(sa.text("SELECT * FROM history WHERE item_id = :i ORDER BY seq"), {"i": item_id}
                            ).mappings().all()
        prev = rows[seq - 2]["hash"] if seq > 1 else "0" * 64
        for row in rows[seq - 1:]:
            record = {**row, "item": item_id, "evidence": json.loads(row["evidence"]),
                      "fields": json.loads(row["fields"]), "prev_hash": prev}
            if row["seq"] == seq:
                record.update(changes)
            record["hash"] = record_hash(record)
            conn.execute(sa.text("UPDATE history SET from_state = :f, to_state = :t, trigger = :g, prev_hash = :p, "
                                 "hash = :h WHERE id = :id"),
                         {"f": record["from_state"], "t": record["to_state"], "g": record["trigger"], "p": prev,
                          "h": record["hash"], "id": row["id"]})
            prev = record["hash"]
        conn.execute(sa.text("UPDATE items SET history_hash = :h WHERE id = :i"), {"h": prev, "i": item_id})


@pytest.mark.parametrize("changes, seq, reason", [
    # A record that does not start where the one before ended.
    ({"from_state": "assigned"}, 4, "from_state 'assigned' is not where the record before left the item"),
    # A consistent-looking step the workflow has no transition for: straight from assigned to verified.
    ({"to_state": "verified", "trigger": "approve"}, 3, "is not a transition of the item's workflow"),
], ids=["from-state-gap", "not-a-transition"])
def test_a_rehashed_chain_that_the_workflow_could_not_have_made_is_named(client, world, rt, verified_item,
                                                                         changes, seq, reason):
    a, _ = verified_item
    _rewrite_chain(rt, a["id"], seq, **changes)
    body = _verify(client, world)
    assert body["ok"] is False
    assert body["first_bad"]["item"] == a["number"] and body["first_bad"]["seq"] == seq, body
    assert reason in body["first_bad"]["reason"]


def _tamper_stored_standard(rt) -> str:
    """Let the assignee approve their own fix, with no guards, in the stored copy of the current standard."""
    content_hash = rt.registry.current("standard").hash
    with rt.store.read() as conn:
        text = conn.execute(sa.text("SELECT definition FROM workflow_versions WHERE hash = :h"),
                            {"h": content_hash}).scalar_one()
    data = json.loads(text)
    approve = next(t for t in data["transitions"] if t["trigger"] == "approve")
    approve.update(roles=["assignee", "verifier"], guards=[])
    _sql(rt, "UPDATE workflow_versions SET definition = :d WHERE hash = :h", d=json.dumps(data), h=content_hash)
    return content_hash


def test_a_tampered_stored_workflow_is_reported_and_never_used(client, world, rt, db_url, clock, caplog):
    item = drive(client, world, rt, new_item(client, world, due_date="2026-04-30"), "rectifying")
    content_hash = _tamper_stored_standard(rt)

    body = _verify(client, world)
    # The version is named, and so is the item on it: its steps can no longer be checked against its rules.
    assert body["ok"] is False and body["first_bad"]["item"] == item["number"]
    assert "altered" in body["first_bad"]["reason"]
    assert body["workflow_problems"] == [{"hash": content_hash, "name": "standard",
                                          "reason": "the stored definition does not match its hash: it was altered"}]
    done = audit_verify_command(db_url)
    assert done.returncode == 2 and content_hash in done.stderr and "altered" in done.stderr, done.stderr

    # A restart with the bundled files: the file vouches for its hash, the edited copy is refused.
    from fastapi.testclient import TestClient

    from api.app import create_app

    with caplog.at_level(logging.ERROR, logger="closeloop.workflows"):
        restarted = Runtime.open(Settings(database_url=db_url), clock=clock)
    assert any(content_hash in r.getMessage() for r in caplog.records)
    try:
        with TestClient(create_app(restarted), raise_server_exceptions=False) as client2:
            submitted = fire(client2, world, item, {"trigger": "submit", "evidence": [
                {"name": "整改报告.pdf", "sha256": "ab" * 32}]}, "asg_a")
            assert submitted.status_code == 200, submitted.text
            own_approval = fire(client2, world, item, {"trigger": "approve"}, "asg_a")
            assert_problem(own_approval, 403)
    finally:
        restarted.store.dispose()


def test_items_on_a_tampered_version_no_file_vouches_for_are_refused(client, world, rt, db_url, clock, tmp_path,
                                                                    workflows_dir):
    import shutil

    from fastapi.testclient import TestClient

    from api.app import create_app

    item = drive(client, world, rt, new_item(client, world, due_date="2026-04-30"), "rectifying")
    content_hash = _tamper_stored_standard(rt)
    # The deployment's files have moved on: nothing but the stored copy describes the item's version.
    folder = tmp_path / "workflows_v2"
    shutil.copytree(workflows_dir, folder)
    path = folder / "standard.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace(f"version: {OLD}", f"version: {NEW}", 1), encoding="utf-8")
    restarted = Runtime.open(Settings(database_url=db_url, workflows_dir=folder), clock=clock)
    try:
        assert restarted.registry.current("standard").hash != content_hash
        assert content_hash in restarted.registry.untrusted
        before = table_counts(restarted)
        with TestClient(create_app(restarted), raise_server_exceptions=False) as client2:
            refused = fire(client2, world, item, {"trigger": "report_progress", "comment": "推进中"}, "asg_a")
            assert "altered" in assert_problem(refused, 423)["detail"]
            # New items on the current version are unaffected.
            assert new_item(client2, world)["workflow_version"] == NEW
        assert table_counts(restarted)["history"] == before["history"] + 1
    finally:
        restarted.store.dispose()


MALFORMED = [
    ("evidence-not-json", "UPDATE history SET evidence = 'not json' WHERE item_id = :i AND seq = 3",
     3, "evidence is not valid JSON"),
    ("float-in-evidence", "UPDATE history SET evidence = '[{\"name\": \"a.pdf\", \"size\": 1.5}]' "
                          "WHERE item_id = :i AND seq = 2", 2, "cannot be hashed"),
    ("fields-not-an-object", "UPDATE history SET fields = '[1]' WHERE item_id = :i AND seq = 1",
     1, "fields is not a JSON object"),
    ("created-at-moved", "UPDATE items SET created_at = '2020-01-01 00:00:00' WHERE id = :i",
     1, "created_at does not match"),
]


@pytest.mark.parametrize("kind, statement, seq, reason", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_rows_are_named_and_the_check_goes_on(client, world, rt, db_url, verified_item, kind, statement,
                                                         seq, reason):
    a, b = verified_item
    with owner_write(rt) as conn:  # an attacker holding the database
        _drop_protection(conn)
        conn.execute(sa.text(statement), {"i": a["id"]})
    # A second broken item, newer than A: the check reaches it and still names the oldest.
    c = new_item(client, world)
    _sql(rt, "UPDATE items SET history_hash = :h WHERE id = :i", h="e" * 64, i=c["id"])

    body = _verify(client, world)
    assert body["ok"] is False
    assert body["first_bad"]["item"] == a["number"] and body["first_bad"]["seq"] == seq, body
    assert reason in body["first_bad"]["reason"]
    assert body["records"] >= 3  # item B's three intact records were still counted
    done = audit_verify_command(db_url)
    assert done.returncode == 2 and reason in done.stderr and "Traceback" not in done.stderr, done.stderr
    # Reading the damaged history answers a problem, not a crash.
    read = client.get(f"/api/v1/items/{a['id']}/history", headers=world.h("aud"))
    assert read.status_code in (200, 423), read.text
    if read.status_code == 423:
        assert_problem(read, 423)


# PostgreSQL's timestamp column cannot hold text at all; there the moved-time case above stands for it.
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_garbage_timestamp_on_sqlite_is_named_not_a_crash(client, world, rt, db_url, verified_item):
    a, _ = verified_item
    _sql(rt, "UPDATE items SET created_at = 'garbage' WHERE id = :i", i=a["id"])
    body = _verify(client, world)
    assert body["first_bad"]["item"] == a["number"] and "'garbage' is not a valid time" in body["first_bad"]["reason"]
    done = audit_verify_command(db_url)
    assert done.returncode == 2 and "not a valid time" in done.stderr and "Traceback" not in done.stderr
    refused = fire(client, world, a, {"trigger": "close"}, "sup")
    assert_problem(refused, 423)


def test_an_untouched_database_verifies_with_every_check(client, world, rt, verified_item):
    with rt.store.read() as conn:
        result = verify_database(conn)
    records = table_counts(rt)["history"]
    assert result.ok and result.records == records == 5 + 3 and result.workflow_problems == []

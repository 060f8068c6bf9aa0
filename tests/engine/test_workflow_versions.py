"""An item keeps the workflow version it started on, across a restart with changed workflow files.

Items start on the bundled standard workflow; then a NEW Runtime opens the same database with a
modified copy of the workflow folder (report_progress removed, accept moved to supervisors). Items
already in flight keep the old rules; items registered afterwards follow the new ones; the API lists
both versions.
"""
from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from engine.config import BUNDLED_WORKFLOWS, Settings
from engine.definitions import load_path
from engine.runtime import Runtime
from tests.helpers import drive, edited_workflows, fire, new_item

PROGRESS = {"trigger": "report_progress", "comment": "已完成阶段性工作"}
# The bundled standard workflow's version, and the one the changed copy below bumps it to.
OLD = load_path(BUNDLED_WORKFLOWS)["standard"].version
NEW = str(int(OLD) + 1)


@pytest.fixture
def changed_workflows(tmp_path, workflows_dir):
    """A copy of the bundled folder where the next standard version drops report_progress and lets only
    supervisors accept."""

    def edit(data: dict) -> None:
        data["version"] = int(NEW)
        data["transitions"] = [t for t in data["transitions"] if t["trigger"] != "report_progress"]
        next(t for t in data["transitions"] if t["trigger"] == "accept")["roles"] = ["supervisor"]

    return edited_workflows(workflows_dir, tmp_path / "workflows_v2", "standard", edit)


@pytest.fixture
def restarted(db_url, clock, changed_workflows, rt):
    """A second runtime and client on the same database, started with the changed workflow files."""
    runtime = Runtime.open(Settings(database_url=db_url, workflows_dir=changed_workflows), clock=clock)
    with TestClient(create_app(runtime), raise_server_exceptions=False) as test_client:
        yield runtime, test_client
    runtime.store.dispose()


def test_in_flight_items_keep_old_rules_and_new_items_follow_new_ones(client, world, rt, restarted):
    old_hash = rt.registry.current("standard").hash
    old_assigned = drive(client, world, rt, new_item(client, world, due_date="2026-04-30"), "assigned")
    old_rectifying = drive(client, world, rt, new_item(client, world, due_date="2026-04-30"), "rectifying")

    rt2, client2 = restarted
    new_hash = rt2.registry.current("standard").hash
    assert new_hash != old_hash

    # Old items, through the new process: the old rules still hold.
    seen = client2.get(f"/api/v1/items/{old_rectifying['id']}", headers=world.h("asg_a")).json()
    assert seen["workflow_version"] == OLD and seen["workflow_hash"] == old_hash
    assert "report_progress" in seen["allowed_triggers"]
    progressed = fire(client2, world, old_rectifying, PROGRESS, "asg_a")
    assert progressed.status_code == 200, progressed.text
    assert progressed.json()["transition"]["trigger"] == "report_progress"
    accepted = fire(client2, world, old_assigned, {"trigger": "accept"}, "asg_a")
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["state"] == "rectifying"

    # New items: the new rules.
    fresh = new_item(client2, world, due_date="2026-04-30")
    assert fresh["workflow_version"] == NEW and fresh["workflow_hash"] == new_hash
    assigned = fire(client2, world, fresh, {"trigger": "assign", "fields": {"due_date": "2026-04-30"}}, "sup")
    assert assigned.status_code == 200, assigned.text
    refused = fire(client2, world, fresh, {"trigger": "accept"}, "asg_a")
    assert refused.status_code == 403 and refused.json()["reason"] == "role", refused.text
    accepted = fire(client2, world, fresh, {"trigger": "accept"}, "sup")
    assert accepted.status_code == 200, accepted.text
    gone = fire(client2, world, fresh, PROGRESS, "asg_a")
    assert gone.status_code == 422 and gone.json()["type"].endswith("/unknown-trigger"), gone.text
    assert "report_progress" not in gone.json()["triggers"] and "accept" in gone.json()["triggers"]

    # Both versions are listed; the current one is the new file.
    body = client2.get("/api/v1/workflows/standard", headers=world.h("aud")).json()
    assert body["hash"] == new_hash and str(body["version"]) == NEW
    assert set(body["versions"]) == {old_hash, new_hash}
    assert "report_progress" not in body["mermaid"]

    history = client2.get(f"/api/v1/items/{old_rectifying['id']}/history", headers=world.h("aud")).json()["data"]
    assert history[0]["fields"]["workflow_hash"] == old_hash and history[-1]["trigger"] == "report_progress"
    assert client2.get("/api/v1/audit/verify", headers=world.h("aud")).json()["ok"] is True


def test_a_process_started_before_the_change_serves_both_versions(client, world, rt, restarted):
    """Several processes share one database: the one still on the old files must not fail on new items."""
    item = drive(client, world, rt, new_item(client, world, due_date="2026-04-30"), "rectifying")
    _rt2, client2 = restarted
    assert fire(client, world, item, PROGRESS, "asg_a").status_code == 200
    fresh = new_item(client2, world, due_date="2026-04-30")
    assert fresh["workflow_version"] == NEW

    seen = client.get(f"/api/v1/items/{fresh['id']}", headers=world.h("aud"))
    assert seen.status_code == 200, seen.text
    assert seen.json()["workflow_version"] == NEW
    listed = client.get("/api/v1/items", headers=world.h("aud"))
    assert listed.status_code == 200 and {i["workflow_version"] for i in listed.json()["data"]} == {OLD, NEW}
    assigned = fire(client, world, fresh, {"trigger": "assign", "fields": {"due_date": "2026-04-30"}}, "sup")
    assert assigned.status_code == 200, assigned.text
    refused = fire(client, world, fresh, {"trigger": "accept"}, "asg_a")  # v2: only supervisors accept
    assert refused.status_code == 403, refused.text


def test_restarting_on_the_same_files_adds_no_version(db_url, clock, rt, workflows_dir):
    before = {c.hash for c in rt.registry.versions("standard")}
    again = Runtime.open(Settings(database_url=db_url, workflows_dir=workflows_dir), clock=clock)
    try:
        assert {c.hash for c in again.registry.versions("standard")} == before
        assert again.registry.current("standard").hash == rt.registry.current("standard").hash
    finally:
        again.store.dispose()


def test_going_back_to_the_old_files_makes_the_old_version_current_again(db_url, clock, rt, restarted,
                                                                           workflows_dir, client, world):
    rt2, _client2 = restarted
    back = Runtime.open(Settings(database_url=db_url, workflows_dir=workflows_dir), clock=clock)
    try:
        assert back.registry.current("standard").hash == rt.registry.current("standard").hash
        assert {c.hash for c in back.registry.versions("standard")} == {
            rt.registry.current("standard").hash, rt2.registry.current("standard").hash}
    finally:
        back.store.dispose()

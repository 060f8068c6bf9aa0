"""Test factories: a small unit tree with users of every role, and ways to drive items to any state."""
from __future__ import annotations

import datetime as dt
import hashlib
import shutil
import socket
import subprocess
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import yaml

from engine import accounts
from engine.definitions.workflow import TransitionDef, WorkflowDef
from engine.runtime import Runtime

UNITS = [("CITY", "市", None), ("DEPT-A", "市教委", "CITY"), ("SUB-A1", "区教育局", "DEPT-A"),
         ("DEPT-B", "市民政局", "CITY")]
# username: (roles, unit). Every role at the city level; unit-level people in DEPT-A, SUB-A1 and DEPT-B.
USERS = {
    "reg": (["registrar"], "CITY"), "sup": (["supervisor"], "CITY"), "ver": (["verifier"], "CITY"),
    "aud": (["auditor"], "CITY"), "adm": (["admin"], "CITY"),
    "reg_a": (["registrar"], "DEPT-A"), "sup_a": (["supervisor"], "DEPT-A"), "ver_a": (["verifier"], "DEPT-A"),
    "asg_a": (["assignee"], "DEPT-A"), "asg_a1": (["assignee"], "SUB-A1"), "asg_b": (["assignee"], "DEPT-B"),
    "sup_b": (["supervisor"], "DEPT-B"), "ver_b": (["verifier"], "DEPT-B"),
    # Both assignee and verifier: may submit, and then must not verify the same fix.
    "doer_a": (["assignee", "verifier"], "DEPT-A"),
}
# Who fires a role's transitions in the default driver.
DRIVER = {"supervisor": "sup", "assignee": "asg_a", "verifier": "ver", "auditor": "aud", "registrar": "reg",
          "admin": "adm"}
SHA = hashlib.sha256(b"evidence").hexdigest()


@dataclass
class World:
    """Tokens by username, and shortcuts for headers."""

    tokens: dict[str, str] = field(default_factory=dict)

    def h(self, username: str, **extra: str) -> dict[str, str]:
        """Headers authenticating as ``username``."""
        return {"Authorization": f"Bearer {self.tokens[username]}", **extra}


def build_world(rt: Runtime) -> World:
    """Create the units and users; return their tokens."""
    world = World()
    with rt.store.write() as conn:
        for code, name, parent in UNITS:
            accounts.add_unit(conn, clock=rt.clock, actor="cli:tests", code=code, name=name, parent=parent)
        for username, (roles, unit) in USERS.items():
            _, world.tokens[username] = accounts.add_user(conn, clock=rt.clock, actor="cli:tests", username=username, roles=roles,
                                                          unit=unit)
    return world


def new_item(client, world: World, *, unit: str = "DEPT-A", workflow: str = "standard", as_user: str = "reg",
             **extra) -> dict:
    """Register an item through the API and return it (asserting 201)."""
    body = {"title": "公办幼儿园学位缺口未按计划补齐", "source": "inspection", "unit": unit, "workflow": workflow,
            "assignee": {"DEPT-A": "asg_a", "SUB-A1": "asg_a1", "DEPT-B": "asg_b"}.get(unit), **extra}
    response = client.post("/api/v1/items", json={k: v for k, v in body.items() if v is not None},
                           headers=world.h(as_user))
    assert response.status_code == 201, response.text
    return response.json()


def payload(tdef: TransitionDef, today: dt.date, item: dict | None = None) -> dict:
    """A request body that satisfies ``tdef``'s requirements and guards."""
    body: dict = {"trigger": tdef.trigger}
    fields: dict = {}
    if "comment" in tdef.requires:
        body["comment"] = f"{tdef.trigger}：情况说明 ✅"
    if "evidence" in tdef.requires:
        body["evidence"] = [{"name": "整改报告.pdf", "sha256": SHA}]
    if "due_date" in tdef.requires:
        fields["due_date"] = (today + dt.timedelta(days=10)).isoformat()
    if "new_due_date" in tdef.requires:
        current = dt.date.fromisoformat(item["due_date"]) if item and item.get("due_date") else today
        fields["new_due_date"] = (current + dt.timedelta(days=30)).isoformat()
    if "measures" in tdef.requires:
        fields["measures"] = "制定整改方案"
    if "changes_hands" in tdef.guards:  # a transfer (转办) names another unit
        fields["unit"] = "DEPT-A" if item and item.get("unit") == "DEPT-B" else "DEPT-B"
    if fields:
        body["fields"] = fields
    return body


def path_to(wf: WorkflowDef, target: str) -> list[TransitionDef]:
    """The shortest list of transitions from the initial state to ``target``."""
    queue = deque([(wf.initial, [])])
    seen = {wf.initial}
    while queue:
        state, path = queue.popleft()
        if state == target:
            return path
        for t in wf.transitions:
            if state in t.source and t.dest not in seen:
                seen.add(t.dest)
                queue.append((t.dest, path + [t]))
    raise ValueError(f"{target} unreachable in {wf.name}")


def fire(client, world: World, item: dict, body: dict, as_user: str, **headers) -> "httpx.Response":  # noqa: F821
    """POST a transition."""
    return client.post(f"/api/v1/items/{item['id']}/transitions", json=body, headers=world.h(as_user, **headers))


def drive(client, world: World, rt: Runtime, item: dict, target: str) -> dict:
    """Fire the shortest path to ``target`` with the default actors; return the item (asserting each 200).

    The assignee's steps are fired by the item's named assignee when it has one (only they may).
    """
    wf = rt.registry.current(item["workflow"]).definition
    for tdef in path_to(wf, target):
        actor = DRIVER[tdef.roles[0]]
        if tdef.roles[0] == "assignee" and item.get("assignee"):
            actor = item["assignee"]
        response = fire(client, world, item, payload(tdef, rt.today(), item), actor)
        assert response.status_code == 200, (tdef.trigger, response.text)
        item = response.json()
    return item


COUNTED_TABLES = ("items", "history", "units", "users", "tokens", "outbox", "idempotency_keys", "workflow_versions")


def table_counts(rt: Runtime, tables: tuple[str, ...] = COUNTED_TABLES) -> dict[str, int]:
    """Row counts of ``tables``, to show that a refused request changed nothing."""
    import sqlalchemy as sa

    with rt.store.read() as conn:
        return {name: conn.execute(sa.text(f"SELECT COUNT(*) FROM {name}")).scalar_one() for name in tables}


def assert_problem(response, status: int | None = None) -> dict:
    """Assert a 4xx application/problem+json answer with type, title, status and detail; return its body."""
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:500])
    if status is not None:
        assert response.status_code == status, (response.status_code, response.text[:500])
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body = response.json()
    for key in ("type", "title", "status", "detail"):
        assert key in body and body[key] not in (None, ""), (key, body)
    assert body["status"] == response.status_code
    assert "Traceback" not in response.text and 'File "' not in response.text
    return body


def edited_workflows(source: Path, folder: Path, name: str, edit: Callable[[dict], None]) -> Path:
    """A copy of the workflow folder ``source`` at ``folder`` with workflow ``name``'s data changed by ``edit``."""
    shutil.copytree(source, folder)
    path = folder / f"{name}.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    edit(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return folder


def audit_verify_command(db_url: str) -> subprocess.CompletedProcess:
    """`closeloop audit verify` on ``db_url``, run in this process (the command's own code, without a new
    interpreter's second of start-up; tests/api/test_cli_audit.py runs it as a separate process). An exception
    escaping the command fails the test, as a traceback on its standard error would."""
    import subprocess

    from typer.testing import CliRunner

    from api.cli import app

    result = CliRunner().invoke(app, ["audit", "verify"], env={"CLOSELOOP_DATABASE_URL": db_url})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return subprocess.CompletedProcess(["closeloop", "audit", "verify"], result.exit_code, result.stdout,
                                       result.stderr)


def free_port() -> int:
    """A TCP port on 127.0.0.1 free at this moment."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def assert_busy(response) -> dict:
    """503 problem+json with a Retry-After of whole seconds; return its body."""
    assert response.status_code == 503, response.text[:300]
    assert response.headers["content-type"].startswith("application/problem+json")
    assert int(response.headers["retry-after"]) >= 1
    body = response.json()
    assert body["status"] == 503 and "Traceback" not in response.text
    return body

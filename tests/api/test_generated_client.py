"""A client generated from the served /openapi.json with openapi-python-client works end to end.

The generator is the one integrators use; any warning it prints means a part of the API is missing from
the client it made (an error response dropped, an operation skipped), so a warning fails the test. The
client then drives a whole life of an item, typed refusals included.
"""
from __future__ import annotations

import datetime as dt
import importlib
import json
import subprocess
import sys
import uuid
from pathlib import Path

from engine.config import DEFAULT_EVIDENCE_TYPES
from tests.conftest import START
from tests.helpers import SHA

GENERATOR = Path(sys.executable).parent / "openapi-python-client"
# No post-processing hooks: by default the generator runs ruff, which a test machine may not have. The audit
# bundle (a zip), an evidence file (PDF, image, Office document: each accepted type is documented) and the ledger
# (.xlsx, .csv) are files to the client, which the generator knows as application/octet-stream.
CONFIG = "post_hooks: []\ncontent_type_overrides:\n" + "".join(
    f"  {media_type}: application/octet-stream\n" for media_type in ("application/zip", *DEFAULT_EVIDENCE_TYPES,
                                                                     "text/csv"))


def generate(spec: dict, folder: Path):
    """Generate a client package from ``spec`` into ``folder``, fail on any warning, and import it."""
    (folder / "openapi.json").write_text(json.dumps(spec), encoding="utf-8")
    (folder / "config.yaml").write_text(CONFIG, encoding="utf-8")
    package = f"closeloop_client_{uuid.uuid4().hex[:8]}"
    done = subprocess.run([str(GENERATOR), "generate", "--path", str(folder / "openapi.json"), "--meta", "none",
                           "--output-path", str(folder / package), "--config", str(folder / "config.yaml")],
                          capture_output=True, text=True, timeout=120)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "warning" not in output.lower(), output
    sys.path.insert(0, str(folder))
    try:
        return importlib.import_module(package)
    finally:
        sys.path.remove(str(folder))


def test_a_generated_client_drives_a_whole_life_with_typed_refusals(client, world, tmp_path):
    gen = generate(client.get("/openapi.json").json(), tmp_path)
    api = importlib.import_module(f"{gen.__name__}.api.items")
    models = importlib.import_module(f"{gen.__name__}.models")
    for name in ("create_item", "fire_transition", "get_item", "list_items", "get_item_history"):
        importlib.import_module(f"{api.__name__}.{name}")

    def as_user(username: str):
        # The TestClient's transport carries requests into the app in-process, like a server would.
        return gen.AuthenticatedClient(base_url=str(client.base_url), token=world.tokens[username],
                                       httpx_args={"transport": client._transport}, raise_on_unexpected_status=True)

    def fire(username: str, item_id: str, body, **headers):
        return api.fire_transition.sync_detailed(item_id=item_id, client=as_user(username), body=body, **headers)

    due = (START.date() + dt.timedelta(days=30))
    made = api.create_item.sync_detailed(client=as_user("reg"), body=models.NewItem(
        title="公办幼儿园学位缺口未按计划补齐", source=models.Source.INSPECTION, unit="DEPT-A",
        severity=models.Severity.HIGH), idempotency_key="create-1")
    assert made.status_code == 201, made.content
    item = made.parsed
    assert isinstance(item, models.ItemOut) and item.state == models.State.IDENTIFIED and item.version == 1
    assert item.due_date is None and isinstance(item.light, models.Light)
    assert made.headers["location"].endswith(item.id) and made.headers["etag"] == '"1"'

    # 409: not allowed from this state, with the triggers that are.
    refused = fire("sup", item.id, models.TransitionRequest(trigger="close"))
    assert refused.status_code == 409 and isinstance(refused.parsed, models.Problem)
    assert refused.parsed.state == models.State.IDENTIFIED and "assign" in refused.parsed.allowed_triggers
    # 422: a requirement refuses (the due date is missing), naming it.
    invalid = fire("sup", item.id, models.TransitionRequest(trigger="assign", fields=models.TransitionFields(
        unit="DEPT-A")), if_match='"1"')
    assert invalid.status_code == 422 and isinstance(invalid.parsed, models.Problem), invalid.content
    assert invalid.parsed.guard == "requires" and "due_date" in invalid.parsed.detail
    # 422: a malformed value, with the field in errors.
    malformed = fire("sup", item.id, models.TransitionRequest(trigger="assign", evidence=[
        models.Evidence(name="x.pdf", sha256="not-a-hash")]))
    assert malformed.status_code == 422 and isinstance(malformed.parsed.errors[0], models.ProblemError)
    assert malformed.parsed.errors[0].loc == ["body", "evidence", "0", "sha256"]

    fields = models.TransitionFields(unit="DEPT-A", due_date=due, assignee="asg_a")
    assigned = fire("sup", item.id, models.TransitionRequest(trigger="assign", fields=fields), if_match='"1"')
    assert assigned.status_code == 200, assigned.content
    assert assigned.parsed.state == models.State.ASSIGNED and assigned.parsed.transition.seq == 2
    assert assigned.parsed.due_date == due
    # 412: a stale If-Match, with the current version.
    stale = fire("asg_a", item.id, models.TransitionRequest(trigger="accept"), if_match='"1"')
    assert stale.status_code == 412 and stale.parsed.current_version == 2

    for username, request in [
        ("asg_a", models.TransitionRequest(trigger="accept")),
        ("asg_a", models.TransitionRequest(trigger="submit", comment="已完成整改", evidence=[
            models.Evidence(name="验收报告.pdf", sha256=SHA)])),
        ("ver", models.TransitionRequest(trigger="approve")),
        ("sup", models.TransitionRequest(trigger="close", comment="销号")),
    ]:
        done = fire(username, item.id, request, idempotency_key=f"{request.trigger}-1")
        assert done.status_code == 200, (request.trigger, done.content)
        assert isinstance(done.parsed, models.TransitionOut)
    assert done.parsed.state == models.State.CLOSED and isinstance(done.parsed.closed_at, dt.datetime)

    read = api.get_item.sync_detailed(item_id=item.number, client=as_user("sup"))
    assert read.status_code == 200 and read.headers["etag"] == f'"{read.parsed.version}"'
    history = api.get_item_history.sync(item_id=item.id, client=as_user("aud"))
    assert [r.trigger for r in history.data] == ["create", "assign", "accept", "submit", "approve", "close"]
    submitted = history.data[3]
    assert submitted.evidence[0].sha256 == SHA and submitted.from_state == models.State.RECTIFYING
    page = api.list_items.sync(client=as_user("sup"), severity=[models.Severity.HIGH])
    assert [i.id for i in page.data] == [item.id]
    missing = api.get_item.sync_detailed(item_id="ZG-1999-000001", client=as_user("sup"))
    assert missing.status_code == 404 and isinstance(missing.parsed, models.Problem)

"""The audit routes: signing keys, checkpoints made and listed, the streamed bundle and its filters (both stores)."""
from __future__ import annotations

import zipfile

import orjson
import pytest
import sqlalchemy as sa

from engine.audit.bundle_verify import verify_bundle
from tests.helpers import assert_problem, drive, new_item


@pytest.fixture
def audited(client, world, rt, tmp_path):
    """Two items in DEPT-A (one in campaign C1), one in SUB-A1, one in DEPT-B; keys in a temporary folder."""
    rt.settings.audit_key_dir = tmp_path / "keys"
    made = [drive(client, world, rt, new_item(client, world, due_date="2026-04-30", campaign="C1"), "closed"),
            new_item(client, world, due_date="2026-04-30"),
            new_item(client, world, unit="SUB-A1", due_date="2026-04-30"),
            new_item(client, world, unit="DEPT-B", due_date="2026-04-30")]
    return made


def _bundle(client, world, tmp_path, user="aud", **params):
    response = client.get("/api/v1/audit/export", params=params, headers=world.h(user))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    assert response.headers["content-disposition"].startswith('attachment; filename="closeloop-audit-')
    path = tmp_path / "bundle.zip"
    path.write_bytes(response.content)
    return path


def test_checkpoints_are_made_listed_newest_first_and_their_keys_served(client, world, audited):
    made = [client.post("/api/v1/audit/checkpoints", headers=world.h(u)) for u in ("aud", "adm", "aud")]
    assert [r.status_code for r in made] == [201, 201, 201], made[0].text
    docs = [r.json() for r in made]
    assert [d["checkpoint"]["number"] for d in docs] == [1, 2, 3]
    assert docs[1]["checkpoint"]["prev"] == docs[0]["hash"] and docs[0]["checkpoint"]["items"] == 4
    page = client.get("/api/v1/audit/checkpoints", params={"limit": 2}, headers=world.h("aud")).json()
    assert [d["checkpoint"]["number"] for d in page["data"]] == [3, 2] and page["next_cursor"]
    rest = client.get("/api/v1/audit/checkpoints", params={"limit": 2, "cursor": page["next_cursor"]},
                      headers=world.h("adm")).json()
    assert [d["hash"] for d in rest["data"]] == [docs[0]["hash"]] and rest["next_cursor"] is None
    keys = client.get("/api/v1/audit/keys", headers=world.h("aud")).json()["data"]
    assert [(k["key_id"], k["public_key"], k["algorithm"]) for k in keys] == [
        (docs[0]["checkpoint"]["key_id"], docs[0]["public_key"], "ed25519")]


def test_only_auditors_and_admins_reach_the_audit_routes(client, world, audited):
    for user in ("reg", "sup", "asg_a", "ver"):
        for method, path in (("GET", "/api/v1/audit/keys"), ("GET", "/api/v1/audit/checkpoints"),
                             ("POST", "/api/v1/audit/checkpoints"), ("GET", "/api/v1/audit/export")):
            assert_problem(client.request(method, path, headers=world.h(user)), 403)
    assert_problem(client.get("/api/v1/audit/export"), 401)


def test_the_exported_bundle_verifies_offline_against_its_checkpoints(client, world, rt, audited, tmp_path):
    doc = client.post("/api/v1/audit/checkpoints", headers=world.h("adm")).json()
    path = _bundle(client, world, tmp_path, user="adm")
    report = verify_bundle(path, trusted_checkpoint=doc, public_keys=[bytes.fromhex(doc["public_key"])])
    assert report.ok and (report.items, report.checkpoints) == (4, 1) and report.records == 6 + 3
    with zipfile.ZipFile(path) as bundle:
        manifest = orjson.loads(bundle.read("manifest.json"))
        logged = [orjson.loads(line) for line in bundle.read("admin_log.jsonl").splitlines()]
        workflows = bundle.read("workflows.jsonl").splitlines()
    with rt.store.read() as conn:
        stored = conn.execute(sa.text("SELECT seq, hash FROM admin_log ORDER BY seq")).all()
    assert [(e["seq"], e["hash"]) for e in logged] == [tuple(r) for r in stored] and len(stored) > 10
    assert manifest["complete"] is True and manifest["counts"]["items"] == 4
    assert manifest["admin_log"]["entries"] == manifest["counts"]["admin_log"] == len(stored)
    assert manifest["admin_log"]["head"] == stored[-1][1] and manifest["evidence"]["files"] == 0
    assert report.admin_log == {"ok": True, "entries": len(stored), "head": stored[-1][1], "first_bad": None}
    assert len(workflows) == 1  # only the version the items use


def test_filters_choose_the_items_and_say_the_bundle_is_partial(client, world, audited, tmp_path):
    client.post("/api/v1/audit/checkpoints", headers=world.h("aud"))
    cases = [({"unit": "DEPT-A"}, {audited[0]["id"], audited[1]["id"], audited[2]["id"]}),
             ({"unit": "SUB-A1"}, {audited[2]["id"]}), ({"campaign": "C1"}, {audited[0]["id"]}),
             ({"from": "2026-03-02", "to": "2026-03-02"}, {a["id"] for a in audited}),
             ({"from": "2026-03-03"}, set()), ({"to": "2026-03-01"}, set())]
    for params, expected in cases:
        path = _bundle(client, world, tmp_path, **params)
        with zipfile.ZipFile(path) as bundle:
            ids = {orjson.loads(line)["id"] for line in bundle.read("items.jsonl").splitlines()}
            manifest = orjson.loads(bundle.read("manifest.json"))
        assert ids == expected, params
        assert manifest["complete"] is False and manifest["filters"]["unit"] == params.get("unit")
        report = verify_bundle(path)
        named = ", ".join(f"{k}={v}" for k, v in params.items())
        assert report.ok and any(f"outside this bundle, filtered by {named}" in n for n in report.notes) == (
            len(expected) < 4)


@pytest.mark.parametrize("params, field", [({"unit": "NOPE"}, "unit"), ({"from": "2026-02-30"}, None),
                                           ({"to": "yesterday"}, None), ({"campaign": "a\x00b"}, "campaign")])
def test_bad_filters_are_problems_not_errors(client, world, audited, params, field):
    problem = assert_problem(client.get("/api/v1/audit/export", params=params, headers=world.h("aud")), 422)
    if field is not None:
        assert problem.get("field") == field, problem


def test_bad_cursor_is_a_problem(client, world, audited):
    assert_problem(client.get("/api/v1/audit/checkpoints", params={"cursor": "forged"}, headers=world.h("aud")), 422)


def test_a_retried_checkpoint_request_makes_one_checkpoint(client, world, audited):
    first = client.post("/api/v1/audit/checkpoints", headers=world.h("aud", **{"Idempotency-Key": "cp-1"}))
    again = client.post("/api/v1/audit/checkpoints", headers=world.h("aud", **{"Idempotency-Key": "cp-1"}))
    assert first.status_code == again.status_code == 201 and first.json() == again.json()
    listed = client.get("/api/v1/audit/checkpoints", headers=world.h("aud")).json()["data"]
    assert [d["hash"] for d in listed] == [first.json()["hash"]]

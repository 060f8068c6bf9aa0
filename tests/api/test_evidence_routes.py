"""Evidence files through the API (both stores): upload, limits, types by content, scope, download, references."""
from __future__ import annotations

import hashlib
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from tests.evidence_samples import ACCEPTED, PDF, REFUSED
from tests.helpers import assert_problem, drive, fire, new_item

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


@pytest.fixture
def evidence_dir(rt, tmp_path):
    rt.settings.evidence_dir = tmp_path / "evidence"
    return rt.settings.evidence_dir


def upload(client, world, item, name, content, user="asg_a", content_type="application/pdf", **headers):
    return client.post(f"/api/v1/items/{item['id']}/evidence", files={"file": (name, content, content_type)},
                       headers=world.h(user, **headers))


def stored_files(folder) -> list[str]:
    """Every file under the evidence folder, temporary ones included: what an upload left behind."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def upload_rows(rt) -> int:
    with rt.store.read() as conn:
        return conn.execute(sa.text("SELECT COUNT(*) FROM evidence_files")).scalar_one()


@pytest.mark.parametrize("name", ["整改验收报告（终稿）.pdf", "现场照片 📷✅.pdf", "report 'final' 100%;v2.pdf"])
def test_an_upload_is_stored_by_its_hash_and_downloads_with_its_name(client, world, rt, evidence_dir, name):
    item = new_item(client, world)
    response = upload(client, world, item, name, PDF, content_type="text/plain")  # the client's type is ignored
    assert response.status_code == 201, response.text
    sha = hashlib.sha256(PDF).hexdigest()
    assert response.json() == {"name": name, "sha256": sha, "size": len(PDF), "media_type": "application/pdf"}
    assert response.headers["location"] == f"/api/v1/items/{item['id']}/evidence/{sha}"
    assert stored_files(evidence_dir) == [f"{sha[:2]}/{sha[2:4]}/{sha}"]
    got = client.get(response.headers["location"], headers=world.h("aud"))  # an auditor reads every unit
    assert got.status_code == 200 and got.content == PDF
    assert got.headers["content-type"] == "application/pdf" and got.headers["content-length"] == str(len(PDF))
    disposition = got.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="') and disposition.isascii()
    assert disposition.endswith(f"filename*=UTF-8''{quote(name, safe='')}")
    listed = client.get(f"/api/v1/items/{item['number']}/evidence", headers=world.h("sup_a")).json()["data"]
    assert [(f["name"], f["sha256"], f["uploaded_by"]) for f in listed] == [(name, sha, "asg_a")]


@pytest.mark.parametrize("media_type", sorted(ACCEPTED))
def test_every_accepted_type_is_recognised_whatever_the_name(client, world, evidence_dir, media_type):
    item = new_item(client, world)
    response = upload(client, world, item, "scan.bin", ACCEPTED[media_type], content_type="application/octet-stream")
    assert response.status_code == 201, response.text
    assert response.json()["media_type"] == media_type


def test_over_the_limit_answers_413_and_stores_nothing(client, world, rt, evidence_dir):
    item = new_item(client, world)
    rt.settings.evidence_max_bytes = len(PDF)
    assert upload(client, world, item, "exact.pdf", PDF).status_code == 201
    before = stored_files(evidence_dir)
    one_more = assert_problem(upload(client, world, item, "big.pdf", PDF + b"\n"), 413)
    assert one_more["type"].endswith("/evidence-too-large") and f"limited to {len(PDF)} bytes" in one_more["detail"]
    huge = assert_problem(upload(client, world, item, "huge.pdf", PDF + b"\0" * 300_000), 413)  # refused unread
    assert "evidence files are limited" in huge["detail"]
    assert stored_files(evidence_dir) == before and upload_rows(rt) == 1


@pytest.mark.parametrize("media_type", sorted(REFUSED))
def test_a_refused_type_answers_415_naming_it_and_stores_nothing(client, world, rt, evidence_dir, media_type):
    item = new_item(client, world)
    body = assert_problem(upload(client, world, item, "整改报告.pdf", REFUSED[media_type]), 415)
    assert body["detected_type"] == media_type and media_type in body["detail"]
    assert stored_files(evidence_dir) == [] and upload_rows(rt) == 0


def test_the_accepted_types_are_a_setting(client, world, rt, evidence_dir):
    item = new_item(client, world)
    rt.settings.evidence_types = ["image/png"]
    assert assert_problem(upload(client, world, item, "a.pdf", PDF), 415)["detected_type"] == "application/pdf"
    assert upload(client, world, item, "a.png", ACCEPTED["image/png"]).status_code == 201


def test_another_units_item_or_evidence_is_404_like_an_unknown_one(client, world, rt, evidence_dir):
    theirs, mine = new_item(client, world), new_item(client, world, unit="DEPT-B")
    sha = upload(client, world, theirs, "a.pdf", PDF).json()["sha256"]
    assert_problem(upload(client, world, theirs, "b.pdf", PDF, user="asg_b"), 404)
    assert_problem(client.get(f"/api/v1/items/{theirs['id']}/evidence/{sha}", headers=world.h("asg_b")), 404)
    assert_problem(client.get(f"/api/v1/items/{theirs['id']}/evidence", headers=world.h("asg_b")), 404)
    # Through an item they do see: a file uploaded for another item is not theirs to read.
    other = client.get(f"/api/v1/items/{mine['id']}/evidence/{sha}", headers=world.h("asg_b"))
    unknown = client.get(f"/api/v1/items/{mine['id']}/evidence/{'0' * 64}", headers=world.h("asg_b"))
    assert assert_problem(other, 404)["type"] == assert_problem(unknown, 404)["type"]
    assert upload_rows(rt) == 1


def test_a_transition_references_a_stored_file_by_hash(client, world, rt, evidence_dir):
    item = drive(client, world, rt, new_item(client, world, due_date="2026-04-30"), "rectifying")
    sha = upload(client, world, item, "验收报告.docx", ACCEPTED[DOCX]).json()["sha256"]
    done = fire(client, world, item, {"trigger": "submit", "evidence": [
        {"sha256": sha.upper(), "stored": True},
        {"name": "外部链接.pdf", "sha256": "ab" * 32, "url": "https://pan.example.cn/s/1"}]}, "asg_a")
    assert done.status_code == 200, done.text
    assert done.json()["transition"]["evidence"] == [
        {"name": "验收报告.docx", "sha256": sha, "size": len(ACCEPTED[DOCX]), "media_type": DOCX, "stored": True},
        {"name": "外部链接.pdf", "sha256": "ab" * 32, "url": "https://pan.example.cn/s/1"}]
    history = client.get(f"/api/v1/items/{item['id']}/history", headers=world.h("aud")).json()["data"]
    assert history[-1]["evidence"][0]["stored"] is True
    assert client.get("/api/v1/audit/verify", headers=world.h("aud")).json()["ok"] is True


def test_name_and_hash_of_a_file_uploaded_for_the_item_is_a_reference_to_it(client, world, rt, evidence_dir):
    """API.md: after the upload, a transition's evidence entry may carry just name and sha256."""
    item = drive(client, world, rt, new_item(client, world, due_date="2026-04-30"), "rectifying")
    sha = upload(client, world, item, "验收报告.docx", ACCEPTED[DOCX]).json()["sha256"]
    done = fire(client, world, item, {"trigger": "submit", "evidence": [
        {"name": "验收报告.docx", "sha256": sha},
        {"name": "另存为.docx", "sha256": sha},  # another name: a file declared as kept elsewhere
        {"name": "验收报告.docx", "sha256": sha, "url": "https://pan.example.cn/s/2"}]}, "asg_a")
    assert done.status_code == 200, done.text
    assert done.json()["transition"]["evidence"] == [
        {"name": "验收报告.docx", "sha256": sha, "size": len(ACCEPTED[DOCX]), "media_type": DOCX, "stored": True},
        {"name": "另存为.docx", "sha256": sha},
        {"name": "验收报告.docx", "sha256": sha, "url": "https://pan.example.cn/s/2"}]


@pytest.mark.parametrize("entry, field", [
    ({"sha256": hashlib.sha256(b"never uploaded").hexdigest(), "stored": True}, "evidence[0].sha256"),
    ({"sha256": "OTHER", "stored": True}, "evidence[0].sha256"),  # uploaded, but for another item
    ({"sha256": "MINE", "stored": True, "name": "renamed.pdf"}, "evidence[0].name"),
    ({"sha256": "MINE", "stored": True, "size": 1}, "evidence[0].size"),
    ({"sha256": "MINE", "stored": True, "media_type": "image/png"}, "evidence[0].media_type"),
])
def test_a_reference_to_a_file_not_stored_for_this_item_is_422_and_changes_nothing(client, world, rt, evidence_dir,
                                                                                  entry, field):
    item = drive(client, world, rt, new_item(client, world, due_date="2026-04-30"), "rectifying")
    other = new_item(client, world)
    mine = upload(client, world, item, "a.pdf", PDF).json()["sha256"]
    theirs = upload(client, world, other, "b.png", ACCEPTED["image/png"]).json()["sha256"]
    entry = {**entry, "sha256": {"MINE": mine, "OTHER": theirs}.get(entry["sha256"], entry["sha256"])}
    body = assert_problem(fire(client, world, item, {"trigger": "submit", "evidence": [entry]}, "asg_a"), 422)
    assert body["field"] == field
    after = client.get(f"/api/v1/items/{item['id']}", headers=world.h("aud")).json()
    assert (after["version"], after["state"]) == (item["version"], "rectifying")


@pytest.mark.parametrize("entry", [{"sha256": "ab" * 32}, {"name": "x.pdf", "sha256": "ab" * 32, "size": 3},
                                   {"sha256": "ab" * 32, "stored": True, "url": "https://example.cn/x"}])
def test_malformed_evidence_entries_are_refused(client, world, rt, entry):
    item = drive(client, world, rt, new_item(client, world, due_date="2026-04-30"), "rectifying")
    assert_problem(fire(client, world, item, {"trigger": "submit", "evidence": [entry]}, "asg_a"), 422)


def test_bad_uploads_are_clear_errors(client, world, rt, evidence_dir):
    item = new_item(client, world)
    url = f"/api/v1/items/{item['id']}/evidence"
    assert_problem(client.post(url, json={"file": "x"}, headers=world.h("asg_a")), 415)
    assert assert_problem(client.post(url, files={"other": ("a.pdf", PDF)}, headers=world.h("asg_a")),
                          422)["field"] == "file"
    assert assert_problem(upload(client, world, item, "", PDF), 422)["field"] == "file"
    assert_problem(client.get(f"{url}/not-a-hash", headers=world.h("asg_a")), 422)
    assert_problem(upload(client, world, {"id": "ZG-2026-999999"}, "a.pdf", PDF), 404)
    assert stored_files(evidence_dir) == [] and upload_rows(rt) == 0


def test_an_upload_with_an_idempotency_key_is_recorded_once(client, world, rt, evidence_dir):
    item = new_item(client, world)
    first = upload(client, world, item, "a.pdf", PDF, **{"Idempotency-Key": "up-1"})
    again = upload(client, world, item, "a.pdf", PDF, **{"Idempotency-Key": "up-1"})
    assert (first.status_code, again.status_code, first.json()) == (201, 201, again.json())
    assert upload_rows(rt) == 1


def test_an_upload_refused_for_its_idempotency_key_keeps_no_file(client, world, rt, evidence_dir):
    item = new_item(client, world)
    assert upload(client, world, item, "a.pdf", PDF, **{"Idempotency-Key": "up-1"}).status_code == 201
    kept = stored_files(evidence_dir)
    other = PDF + b"% another report\n"
    reused = upload(client, world, item, "b.pdf", other, **{"Idempotency-Key": "up-1"})
    assert assert_problem(reused, 422)["type"].endswith("idempotency-key-reused")
    assert_problem(upload(client, world, item, "b.pdf", other, **{"Idempotency-Key": "x" * 300}), 400)
    assert stored_files(evidence_dir) == kept and upload_rows(rt) == 1
    # The same file under a fresh key is kept and recorded as usual.
    assert upload(client, world, item, "b.pdf", other, **{"Idempotency-Key": "up-2"}).status_code == 201
    assert len(stored_files(evidence_dir)) == 2 and upload_rows(rt) == 2


def test_a_file_recorded_but_gone_from_the_store_is_423_not_a_crash(client, world, rt, evidence_dir):
    item = new_item(client, world)
    sha = upload(client, world, item, "a.pdf", PDF).json()["sha256"]
    (evidence_dir / sha[:2] / sha[2:4] / sha).unlink()
    assert "audit verify --with-evidence" in assert_problem(
        client.get(f"/api/v1/items/{item['id']}/evidence/{sha}", headers=world.h("asg_a")), 423)["detail"]


def test_a_download_answers_a_media_type_the_openapi_document_lists(client, world, rt, evidence_dir):
    item = new_item(client, world)
    documented = client.get("/openapi.json").json()["paths"]["/api/v1/items/{item_id}/evidence/{sha256}"]["get"]
    listed = set(documented["responses"]["200"]["content"])
    assert set(rt.settings.evidence_types) <= listed  # each accepted type, as the file is served
    sha = upload(client, world, item, "a.png", ACCEPTED["image/png"]).json()["sha256"]
    got = client.get(f"/api/v1/items/{item['id']}/evidence/{sha}", headers=world.h("aud"))
    assert got.headers["content-type"] == "image/png" and "image/png" in listed
    # A file stored under an earlier setting that no longer accepts its type is served as plain bytes.
    rt.settings.evidence_types = ["application/pdf"]
    got = client.get(f"/api/v1/items/{item['id']}/evidence/{sha}", headers=world.h("aud"))
    assert got.status_code == 200 and got.headers["content-type"] == "application/octet-stream"
    assert got.content == ACCEPTED["image/png"] and "application/octet-stream" in listed


def _raw_upload(client, world, item, disposition: bytes, content: bytes = PDF):
    body = (b"--XX\r\nContent-Disposition: form-data; name=\"file\"; " + disposition +
            b"\r\nContent-Type: application/pdf\r\n\r\n" + content + b"\r\n--XX--\r\n")
    return client.post(f"/api/v1/items/{item['id']}/evidence", content=body,
                       headers=world.h("asg_a", **{"content-type": "multipart/form-data; boundary=XX"}))


@pytest.mark.parametrize("codec", ["utf-8", "gbk"])
def test_a_file_name_sent_in_gbk_keeps_its_chinese(client, world, rt, evidence_dir, codec):
    # Browsers send UTF-8; curl and scripts on a Chinese Windows send the system's GBK, which Starlette alone
    # read as Latin-1 (验收报告.pdf became ÑéÊÕ±¨¸æ.pdf, in the record and in every download's name).
    item = new_item(client, world)
    sent = _raw_upload(client, world, item, 'filename="验收报告.pdf"'.encode(codec))
    assert sent.status_code == 201 and sent.json()["name"] == "验收报告.pdf", sent.text


def test_a_file_name_in_no_known_encoding_is_refused(client, world, rt, evidence_dir):
    item = new_item(client, world)
    refused = _raw_upload(client, world, item, b'filename="\xff\xfe\xff.pdf"')
    assert "neither UTF-8 nor GBK" in assert_problem(refused, 422)["detail"]
    assert stored_files(evidence_dir) == [] and upload_rows(rt) == 0


@pytest.mark.parametrize("path", ["evidence", "import"])
def test_a_body_that_is_no_multipart_form_says_what_to_send(client, world, rt, evidence_dir, path):
    item = new_item(client, world)
    url = f"/api/v1/items/{item['id']}/evidence" if path == "evidence" else "/api/v1/items/import"
    broken = client.post(url, content=b"--XX\r\nContent-Disposition form-data\r\n\r\nabc\r\n--XX--\r\n",
                         headers=world.h("reg" if path == "import" else "asg_a",
                                         **{"content-type": "multipart/form-data; boundary=XX"}))
    detail = assert_problem(broken, 400)["detail"]
    assert "not a readable multipart/form-data form" in detail and "form field 'file'" in detail, detail
    assert stored_files(evidence_dir) == [] and upload_rows(rt) == 0


def test_a_form_over_its_limits_is_named_as_such(client, world, rt, evidence_dir):
    item = new_item(client, world)
    two = client.post(f"/api/v1/items/{item['id']}/evidence", files=[("file", ("a.pdf", PDF)), ("file", ("b.pdf", PDF))],
                      headers=world.h("asg_a"))
    assert assert_problem(two, 400)["detail"] == "Too many files. Maximum number of files is 1."
    assert stored_files(evidence_dir) == [] and upload_rows(rt) == 0

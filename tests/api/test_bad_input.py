"""Bad input of every kind is refused with a 4xx problem+json, never a 500, and changes nothing.

Each row of the tables below is one request. Before and after it, the test takes a snapshot of the
database (row counts of every table, the number sequence, every item's version, state and chain head)
and the two must be equal. Both stores: SQLite file and PostgreSQL.
"""
from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field

import pytest
import sqlalchemy as sa

from tests.helpers import SHA, assert_problem, drive, new_item, table_counts

ITEM = {"title": "公办幼儿园学位缺口未按计划补齐", "source": "inspection", "unit": "DEPT-A"}
ASSIGN = {"trigger": "assign", "fields": {"due_date": "2026-04-30"}}
SUBMIT = {"trigger": "submit", "evidence": [{"name": "整改报告.pdf", "sha256": SHA}]}
UNIT = {"code": "DEPT-C", "name": "市卫健委", "parent": "CITY"}
USER = {"username": "newbie", "roles": ["assignee"], "unit": "DEPT-A"}
JSON = {"Content-Type": "application/json"}
TWO_MIB = 2 * 1024 * 1024


def _with(base: dict, **changes) -> dict:
    return {**base, **changes}


def _fields(**changes) -> dict:
    return {"trigger": "assign", "fields": {"due_date": "2026-04-30", **changes}}


def _evidence(**changes) -> dict:
    return {"trigger": "submit", "evidence": [{"name": "整改报告.pdf", "sha256": SHA, **changes}]}


@dataclass
class Case:
    """One bad request: where it goes, as whom, what it carries, and the status it must get."""

    id: str
    status: int
    path: str = "/api/v1/items"
    method: str = "POST"
    user: str = "reg"
    body: object = None
    content: bytes | None = None
    headers: dict = field(default_factory=dict)


T = "/api/v1/items/{fresh}/transitions"   # an item in 'identified': assign would succeed
W = "/api/v1/items/{working}/transitions"  # an item in 'rectifying': submit would succeed


def _create_cases() -> list[Case]:
    cases = [
        Case("malformed-json", 400, content=b'{"title": "x",', headers=JSON),
        Case("json-trailing-garbage", 400, content=json.dumps(ITEM).encode() + b" xyz", headers=JSON),
        Case("form-content-type", 415, content=b"title=x&source=inspection&unit=DEPT-A",
             headers={"Content-Type": "application/x-www-form-urlencoded"}),
        Case("text-plain-content-type", 415, content=json.dumps(ITEM).encode(), headers={"Content-Type": "text/plain"}),
        Case("xml-content-type", 415, content=b"<item/>", headers={"Content-Type": "application/xml"}),
        Case("body-is-array", 422, body=[ITEM]),
        Case("body-is-string", 422, body="title"),
        Case("body-2-mib", 413, body=_with(ITEM, description="整" * (TWO_MIB // 3 + 1))),
        Case("title-10000-chars", 422, body=_with(ITEM, title="问" * 10000)),
        Case("title-blank", 422, body=_with(ITEM, title="   ")),
        Case("title-missing", 422, body={"source": "inspection", "unit": "DEPT-A"}),
        Case("description-too-long", 422, body=_with(ITEM, description="x" * 20001)),
        Case("too-many-tags", 422, body=_with(ITEM, tags=[f"t{i}" for i in range(21)])),
        Case("tag-too-long", 422, body=_with(ITEM, tags=["标" * 51])),
        Case("nul-in-title", 422, body=_with(ITEM, title="abc\x00def")),
        Case("nul-in-description", 422, body=_with(ITEM, description="\x00")),
        Case("nul-in-tag", 422, body=_with(ITEM, tags=["a\x00"])),
        Case("lone-surrogate-in-title", 422, content=b'{"title":"\\ud800x","source":"inspection","unit":"DEPT-A"}',
             headers=JSON),
        Case("unknown-workflow", 422, body=_with(ITEM, workflow="no_such_workflow")),
        Case("unknown-unit", 422, body=_with(ITEM, unit="NOPE")),
        Case("unit-outside-scope", 403, user="reg_a", body=_with(ITEM, unit="DEPT-B")),
        Case("assignee-nonexistent", 422, body=_with(ITEM, assignee="ghost")),
        Case("assignee-other-unit", 422, body=_with(ITEM, assignee="asg_b")),
        Case("assignee-in-parent-unit", 422, body=_with(ITEM, unit="SUB-A1", assignee="asg_a")),
        Case("assignee-without-role", 422, body=_with(ITEM, assignee="ver")),
        Case("not-a-registrar", 403, user="asg_a", body=ITEM),
        Case("no-token", 401, user="", body=ITEM),
    ]
    for key, value in [("state", "closed"), ("version", 7), ("id", "x"), ("number", "ZG-2026-999999"),
                       ("history_hash", "0" * 64), ("created_at", "2026-01-01T00:00:00Z"), ("colour", "red")]:
        cases.append(Case(f"unknown-field-{key}", 422, body=_with(ITEM, **{key: value})))
    for key, value in [("title", 123), ("title", None), ("title", ["x"]), ("tags", "民生,作风"), ("tags", [1]),
                       ("tags", {"a": 1}), ("severity", "urgent"), ("source", "rumour"), ("unit", 5),
                       ("assignee", 7), ("workflow", True), ("description", 3.5), ("external_ref", {}),
                       ("due_date", 20270101)]:
        cases.append(Case(f"wrong-type-{key}-{type(value).__name__}-{value!r}"[:60], 422, body=_with(ITEM, **{key: value})))
    for value in ["2027-02-30", "2027-13-01", "2027-00-10", "tomorrow", 1700000000, "2027-2-3", "2027-03-31T00:00:00",
                  "31/03/2027", ""]:
        cases.append(Case(f"impossible-date-{value!r}", 422, body=_with(ITEM, due_date=value)))
    return cases


def _transition_cases() -> list[Case]:
    cases = [
        Case("malformed-json", 400, T, user="sup", content=b'{"trigger": assign}', headers=JSON),
        Case("form-content-type", 415, T, user="sup", content=b"trigger=assign",
             headers={"Content-Type": "application/x-www-form-urlencoded"}),
        Case("body-2-mib", 413, T, user="sup", body=_with(ASSIGN, comment="x" * TWO_MIB)),
        Case("nul-in-comment", 422, T, user="sup", body=_with(ASSIGN, comment="ok\x00")),
        Case("trigger-missing", 422, T, user="sup", body={"fields": {"due_date": "2026-04-30"}}),
        Case("trigger-number", 422, T, user="sup", body={"trigger": 1}),
        Case("comment-number", 422, T, user="sup", body=_with(ASSIGN, comment=5)),
        Case("fields-list", 422, T, user="sup", body={"trigger": "assign", "fields": ["due_date"]}),
        Case("fields-null", 422, T, user="sup", body={"trigger": "assign", "fields": None}),
        Case("evidence-object", 422, W, user="asg_a", body={"trigger": "submit", "evidence": SUBMIT["evidence"][0]}),
        Case("evidence-string", 422, W, user="asg_a", body={"trigger": "submit", "evidence": "report.pdf"}),
        Case("evidence-item-string", 422, W, user="asg_a", body={"trigger": "submit", "evidence": ["report.pdf"]}),
        Case("sha256-63-chars", 422, W, user="asg_a", body=_evidence(sha256=SHA[:63])),
        Case("sha256-65-chars", 422, W, user="asg_a", body=_evidence(sha256=SHA + "0")),
        Case("sha256-non-hex", 422, W, user="asg_a", body=_evidence(sha256="g" * 64)),
        Case("sha256-number", 422, W, user="asg_a", body=_evidence(sha256=12345)),
        Case("evidence-name-blank", 422, W, user="asg_a", body=_evidence(name=" ")),
        Case("unknown-fields-unit", 422, T, user="sup", body=_fields(unit="NOPE")),
        Case("assignee-nonexistent", 422, T, user="sup", body=_fields(assignee="ghost")),
        Case("assignee-other-unit", 422, T, user="sup", body=_fields(assignee="asg_b")),
        Case("if-match-garbage", 400, T, user="sup", body=ASSIGN, headers={"If-Match": "abc"}),
        Case("if-match-unquoted-word", 400, T, user="sup", body=ASSIGN, headers={"If-Match": '"one"'}),
        Case("if-match-negative", 400, T, user="sup", body=ASSIGN, headers={"If-Match": '"-1"'}),
        Case("if-match-huge", 400, T, user="sup", body=ASSIGN, headers={"If-Match": '"' + "9" * 30 + '"'}),
        Case("if-match-stale", 412, T, user="sup", body=ASSIGN, headers={"If-Match": '"7"'}),
        Case("idempotency-key-with-space", 400, T, user="sup", body=ASSIGN, headers={"Idempotency-Key": "a b"}),
        Case("idempotency-key-too-long", 400, T, user="sup", body=ASSIGN, headers={"Idempotency-Key": "k" * 201}),
        Case("item-id-nul", 404, "/api/v1/items/%00/transitions", user="sup", body=ASSIGN),
        Case("item-missing", 404, "/api/v1/items/ZG-2026-999999/transitions", user="sup", body=ASSIGN),
    ]
    for key in ("state", "version", "actor", "at", "hash"):
        cases.append(Case(f"unknown-field-{key}", 422, T, user="sup", body=_with(ASSIGN, **{key: "x"})))
    for key in ("state", "title", "submitted_by", "closed_at", "version"):
        cases.append(Case(f"unknown-fields-key-{key}", 422, T, user="sup", body=_fields(**{key: "x"})))
    for key in ("size", "hash", "uploaded_by"):
        cases.append(Case(f"unknown-evidence-key-{key}", 422, W, user="asg_a", body=_evidence(**{key: "x"})))
    for value in ["2027-02-30", "2027-13-01", "tomorrow", 1700000000]:
        cases.append(Case(f"impossible-fields-due-date-{value!r}", 422, T, user="sup",
                          body={"trigger": "assign", "fields": {"due_date": value}}))
        cases.append(Case(f"impossible-new-due-date-{value!r}", 422, W, user="asg_a",
                          body={"trigger": "request_extension", "comment": "申请延期",
                                "fields": {"new_due_date": value}}))
    return cases


def _admin_cases() -> list[Case]:
    return [
        Case("unit-unknown-field-path", 422, "/api/v1/units", user="adm", body=_with(UNIT, path="/1/")),
        Case("unit-unknown-field-id", 422, "/api/v1/units", user="adm", body=_with(UNIT, id=99)),
        Case("unit-code-number", 422, "/api/v1/units", user="adm", body=_with(UNIT, code=7)),
        Case("unit-parent-unknown", 422, "/api/v1/units", user="adm", body=_with(UNIT, parent="NOPE")),
        Case("unit-duplicate", 409, "/api/v1/units", user="adm", body=_with(UNIT, code="DEPT-A")),
        Case("unit-malformed-json", 400, "/api/v1/units", user="adm", content=b"{", headers=JSON),
        Case("unit-form", 415, "/api/v1/units", user="adm", content=b"code=X",
             headers={"Content-Type": "application/x-www-form-urlencoded"}),
        Case("user-unknown-field-token", 422, "/api/v1/users", user="adm", body=_with(USER, token="cl_x")),
        Case("user-unknown-field-active", 422, "/api/v1/users", user="adm", body=_with(USER, active=False)),
        Case("user-roles-string", 422, "/api/v1/users", user="adm", body=_with(USER, roles="assignee")),
        Case("user-bad-role", 422, "/api/v1/users", user="adm", body=_with(USER, roles=["mayor"])),
        Case("user-no-roles", 422, "/api/v1/users", user="adm", body=_with(USER, roles=[])),
        Case("user-unknown-unit", 422, "/api/v1/users", user="adm", body=_with(USER, unit="NOPE")),
        Case("user-duplicate", 409, "/api/v1/users", user="adm", body=_with(USER, username="asg_a")),
        Case("user-nul-name", 422, "/api/v1/users", user="adm", body=_with(USER, display_name="\x00")),
        Case("user-not-admin", 403, "/api/v1/users", user="sup", body=USER),
        Case("token-for-nul-user", 404, "/api/v1/users/%00/tokens", user="adm", body={}),
        Case("token-for-missing-user", 404, "/api/v1/users/ghost/tokens", user="adm", body={}),
    ]


def _query_cases() -> list[Case]:
    def get(case_id: str, status: int, query: str, path: str = "/api/v1/items") -> Case:
        return Case(case_id, status, f"{path}?{query}" if query else path, method="GET")

    return [
        get("cursor-forged-base64", 422, "cursor=Zm9yZ2Vk"),
        get("cursor-not-base64", 422, "cursor=%21%21%21%21"),
        get("cursor-truncated", 422, "limit=1&cursor={cursor_cut}"),
        get("cursor-other-query", 422, "limit=1&severity=high&cursor={cursor}"),
        get("cursor-forged-position", 422, "limit=1&cursor={cursor_forged}"),
        get("cursor-too-long", 422, "cursor=" + "A" * 600),
        get("limit-0", 422, "limit=0"),
        get("limit-501", 422, "limit=501"),
        get("limit-abc", 422, "limit=abc"),
        get("limit-negative", 422, "limit=-1"),
        get("limit-fraction", 422, "limit=1.5"),
        get("unknown-query-parameter", 422, "colour=red"),
        get("query-parameter-wrong-case", 422, "Limit=5"),
        get("due-before-impossible", 422, "due_before=2027-02-30"),
        get("due-after-word", 422, "due_after=tomorrow"),
        get("due-before-timestamp", 422, "due_before=1700000000"),
        get("overdue-maybe", 422, "overdue=maybe"),
        get("light-purple", 422, "light=purple"),
        get("unit-unknown", 422, "unit=NOPE"),
        get("q-too-long", 422, "q=" + "x" * 201),
        get("nul-in-q", 422, "q=%00"),
        get("nul-in-state", 422, "state=a%00b"),
        get("nul-in-unit", 422, "unit=%00"),
        get("nul-in-campaign", 422, "campaign=%00"),
        get("nul-in-item-id", 404, "", "/api/v1/items/%00"),
        get("nul-in-history-id", 404, "", "/api/v1/items/%00/history"),
        get("unknown-workflow", 404, "", "/api/v1/workflows/no_such_workflow"),
        get("nul-in-workflow-name", 404, "", "/api/v1/workflows/%00"),
    ]


@pytest.fixture
def scene(client, world, rt):
    """Two items (one identified, one rectifying) and a real cursor, all visible to the registrar."""
    fresh = new_item(client, world)
    working = drive(client, world, rt, new_item(client, world, due_date="2026-04-30"), "rectifying")
    page = client.get("/api/v1/items?limit=1", headers=world.h("reg")).json()
    cursor = page["next_cursor"]
    assert cursor
    raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    raw["p"][0] = "99999-01-01T00:00:00Z"
    forged = base64.urlsafe_b64encode(json.dumps(raw).encode()).decode().rstrip("=")
    return {"fresh": fresh["id"], "working": working["id"], "cursor": cursor, "cursor_cut": cursor[:-6],
            "cursor_forged": forged}


def snapshot(rt) -> dict:
    """Everything a refused request must leave as it was."""
    with rt.store.read() as conn:
        items = conn.execute(sa.text("SELECT id, version, state, history_seq, history_hash, assignee, due_date "
                                     "FROM items ORDER BY id")).all()
        numbers = conn.execute(sa.text("SELECT year, last FROM number_sequences ORDER BY year")).all()
    return {"counts": table_counts(rt), "items": [tuple(r) for r in items], "numbers": [tuple(r) for r in numbers]}


def send(client, world, case: Case, scene: dict):
    """Send ``case`` with its placeholders filled from ``scene``."""
    headers = dict(case.headers)
    if case.user:
        headers.update(world.h(case.user))
    kwargs: dict = {"headers": headers}
    if case.content is not None:
        kwargs["content"] = case.content
    elif case.body is not None:
        kwargs["json"] = case.body
    return client.request(case.method, case.path.format(**scene), **kwargs)


def _check_all(client, world, rt, scene, cases: list[Case]) -> None:
    """Send every case on one database; each must be refused and leave the snapshot as it was."""
    failures = []
    for case in cases:
        before = snapshot(rt)
        response = send(client, world, case, scene)
        try:
            body = assert_problem(response, case.status)
            assert body["type"].startswith("https://"), body
            assert snapshot(rt) == before, "the database changed"
        except AssertionError as exc:
            failures.append(f"{case.id}: {exc}")
    assert not failures, f"{len(failures)} of {len(cases)} cases failed:\n" + "\n".join(failures)


def test_bad_item_registration_is_refused(client, world, rt, scene):
    _check_all(client, world, rt, scene, _create_cases())


def test_bad_transition_request_is_refused(client, world, rt, scene):
    _check_all(client, world, rt, scene, _transition_cases())


def test_bad_admin_request_is_refused(client, world, rt, scene):
    _check_all(client, world, rt, scene, _admin_cases())


def test_bad_query_is_refused(client, world, rt, scene):
    _check_all(client, world, rt, scene, _query_cases())


def test_case_tables_have_unique_names():
    for table in (_create_cases(), _transition_cases(), _admin_cases(), _query_cases()):
        names = [c.id for c in table]
        assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)


def test_streamed_body_over_the_limit_is_refused(client, world, rt, scene):
    """A chunked body without Content-Length is cut off at the limit too."""
    before = snapshot(rt)
    chunk = json.dumps(ITEM).encode()[:-1] + b', "description": "'
    stream = iter([chunk] + [b"x" * 65536] * 40 + [b'"}'])
    response = client.post("/api/v1/items", content=stream, headers={**world.h("reg"), **JSON})
    assert_problem(response, 413)
    assert snapshot(rt) == before


def test_the_valid_counterparts_succeed(client, world, rt, scene):
    """The bodies the tables spoil are accepted as they are, so each refusal is about the spoiled part."""
    assert client.post("/api/v1/items", json=ITEM, headers=world.h("reg")).status_code == 201
    assert client.post(T.format(**scene), json=ASSIGN, headers=world.h("sup", **{"If-Match": '"1"'})).status_code == 200
    assert client.post(W.format(**scene), json=SUBMIT, headers=world.h("asg_a")).status_code == 200
    assert client.post("/api/v1/units", json=UNIT, headers=world.h("adm")).status_code == 201
    assert client.post("/api/v1/users", json=USER, headers=world.h("adm")).status_code == 201
    page = client.get(f"/api/v1/items?limit=1&cursor={scene['cursor']}", headers=world.h("reg"))
    assert page.status_code == 200 and len(page.json()["data"]) == 1


UNICODE = {
    "title": "整改🚧：‘引号’ \"双引号\" <b>标签</b> 𠀀𪚥 👨‍👩‍👧 e\u0301",
    "description": "第一行：巡察发现问题。\n第二行 —— 😀🙏\t制表符\\反斜杠 \u200b零宽",
    "measures": "①制定方案 ②按月报告 ③回头看",
    "campaign": "2026年第一轮巡察🔍",
    "external_ref": "巡-2026-017",
    "tags": ["民生", "作风建设", "🔥急"],
}


def test_chinese_and_emoji_round_trip_unchanged(client, world, rt):
    item = new_item(client, world, **UNICODE)
    comment = "交办：请于月底前完成 ✅🎯 𠮷野家"
    assigned = client.post(f"/api/v1/items/{item['id']}/transitions", headers=world.h("sup"),
                           json=_with(ASSIGN, comment=comment))
    assert assigned.status_code == 200, assigned.text
    assert assigned.json()["transition"]["comment"] == comment
    got = client.get(f"/api/v1/items/{item['number']}", headers=world.h("aud"))
    assert "整改🚧：‘引号’".encode() in got.content  # UTF-8 as it is, not \u escapes
    for key, value in UNICODE.items():
        assert item[key] == value and got.json()[key] == value, key
    history = client.get(f"/api/v1/items/{item['id']}/history", headers=world.h("aud")).json()["data"]
    created = history[0]["fields"]
    for key, value in UNICODE.items():
        assert created[key] == value, key
    assert history[1]["comment"] == comment
    found = client.get("/api/v1/items", params={"q": "𠀀𪚥", "campaign": UNICODE["campaign"]},
                       headers=world.h("aud")).json()["data"]
    assert [i["id"] for i in found] == [item["id"]]
    assert client.get("/api/v1/audit/verify", headers=world.h("aud")).json()["ok"] is True

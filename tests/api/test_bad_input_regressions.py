"""Regressions from the schemathesis fuzz run (tests/fuzz/run_fuzz.py) and the review that went with it.

Each test is one request that once answered 500 or was accepted although it is bad input. Each now
answers a 4xx problem+json that says what and where, and the database is unchanged. Both stores.
"""
from __future__ import annotations

import logging

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from engine.paging import encode, query_fingerprint
from engine.reminders.sweep import sweep
from tests.helpers import assert_problem, fire, new_item, table_counts

ASSIGN = {"trigger": "assign", "fields": {"due_date": "2026-04-30"}}
SOME_TIME = "2026-03-02T01:00:00.000000Z"


class WireHeaders:
    """Hand the app header bytes as they were sent, the way uvicorn does.

    The TestClient decodes header values and encodes them again as UTF-8, so a latin-1 byte such as
    0xB2 ('²') reaches the app as 'Â²'. This puts the sent byte back.
    """

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            scope = {**scope, "headers": [(k, v.decode("utf-8").encode("latin-1")) for k, v in scope["headers"]]}
        await self.app(scope, receive, send)


@pytest.mark.parametrize("etag", [b'"\xb2"', b'"1\xb9"', b'\xb3'])
def test_if_match_with_a_latin1_superscript_digit_is_400(client, world, rt, etag):
    # Was 500: str.isdigit() is true for '²', '³' and '¹', but int() refuses them.
    item = new_item(client, world)
    before = table_counts(rt)
    wire = TestClient(WireHeaders(client.app), raise_server_exceptions=False)
    response = wire.post(f"/api/v1/items/{item['id']}/transitions", json=ASSIGN,
                         headers={**world.h("sup"), "If-Match": etag})
    body = assert_problem(response, 400)
    assert "If-Match" in body["detail"]
    assert table_counts(rt) == before


def _forged(position: list) -> str:
    """A cursor for the unfiltered list (its fingerprint is public) holding a position no server wrote."""
    return encode(position, query_fingerprint({}))


@pytest.mark.parametrize("position", [
    pytest.param(["9999-12-31T23:59:59-05:00", "x"], id="time-past-year-9999-in-utc"),
    pytest.param(["0001-01-01T00:00:00+05:00", "x"], id="time-before-year-1-in-utc"),
    pytest.param([SOME_TIME, "a\ud800b"], id="id-with-lone-surrogate"),
    pytest.param([SOME_TIME, "a\x00b"], id="id-with-nul"),
    pytest.param(["2026-03-02T01:00:00\x00Z", "x"], id="time-with-nul"),
])
def test_forged_cursor_is_422(client, world, rt, position):
    # Were 500: OverflowError converting the time to UTC; UnicodeEncodeError sending a lone surrogate to
    # the database (both stores); PostgreSQL refusing a NUL in a text parameter. A NUL in the time was
    # read as if it were not there (Python 3.11's fromisoformat stops at it) and answered 200.
    new_item(client, world)
    before = table_counts(rt)
    response = client.get("/api/v1/items", params={"cursor": _forged(position)}, headers=world.h("adm"))
    body = assert_problem(response, 422)
    assert body["field"] == "cursor" and "cursor" in body["detail"]
    assert table_counts(rt) == before


def test_a_real_cursor_still_pages(client, world, rt):
    made = {new_item(client, world)["id"], new_item(client, world)["id"]}
    page = client.get("/api/v1/items", params={"limit": 1}, headers=world.h("adm")).json()
    rest = client.get("/api/v1/items", params={"limit": 1, "cursor": page["next_cursor"]}, headers=world.h("adm"))
    assert rest.status_code == 200, rest.text
    assert {i["id"] for i in page["data"] + rest.json()["data"]} == made and rest.json()["next_cursor"] is None


@pytest.mark.parametrize("path, body, field", [
    ("/api/v1/units", {"code": "DEPT-C\n", "name": "市卫健委", "parent": "CITY"}, "code"),
    ("/api/v1/users", {"username": "newbie\n", "roles": ["assignee"], "unit": "DEPT-A"}, "username"),
])
def test_code_or_username_with_a_trailing_newline_is_422(client, world, rt, path, body, field):
    # Were 201: the patterns ended in '$', which also matches just before a final newline, so 'DEPT-C\n'
    # was stored as a unit code no later request could name.
    before = table_counts(rt)
    problem = assert_problem(client.post(path, json=body, headers=world.h("adm")), 422)
    assert problem["field"] == field
    assert table_counts(rt) == before


@pytest.mark.parametrize("value", ["２０２７-０３-０１", "٢٠٢٧-٠٣-٠١", "2027-03-01\n"])
def test_date_in_other_digits_or_with_a_newline_says_the_format(client, world, rt, value):
    # Were 422 "... is not a real calendar date": '\d' matches any Unicode digit and '$' a final newline.
    before = table_counts(rt)
    created = client.post("/api/v1/items", json={"title": "t", "source": "audit", "unit": "DEPT-A", "due_date": value},
                          headers=world.h("reg"))
    assert "YYYY-MM-DD" in assert_problem(created, 422)["detail"]
    listed = client.get("/api/v1/items", params={"due_before": value}, headers=world.h("reg"))
    assert "YYYY-MM-DD" in assert_problem(listed, 422)["detail"]
    assert table_counts(rt) == before


def test_openapi_documents_errors_as_they_are_served(client):
    # The document listed the Problem schema under application/json, which errors are never served as, and
    # FastAPI's {"detail": [...]} 422 on routes with path parameters, which this app never answers.
    spec = client.get("/openapi.json").json()
    assert "HTTPValidationError" not in spec.get("components", {}).get("schemas", {})
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if status.startswith("2"):
                    continue
                where = f"{method.upper()} {path} {status}"
                assert list(response.get("content", {})) == ["application/problem+json"], where
                schema = response["content"]["application/problem+json"]["schema"]
                if "$ref" in schema:  # "#/components/schemas/Problem"
                    schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
                assert {"type", "title", "status", "detail"} <= set(schema["required"]), where


def test_a_405_allows_every_method_of_the_path(client, world):
    # Was 'Allow: POST' for OPTIONS /api/v1/items: the router answered from the first route of the path only.
    item = new_item(client, world)
    spec = client.get("/openapi.json").json()
    for path, operations in spec["paths"].items():
        url = path.replace("{item_id}", item["id"]).replace("{name}", "standard").replace("{username}", "asg_a")
        for method in ("OPTIONS", "PUT", "DELETE", "PATCH"):
            if method.lower() in operations:
                continue  # the path answers it: only the methods it does not answer give 405
            response = client.request(method, url, headers=world.h("adm"))
            assert_problem(response, 405)
            allowed = {m.strip().lower() for m in response.headers["allow"].split(",")}
            assert allowed - {"head"} == set(operations), (method, path, response.headers["allow"])


@pytest.mark.parametrize("etag", ["1", '"1', '1"', '""1""'])
def test_if_match_that_is_not_a_quoted_etag_is_400(client, world, rt, etag):
    # Was accepted as version 1: quotes were stripped wherever they were. The document says what RFC 9110
    # does (an ETag is quoted), and schema-violating requests must be refused.
    item = new_item(client, world)
    before = table_counts(rt)
    response = client.post(f"/api/v1/items/{item['id']}/transitions", json=ASSIGN,
                           headers={**world.h("sup"), "If-Match": etag})
    assert "If-Match" in assert_problem(response, 400)["detail"]
    assert table_counts(rt) == before


@pytest.mark.parametrize("entry", ["9223372036854775808", "36893488147419103233", "0", "-1"])
def test_an_inbox_entry_id_out_of_range_is_422_not_a_crash(client, world, entry):
    # Was a 500: an id past SQLite's 64-bit integers reached the database (found by make fuzz).
    response = client.post(f"/api/v1/me/reminders/{entry}/read", headers=world.h("sup"))
    assert_problem(response, 422)


@pytest.mark.parametrize("query", ["to=0", "from=1", "to=2027-02-30", "from=20270101"])
def test_audit_export_dates_must_be_written_yyyy_mm_dd(client, world, query):
    # Was accepted: "0" passed as a date (a Unix time, 1970-01-01) where the document says YYYY-MM-DD (make fuzz).
    assert_problem(client.get(f"/api/v1/audit/export?{query}", headers=world.h("aud")), 422)


def _date_parameters(client) -> list[tuple[str, str]]:
    """(path, query parameter) of every GET route without path parameters that takes a date in its query."""
    found = []
    for path, operations in client.get("/openapi.json").json()["paths"].items():
        get = operations.get("get")
        if get is None or "{" in path:
            continue
        for parameter in get.get("parameters", []):
            schema = parameter.get("schema", {})
            options = [schema, *schema.get("anyOf", [])]
            if parameter["in"] == "query" and any(option.get("format") == "date" for option in options):
                found.append((path, parameter["name"]))
    return found


def test_every_date_in_a_query_at_the_calendars_ends_is_answered_without_a_server_error(client, world, rt, caplog):
    # Were 500 (the first found by `make fuzz`): GET /api/v1/reports/summary?from=9999-12-31 overflowed working
    # out the month after the first day, and ?to=0001-01-01 the month before the last; GET /api/v1/audit/export
    # answered 200 and then broke off its stream at 0001-01-01 and 9999-12-31. These are valid dates: a route
    # answers them, or refuses them with a problem that says why, and never fails, not even mid-stream.
    new_item(client, world)
    routes = _date_parameters(client)
    assert ("/api/v1/reports/summary", "from") in routes and ("/api/v1/items", "due_before") in routes
    failed = []
    for path, name in routes:
        for day in ("0001-01-01", "0001-01-31", "9999-12-01", "9999-12-31"):
            response = client.get(path, params={name: day}, headers=world.h("aud"))
            if response.status_code >= 500 or (response.status_code >= 400 and
                                               response.headers["content-type"] != "application/problem+json"):
                failed.append(f"{path}?{name}={day}: {response.status_code}")
    broken = [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]
    assert not failed and not broken, (failed, broken)


def test_a_due_date_at_the_calendars_end_is_refused_and_one_stored_before_still_moves_on(client, world, rt, clock,
                                                                                          caplog):
    # Was a 500 (found by tests/web/test_form_fuzz.py): firing into a state with overdue reminders (accept, and a
    # granted extension) worked out reminder and escalation dates past 9999-12-31 (OverflowError). Such a date is
    # refused when set (engine.deadlines); a database may hold one set before, and that item still moves on, its
    # only notices those before the deadline.
    item = new_item(client, world)
    refused = assert_problem(fire(client, world, item, {"trigger": "assign", "fields": {"due_date": "9999-12-31"}},
                                  "sup"), 422)
    assert refused["field"] == "fields.due_date" and "more than 10 years ahead" in refused["detail"], refused
    assigned = fire(client, world, item, {"trigger": "assign", "fields": {"due_date": "2026-06-30"}}, "sup")
    assert assigned.status_code == 200, assigned.text
    with rt.store.write() as conn:
        conn.execute(sa.text("UPDATE items SET due_date = '9999-12-31' WHERE id = :id"), {"id": item["id"]})
    accepted = fire(client, world, item, {"trigger": "accept"}, "asg_a")
    assert accepted.status_code == 200, accepted.text
    assert (accepted.json()["state"], accepted.json()["deadline"]) == ("rectifying", "9999-12-31")
    clock.advance(days=400)
    sweep(rt)
    assert not [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]

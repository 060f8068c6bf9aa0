"""Every API operation takes only the query parameters its OpenAPI operation documents, each single-valued
one once: a typo or a repeat is refused with 422 and changes nothing, never ignored."""
from __future__ import annotations

import datetime as dt

import pytest

from api.query_params import operations
from tests.api.test_cli_audit import _script as run_audit
from tests.helpers import assert_problem, table_counts
from tests.ledger.support import ledger_file, upload

ROW = {"外部编号": "XC-Q-1", "问题来源": "巡视巡察", "问题描述": "台账记录不完整", "整改措施": "建立台账制度",
       "责任单位": "DEPT-A", "整改时限": dt.date(2026, 6, 30)}


@pytest.mark.parametrize(("query", "named"), [("dryrun=true", "dryrun"), ("dry-run=true", "dry-run"),
                                             ("dry_run=true&dry_run=false", "dry_run"),
                                             ("dry_run=false&dry_run=true", "dry_run"),
                                             ("dry_run=true&workflow=standard&workflow=x", "workflow")])
def test_an_import_with_a_mistyped_or_repeated_parameter_is_refused_and_imports_nothing(client, world, rt, query,
                                                                                        named):
    before = table_counts(rt)
    answer = client.post(f"/api/v1/items/import?{query}", files={"file": ("台账.xlsx", ledger_file([ROW]))},
                         headers=world.h("reg"))
    body = assert_problem(answer, 422)
    assert body["field"] == named and f"'{named}'" in body["detail"], body
    assert table_counts(rt) == before
    # The intended spelling still works.
    assert upload(client, world.h("reg"), ledger_file([ROW]), params={"dry_run": "true"}).json()["created"] == 1
    assert table_counts(rt) == before


@pytest.mark.parametrize(("path", "user"), [("/api/v1/items", "reg"), ("/api/v1/ledger.csv", "reg"),
                                            ("/api/v1/reports/summary", "sup"), ("/api/v1/audit/export", "aud"),
                                            ("/api/v1/audit/admin-log", "aud"), ("/api/v1/me/reminders", "reg"),
                                            ("/api/v1/audit/checkpoints", "aud")])
def test_a_read_with_an_unknown_parameter_is_refused_naming_it_and_the_known_ones(client, world, path, user):
    body = assert_problem(client.get(f"{path}?unti=CITY", headers=world.h(user)), 422)
    assert body["field"] == "unti" and "'unti'" in body["detail"] and "known:" in body["detail"], body


def test_a_single_valued_parameter_given_twice_is_refused_but_a_filter_may_repeat(client, world):
    body = assert_problem(client.get("/api/v1/items?limit=1&limit=2", headers=world.h("reg")), 422)
    assert body["field"] == "limit" and "2 times" in body["detail"], body
    assert_problem(client.get("/api/v1/ledger.csv?as_of=2026-01-01&as_of=2026-01-02", headers=world.h("reg")), 422)
    assert client.get("/api/v1/items?state=identified&state=rectifying", headers=world.h("reg")).status_code == 200


def test_the_accepted_parameters_come_from_the_served_document(client):
    table = operations(client.get("/openapi.json").json())
    assert table[("POST", "/api/v1/items/import")].names == {"dry_run", "workflow"}
    listed = table[("GET", "/api/v1/items")]
    assert {"state", "unit", "limit", "cursor"} <= listed.names
    assert "state" not in listed.single and "limit" in listed.single
    # An operation without query parameters refuses any.
    assert table[("GET", "/api/v1/items/{item_id}")].names == frozenset()


def test_the_parameters_are_read_when_the_app_is_built_and_once_per_set_of_routes(client, rt):
    # Reading them builds the OpenAPI document (over half a second): not on a request, where the first one with
    # a query string would wait for it, and not again for another app of the same routes.
    from api.app import create_app

    served = operations(client.get("/openapi.json").json())
    assert client.app.state.query_parameters == served
    another = create_app(rt)
    assert another.openapi_schema is None and another.state.query_parameters is client.app.state.query_parameters


def test_an_export_from_after_to_is_refused_like_the_admin_log(client, world):
    for path in ("/api/v1/audit/export", "/api/v1/audit/admin-log"):
        body = assert_problem(client.get(f"{path}?from=2026-05-01&to=2026-04-01", headers=world.h("aud")), 422)
        assert body["field"] == "from", body


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_export_command_refuses_from_after_to_with_a_message_and_writes_no_file(db_url, tmp_path):
    bundle = tmp_path / "bundle.zip"
    done = run_audit(db_url, tmp_path, "export", str(bundle), "--from", "2026-05-01", "--to", "2026-04-01")
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert "from (2026-05-01) is after to (2026-04-01)" in done.stderr
    assert not bundle.exists()


def test_an_empty_workflow_is_refused_not_taken_for_the_default(client, world, rt):
    before = table_counts(rt)
    answer = client.post("/api/v1/items/import?workflow=", files={"file": ("台账.xlsx", ledger_file([ROW]))},
                         headers=world.h("reg"))
    assert assert_problem(answer, 422)["field"] == "workflow"
    assert table_counts(rt) == before

"""The OpenAPI document is true: every route is summarised, typed, lists its problems, and answers its shape."""
from __future__ import annotations

import json
import re
import shutil

import pytest

from api.models import HistoryList, ItemOut, ItemPage
from api.models_admin import (
    HealthOut,
    MeOut,
    ReadyOut,
    TokenOut,
    UnitList,
    UserList,
    VerifyOut,
    WorkflowDetail,
    WorkflowList,
)
from engine.config import Settings
from engine.runtime import Runtime
from tests.helpers import new_item


def test_every_operation_has_a_summary_a_typed_answer_and_problem_errors(client):
    spec = client.get("/openapi.json").json()
    operations = [(path, method, op) for path, ops in spec["paths"].items() for method, op in ops.items()]
    assert len(operations) >= 16
    for path, method, op in operations:
        where = f"{method.upper()} {path}"
        assert op.get("summary"), where
        success = [code for code in op["responses"] if code.startswith("2")]
        assert success, where
        content = op["responses"][success[0]]["content"]
        # JSON, or a file of a named type (the audit bundle is a zip)
        schema = content["application/json" if "application/json" in content else next(iter(content))]["schema"]
        assert schema, f"{where}: untyped success response"
        if path.startswith("/api/"):
            assert "application/problem+json" in op["responses"]["4XX"]["content"], where


@pytest.mark.parametrize("path, model, user", [
    ("/api/v1/me", MeOut, "sup"), ("/api/v1/units", UnitList, "adm"), ("/api/v1/users", UserList, "adm"),
    ("/api/v1/audit/verify", VerifyOut, "aud"), ("/api/v1/workflows", WorkflowList, "reg"),
    ("/api/v1/workflows/standard", WorkflowDetail, "reg"), ("/healthz", HealthOut, "reg"),
    ("/readyz", ReadyOut, "reg"), ("/api/v1/items", ItemPage, "sup"),
])
def test_answers_match_their_documented_shape(client, world, path, model, user):
    new_item(client, world)
    response = client.get(path, headers=world.h(user))
    assert response.status_code == 200, response.text
    model.model_validate(response.json())
    assert set(response.json()) <= set(model.model_json_schema(by_alias=True)["properties"])


def test_item_token_and_history_answers_match_their_shape(client, world):
    item = new_item(client, world)
    ItemOut.model_validate(client.get(f"/api/v1/items/{item['id']}", headers=world.h("sup")).json())
    HistoryList.model_validate(client.get(f"/api/v1/items/{item['id']}/history", headers=world.h("sup")).json())
    TokenOut.model_validate(client.post("/api/v1/users/asg_a/tokens", headers=world.h("adm")).json())


OPERATION_IDS = {"create_item", "list_items", "get_item", "fire_transition", "get_item_history", "get_me", "list_units",
                 "add_unit", "list_users", "add_user", "issue_token", "verify_audit", "list_workflows", "get_workflow",
                 "get_health", "get_readiness", "get_metrics", "list_my_reminders", "mark_reminder_read", "list_item_reminders",
                 "list_audit_keys", "list_audit_checkpoints", "make_audit_checkpoint", "export_audit_bundle",
                 "list_admin_log", "update_user", "list_tokens", "revoke_token", "create_webhook", "list_webhooks",
                 "delete_webhook", "list_webhook_deliveries", "replay_webhook_delivery", "test_webhook",
                 "upload_evidence", "list_item_evidence", "download_evidence", "get_summary_report",
                 "list_campaigns", "create_campaign", "update_campaign", "reconcile_campaign", "create_lookback",
                 "get_lookback", "recheck_lookback_item",
                 "export_ledger_xlsx", "export_ledger_csv", "import_ledger"}
PROBLEM_FIELDS = {"allowed_triggers", "current_version", "state", "guard", "reason", "errors", "field", "triggers",
                  "detected_type", "error_count"}


@pytest.fixture(scope="module")
def served_spec(sqlite_template, tmp_path_factory) -> str:
    """The served OpenAPI document, read once: it describes the routes, which are the same on either store."""
    from fastapi.testclient import TestClient

    from api.app import create_app

    path = tmp_path_factory.mktemp("spec") / "spec.db"
    shutil.copy(sqlite_template, path)
    runtime = Runtime.open(Settings(database_url=f"sqlite:///{path}"))
    try:
        with TestClient(create_app(runtime)) as client:
            return client.get("/openapi.json").text
    finally:
        runtime.store.dispose()


@pytest.fixture
def spec(served_spec) -> dict:
    """The OpenAPI document, a copy of its own for each test."""
    return json.loads(served_spec)


def _operations(spec):
    return [(f"{method.upper()} {path}", op) for path, ops in spec["paths"].items() for method, op in ops.items()]


def _walk(node):
    """Every dict inside ``node``."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _schema(spec, name):
    return spec["components"]["schemas"][name]


def test_problem_is_defined_once_and_referenced(spec):
    # Was written out inline ~50 times: generated clients saw colliding copies and dropped error responses.
    problem = _schema(spec, "Problem")
    assert set(problem["required"]) == {"type", "title", "status", "detail"}
    assert PROBLEM_FIELDS <= set(problem["properties"]) and not PROBLEM_FIELDS & set(problem["required"])
    assert problem["properties"]["state"] == {"$ref": "#/components/schemas/State"}
    for where, op in _operations(spec):
        for status, response in op["responses"].items():
            content = response.get("content", {})
            if "application/problem+json" in content:
                assert content["application/problem+json"]["schema"] == {"$ref": "#/components/schemas/Problem"}, (
                    where, status)
    inline = [n for n in _walk(spec["paths"]) if "allowed_triggers" in n.get("properties", {})]
    assert inline == []


def test_every_operation_has_an_explicit_operation_id(spec):
    # Was 'transition_api_v1_items_item_id_transitions_post' and the like, derived from path and function.
    ids = [op["operationId"] for _, op in _operations(spec)]
    assert set(ids) == OPERATION_IDS and len(ids) == len(set(ids))


def test_bearer_security_is_declared_and_health_is_public(spec):
    assert spec["components"]["securitySchemes"]["bearer"] == {
        "type": "http", "scheme": "bearer", "description": spec["components"]["securitySchemes"]["bearer"]["description"]}
    assert spec["security"] == [{"bearer": []}]
    for where, op in _operations(spec):
        assert ("security" in op) == (not where.split()[1].startswith("/api/")), where
        if "security" in op:
            assert op["security"] == [], where


def test_item_answers_declare_etag_and_location(spec):
    items = spec["paths"]["/api/v1/items"]
    created = items["post"]["responses"]["201"]["headers"]
    assert created == {"Location": {"$ref": "#/components/headers/Location"},
                       "ETag": {"$ref": "#/components/headers/ETag"}}
    assert spec["paths"]["/api/v1/items/{item_id}"]["get"]["responses"]["200"]["headers"] == {
        "ETag": {"$ref": "#/components/headers/ETag"}}
    transition = spec["paths"]["/api/v1/items/{item_id}/transitions"]["post"]
    assert transition["responses"]["200"]["headers"] == {"ETag": {"$ref": "#/components/headers/ETag"}}
    assert {"$ref": "#/components/parameters/IfMatch"} in transition["parameters"]


def test_one_idempotency_key_header_on_every_write(spec):
    for where, op in _operations(spec):
        params = op.get("parameters", [])
        inline = [p for p in params if p.get("name", "").lower() == "idempotency-key"]
        assert inline == [], where
        assert ({"$ref": "#/components/parameters/IdempotencyKey"} in params) == where.startswith("POST"), where
    assert spec["components"]["parameters"]["IdempotencyKey"]["name"] == "Idempotency-Key"


def test_writes_document_503_with_retry_after(spec):
    for where, op in _operations(spec):
        if where.startswith("POST"):
            busy = op["responses"]["503"]
            assert busy["headers"] == {"Retry-After": {"$ref": "#/components/headers/Retry-After"}}, where
            assert busy["content"]["application/problem+json"]["example"]["status"] == 503


def test_dates_times_and_enums_are_typed_and_named_once(spec):
    item, new_item = _schema(spec, "ItemOut")["properties"], _schema(spec, "NewItem")["properties"]
    nullable_date = {"anyOf": [{"type": "string", "format": "date"}, {"type": "null"}]}
    assert {k: v for k, v in item["due_date"].items() if k in ("anyOf",)} == nullable_date
    assert {"type": "string", "format": "date"} in new_item["due_date"]["anyOf"]
    assert item["created_at"]["format"] == item["updated_at"]["format"] == "date-time"
    assert _schema(spec, "HistoryOut")["properties"]["at"]["format"] == "date-time"
    for name in ("Source", "Severity"):
        ref = {"$ref": f"#/components/schemas/{name}"}
        assert item[name.lower()] == ref and new_item[name.lower()]["$ref"] == ref["$ref"]
    assert item["light"] == {"$ref": "#/components/schemas/Light"}
    assert item["state"] == {"$ref": "#/components/schemas/State"}
    assert "closed" in _schema(spec, "State")["enum"] and "identified" in _schema(spec, "State")["enum"]
    for model in ("MeOut", "UserListed", "NewUser", "TransitionDef"):
        assert _schema(spec, model)["properties"]["roles"]["items"] == {"$ref": "#/components/schemas/Role"}, model
    severity = next(p for p in spec["paths"]["/api/v1/items"]["get"]["parameters"] if p["name"] == "severity")
    assert severity["schema"] == {"type": "array", "items": {"$ref": "#/components/schemas/Severity"}}
    named = {frozenset(_schema(spec, n)["enum"]) for n in ("Source", "Severity", "Light", "Role", "State")}
    copies = [n for n in _walk(spec) if "enum" in n and frozenset(n["enum"]) in named and "title" not in n]
    assert copies == []


def test_evidence_and_workflows_are_typed(spec):
    history = _schema(spec, "HistoryOut")["properties"]
    assert history["evidence"]["items"] == {"$ref": "#/components/schemas/EvidenceOut"}
    workflow = _schema(spec, "WorkflowDetail")["properties"]
    assert workflow["states"]["items"] == {"$ref": "#/components/schemas/StateDef"}
    assert workflow["transitions"]["items"] == {"$ref": "#/components/schemas/TransitionDef"}
    assert workflow["due_date"] == {"$ref": "#/components/schemas/DueDatePolicy"}


def test_every_request_body_and_error_status_has_an_example(spec):
    from api.problem_shapes import Problem

    for where, op in _operations(spec):
        for body in op.get("requestBody", {}).get("content", {}).values():  # JSON and multipart forms alike
            assert body.get("example"), where
        for status, response in op["responses"].items():
            if status.isdigit() and int(status) >= 400:
                example = response["content"]["application/problem+json"].get("example")
                assert example and example["status"] == int(status), (where, status)
                Problem.model_validate(example)


def test_request_examples_are_accepted_by_the_api(client, world):
    from api.examples import REQUESTS

    example = {**REQUESTS["create_item"], "unit": "DEPT-A", "assignee": "asg_a"}
    response = client.post("/api/v1/items", json=example, headers=world.h("reg"))
    assert response.status_code == 201, response.text
    unit = {**REQUESTS["add_unit"], "code": "CITY-EDU"}
    assert client.post("/api/v1/units", json=unit, headers=world.h("adm")).status_code == 201
    user = {**REQUESTS["add_user"], "unit": "CITY-EDU"}
    assert client.post("/api/v1/users", json=user, headers=world.h("adm")).status_code == 201


def test_every_api_operation_documents_429_with_retry_after(spec):
    for where, op in _operations(spec):
        if where.split()[1].startswith("/api/"):
            assert op["responses"]["429"]["headers"] == {"Retry-After": {"$ref": "#/components/headers/Retry-After"}}


def test_links_lead_from_what_an_operation_makes_to_the_operations_taking_its_id(spec):
    ops = {op["operationId"]: (path, op) for path, methods in spec["paths"].items() for op in methods.values()}
    links = {(producer, name): link for producer, (_path, op) in ops.items()
             for response in op["responses"].values() for name, link in response.get("links", {}).items()}
    assert links, "no links: schemathesis's stateful phase and generated clients have nothing to follow"
    for (producer, _name), link in links.items():
        path, _op = ops[link["operationId"]]
        assert set(link["parameters"]) == set(re.findall(r"{([^}:]+)", path)), (producer, link)
    item_ops = {op_id for op_id, (path, _op) in ops.items() if re.findall(r"{([^}:]+)", path) == ["item_id"]}
    assert {link["operationId"] for (producer, _), link in links.items() if producer == "create_item"} == item_ops

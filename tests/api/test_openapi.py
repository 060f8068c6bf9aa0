"""The OpenAPI document is true: every route is summarised, typed, lists its problems, and answers its shape."""
from __future__ import annotations

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
        schema = op["responses"][success[0]]["content"]["application/json"]["schema"]
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

"""Every JSON body, as documented (api/examples.py), plus one field a client must not set: 422 naming the field,
and nothing changed. The operations are read from the served OpenAPI document, so a new body is covered."""
from __future__ import annotations

import pytest

from api.examples import REQUESTS
from tests.helpers import COUNTED_TABLES, assert_problem, new_item, table_counts

# What the server alone decides, and a field no schema has.
SERVER_OWNED = {"id": "0b4e8f0c-3f0e-4f5e-9a51-1c6a3c1f2d7e", "version": 7, "state": "closed",
                "history_hash": "0" * 64, "created_at": "2026-01-01T00:00:00Z", "closed_at": "2026-01-02T00:00:00Z",
                "unit_path": "/1/", "password_hash": "x", "is_superuser": True}
FILLERS = {"item_id": "ZG-2026-000001", "username": "asg_a", "webhook_id": "1", "code": "2026-XC-R1",
           "lookback_id": "1", "token_id": "1", "delivery_id": "1", "entry_id": "1", "name": "standard"}


def _json_operations(client) -> list[tuple[str, str, str]]:
    spec = client.get("/openapi.json").json()
    found = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                found.append((method.upper(), path, operation["operationId"]))
    return found


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_fields_a_client_must_not_set_are_refused_in_every_body(client, world, rt):
    operations = _json_operations(client)
    assert len(operations) >= 10, operations
    before = table_counts(rt, COUNTED_TABLES)
    for method, path, operation_id in operations:
        url = path
        for name, value in FILLERS.items():
            url = url.replace("{" + name + "}", value).replace("{" + name + ":path}", value)
        assert "{" not in url, f"fill the path parameters of {path}"
        base = REQUESTS[operation_id]
        for field, value in SERVER_OWNED.items():
            if field in base:
                continue
            response = client.request(method, url, json={**base, field: value}, headers=world.h("adm"))
            problem = assert_problem(response, 422)
            assert any(field in error["loc"] for error in problem.get("errors", [])), (operation_id, field, problem)
    assert table_counts(rt, COUNTED_TABLES) == before


def test_a_transition_may_not_set_server_owned_item_fields(client, world, rt):
    item = new_item(client, world)
    for field, value in SERVER_OWNED.items():
        response = client.post(f"/api/v1/items/{item['id']}/transitions", headers=world.h("sup"),
                               json={"trigger": "assign", "fields": {"due_date": "2026-04-30", field: value}})
        assert_problem(response, 422)
    assert client.get(f"/api/v1/items/{item['id']}", headers=world.h("aud")).json()["version"] == 1

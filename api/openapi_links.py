"""OpenAPI links: from the answer of an operation that makes something to the operations that take its id.

A client generator turns them into navigation, and schemathesis's stateful phase follows them: it registers an
item, then reads, fires, lists and uploads on that very item instead of guessing ids that do not exist.
"""
from __future__ import annotations

import re

# Producer operation: its success status and where each id it makes is found.
PRODUCERS: dict[str, tuple[str, dict[str, str]]] = {
    "create_item": ("201", {"item_id": "$response.body#/id"}),
    "upload_evidence": ("201", {"item_id": "$request.path.item_id", "sha256": "$response.body#/sha256"}),
    "add_user": ("201", {"username": "$response.body#/username"}),
    "create_webhook": ("201", {"webhook_id": "$response.body#/id"}),
    "create_campaign": ("201", {"code": "$response.body#/code"}),
    "create_lookback": ("201", {"lookback_id": "$response.body#/id"}),
}


def add_links(spec: dict) -> None:
    """Link every producer's success response to each operation whose path ids it can fill."""
    operations = [(op["operationId"], path, op) for path, methods in spec["paths"].items()
                  for op in methods.values() if isinstance(op, dict) and "operationId" in op]
    by_id = {operation_id: op for operation_id, _path, op in operations}
    for producer, (status, made) in PRODUCERS.items():
        response = by_id.get(producer, {}).get("responses", {}).get(status)
        if response is None:
            continue
        links = {}
        for consumer, path, _op in operations:
            needed = set(re.findall(r"{([^}:]+)", path))
            if needed and needed <= made.keys() and consumer != producer:
                links[consumer] = {"operationId": consumer,
                                   "parameters": {name: made[name] for name in sorted(needed)}}
        if links:
            response["links"] = links

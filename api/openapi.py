"""The OpenAPI document as client generators read it: shared components defined once and referenced.

FastAPI writes what it can see from the routes; this adds what it cannot: the Problem schema, the item
states of this deployment's workflows, the enums named once for requests and responses alike, the
bearer scheme, and the headers and parameters every operation shares.
"""
from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from api import examples
from api.openapi_links import add_links
from api.problem_shapes import problem_schemas
from api.respond import ETAG_PATTERN, IDEMPOTENCY_KEY_PATTERN
from engine.definitions.workflow import ROLES
from engine.inputs import LIGHTS, SEVERITIES, SOURCES
from engine.queries import MULTI_VALUED
from engine.runtime import Runtime

# Enums written once under these names; every inline enum with the same values becomes a $ref to them.
NAMED_ENUMS: dict[str, tuple[str, ...]] = {"Source": SOURCES, "Severity": SEVERITIES, "Light": LIGHTS,
                                           "Role": ROLES}

HEADERS = {
    "ETag": {"description": 'The item\'s version as a strong ETag ("3"); send it back in If-Match.',
             "required": True, "schema": {"type": "string", "pattern": '^"[0-9]+"$'}},
    "Location": {"description": "The new item's URL.", "required": True, "schema": {"type": "string"}},
    "Retry-After": {"description": "Seconds to wait before retrying.", "required": True,
                    "schema": {"type": "integer", "minimum": 0}},
}
PARAMETERS = {
    "IdempotencyKey": {
        "name": "Idempotency-Key", "in": "header", "required": False,
        "schema": {"type": "string", "pattern": IDEMPOTENCY_KEY_PATTERN},
        "description": "A retry with the same key and body returns the first response (status and body) and "
                       "changes nothing; the same key with another body is a 422; while the first is running, 409.",
    },
    "IfMatch": {
        "name": "If-Match", "in": "header", "required": False,
        "schema": {"type": "string", "pattern": f"^(\\*|{ETAG_PATTERN})$"},
        "description": 'The item\'s ETag (its version, e.g. "3"); a stale one answers 412.',
    },
}
IDEMPOTENCY_KEY = {"$ref": "#/components/parameters/IdempotencyKey"}
IF_MATCH = {"$ref": "#/components/parameters/IfMatch"}
ETAG = {"ETag": {"$ref": "#/components/headers/ETag"}}
LOCATION = {"Location": {"$ref": "#/components/headers/Location"}}
PUBLIC = {"security": []}


def headers_doc(*parameters: dict) -> dict:
    """``openapi_extra`` documenting headers that a route reads itself rather than as parameters."""
    return {"parameters": list(parameters)}


def success_headers(status: int, *headers: dict) -> dict:
    """``openapi_extra`` adding response headers to the success response ``status``."""
    merged: dict = {}
    for header in headers:
        merged.update(header)
    return {"responses": {str(status): {"headers": merged}}}


def _name_enums(node: Any, refs: dict[frozenset, str]) -> Any:
    """``node`` with each inline string enum that matches a named one replaced by a $ref to it."""
    if isinstance(node, list):
        return [_name_enums(v, refs) for v in node]
    if not isinstance(node, dict):
        return node
    if "x-enum-name" in node:
        return {"$ref": f"#/components/schemas/{node['x-enum-name']}"}
    if isinstance(node.get("enum"), list) and frozenset(node["enum"]) in refs:
        kept = {k: v for k, v in node.items() if k in ("default", "description")}
        return {"$ref": f"#/components/schemas/{refs[frozenset(node['enum'])]}", **kept}
    return {k: _name_enums(v, refs) for k, v in node.items()}


def _add_request_examples(spec: dict) -> None:
    for ops in spec["paths"].values():
        for op in ops.values():
            example = examples.REQUESTS.get(op.get("operationId", ""))
            for content in op.get("requestBody", {}).get("content", {}).values():  # JSON, or a multipart form
                if example is not None:
                    content["example"] = example


def build(app: FastAPI, rt: Runtime) -> dict:
    """The whole document for ``app``."""
    spec = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    components = spec.setdefault("components", {})
    refs = {frozenset(values): name for name, values in NAMED_ENUMS.items()}
    spec["paths"] = _name_enums(spec["paths"], refs)
    schemas = {**components.get("schemas", {}), **problem_schemas()}
    components["schemas"] = schemas = {name: _name_enums(s, refs) for name, s in schemas.items()}
    schemas.update({name: {"type": "string", "enum": list(values), "title": name}
                    for name, values in NAMED_ENUMS.items()})
    schemas["State"] = {"type": "string", "enum": rt.registry.known_states(), "title": "State",
                        "description": "A state of one of this deployment's workflows (see /api/v1/workflows)."}
    _name_list_filters(spec, rt)
    _list_evidence_types(spec, rt)
    components["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer",
                                                "description": "A token from `closeloop user add` or POST /users."}}
    components["headers"] = HEADERS
    components["parameters"] = PARAMETERS
    spec["security"] = [{"bearer": []}]
    _add_request_examples(spec)
    add_links(spec)
    return spec


def _name_list_filters(spec: dict, rt: Runtime) -> None:
    """The item list's enumerated filters list their values (others answer 422); several values mean any of them."""
    items_of = {"state": {"$ref": "#/components/schemas/State"},
                "workflow": {"type": "string", "enum": rt.registry.known_names()},
                "source": {"$ref": "#/components/schemas/Source"},
                "severity": {"$ref": "#/components/schemas/Severity"},
                "light": {"$ref": "#/components/schemas/Light"}}
    for parameter in spec["paths"].get("/api/v1/items", {}).get("get", {}).get("parameters", []):
        name = parameter.get("name")
        if name in items_of:
            parameter["schema"] = {"type": "array", "items": items_of[name]}
        if name in MULTI_VALUED:
            parameter["description"] = ("Any of these values: give the parameter several times, or the values "
                                        "as one comma-separated list.")


def _list_evidence_types(spec: dict, rt: Runtime) -> None:
    """An evidence download is served as the media type its content was found to be: list each accepted one."""
    download = spec["paths"].get("/api/v1/items/{item_id}/evidence/{sha256}", {}).get("get")
    if download is None:
        return
    content = download["responses"]["200"]["content"]
    binary = content["application/octet-stream"]
    content.update({media_type: binary for media_type in rt.settings.evidence_types})


def install(app: FastAPI, rt: Runtime) -> None:
    """Serve ``build``'s document at /openapi.json, made once on first request."""

    def openapi() -> dict:
        if app.openapi_schema is None:
            app.openapi_schema = build(app, rt)
        return app.openapi_schema

    app.openapi = openapi

"""The problem+json body (RFC 9457) as a schema, and the ``responses`` entries that list it by status."""
from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from api import examples

# Item states come from the deployment's workflow files, so their enum is made with the document
# (api/openapi.py), which turns this mark into a $ref to it.
StateName = Annotated[str, WithJsonSchema({"type": "string", "x-enum-name": "State"})]
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
RETRY_AFTER = {"Retry-After": {"$ref": "#/components/headers/Retry-After"}}


class ProblemError(BaseModel):
    """One entry of a problem's ``errors``: a request field (loc, msg, type) or a ledger cell (row, column)."""

    model_config = ConfigDict(extra="allow")
    loc: list[str] | None = None
    msg: str | None = None
    type: str | None = None
    row: int | None = None
    column: str | None = None
    detail: str | None = None


class Problem(BaseModel):
    """An RFC 9457 problem. The optional fields appear with the problems that carry them (see each status)."""

    type: str = Field(description="A URI naming the kind of problem, e.g. .../problems/invalid-transition")
    title: str
    status: int
    detail: str = Field(description="What went wrong and where, safe to show to a person")
    state: StateName | None = Field(default=None, description="409 invalid-transition: the item's state")
    allowed_triggers: list[str] | None = Field(
        default=None, description="409 invalid-transition: the triggers the caller may fire from that state")
    triggers: list[str] | None = Field(default=None, description="422 unknown-trigger: the workflow's triggers")
    current_version: int | None = Field(default=None, description="412: the item's current version (its ETag)")
    reason: str | None = Field(
        default=None, description="403: why (role, unit_scope, separation_of_duties or an access guard's name)")
    guard: str | None = Field(default=None, description="422 guard-failed: the requirement or guard that refused")
    field: str | None = Field(default=None, description="422 invalid-input: the request field at fault")
    errors: list[ProblemError] | None = Field(default=None, description="422 validation-error: every invalid field; "
                                                                        "a ledger import: the rows at fault")
    error_count: int | None = Field(default=None, description="422 ledger import: how many row errors there were "
                                                              "(errors lists the first 100)")
    detected_type: str | None = Field(
        default=None, description="415 evidence-type-refused: the media type the file's content was found to be")


def _absent_not_null(schema: dict) -> dict:
    """Optional properties of ``schema`` as they are sent: left out when unset, never null."""
    for prop in schema.get("properties", {}).values():
        if "default" in prop and prop["default"] is None:
            del prop["default"]
            prop.update(next(s for s in prop.pop("anyOf") if s != {"type": "null"}))
    return schema


def problem_schemas() -> dict[str, dict]:
    """Problem and ProblemError as component schemas."""
    schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    defs = schema.pop("$defs", {})
    return {"Problem": _absent_not_null(schema), **{name: _absent_not_null(sub) for name, sub in defs.items()}}


_DESCRIPTIONS = {400: "Malformed request (bad JSON, a bad header)", 401: "No token, or an unknown or revoked one",
                 403: "The caller is known but not allowed", 404: "Not found, or outside the caller's scope",
                 409: "Conflicts with the current state", 412: "If-Match names a stale version",
                 413: "Request body too large", 415: "Unsupported media type", 422: "Invalid request",
                 423: "Stored data disagrees with what vouches for it (edited outside closeloop)",
                 429: "Too many requests: retry after Retry-After seconds",
                 431: "Request headers too large",
                 503: "The database is busy or cannot serve now (down, full, read-only): nothing was changed; "
                      "retry after Retry-After seconds"}


def problem_response(status: int, kind: str | None = None, *, description: str | None = None,
                     retry_after: bool = True) -> dict:
    """One ``responses`` entry: a problem of ``status`` with an example (of the named kind, or the usual one);
    429 and 503 carry Retry-After unless ``retry_after`` is false."""
    example = examples.problem(status, kind)
    entry: dict[str, Any] = {"description": description or _DESCRIPTIONS.get(status, "Error"),
                             "content": {"application/problem+json": {"schema": PROBLEM_REF, "example": example}}}
    if status in (429, 503) and retry_after:
        entry["headers"] = RETRY_AFTER
    return entry


def errors(*statuses: int, **kinds: str) -> dict:
    """OpenAPI ``responses`` for the listed problem statuses (``_409="invalid-transition"`` picks an example),
    429 (every route that reads a token may slow down an address that keeps sending bad ones), and any
    other client error (4XX).

    Not ``model=Problem``: FastAPI would list the schema under application/json, which errors are never
    served as. The 4XX entry also keeps FastAPI from adding its own ``{"detail": [...]}`` 422, which this
    app never answers (its validation errors are problems too).
    """
    entries = {s: problem_response(s, kinds.get(f"_{s}")) for s in sorted({*statuses, 429})}
    return {**entries, "4XX": {"description": "Any other client error (431: request headers too large)",
                               "content": {"application/problem+json": {"schema": PROBLEM_REF}}}}


def write_errors(*statuses: int, **kinds: str) -> dict:
    """``errors`` for a route that writes: it may also answer 503 with Retry-After when the database is busy."""
    return {**errors(*statuses, **kinds), 503: problem_response(503)}

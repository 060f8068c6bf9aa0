"""Items: register, list, read, fire transitions, read history."""
from __future__ import annotations

from typing import Annotated, Callable

from fastapi import APIRouter, Query
from starlette.responses import Response

from api import dbcalls, respond
from api.deps import Caller, CallerDep
from api.models import HistoryList, ItemOut, ItemPage, TransitionOut
from api.openapi import ETAG, IDEMPOTENCY_KEY, IF_MATCH, LOCATION, headers_doc, success_headers
from api.problem_shapes import errors, write_errors
from engine import history, items, queries, service
from engine.errors import InvalidInput
from engine.inputs import LIGHTS, SEVERITIES, SOURCES, IsoDate, NewItem, TransitionRequest
from engine.views import item_view

router = APIRouter(prefix="/api/v1/items", tags=["items"])


def _etag(version: int) -> dict:
    return {"ETag": f'"{version}"'}


def _view(rt, item: dict, actor) -> dict:
    return item_view(item, rt.registry.by_hash(item["workflow_hash"]), actor, rt.today(), rt.settings.yellow_days)


def _public(record: dict) -> dict:
    return {k: v for k, v in record.items() if k != "item"}


@router.post("", status_code=201, response_model=ItemOut, summary="Register a problem item", operation_id="create_item",
             responses=write_errors(400, 401, 403, 409, 413, 415, 422),
             openapi_extra={**headers_doc(IDEMPOTENCY_KEY), **success_headers(201, LOCATION, ETAG)})
async def create(body: NewItem, caller: CallerDep) -> Response:
    """Register an item in its workflow's initial state. Roles: registrar, supervisor, admin."""
    rt, actor = caller.rt, caller.actor

    def work(conn):
        row, _record = items.create_item(conn, rt, actor, body)
        view = _view(rt, row, actor)
        return respond.stored_json(view, 201, {"Location": f"/api/v1/items/{row['id']}", **_etag(row["version"])})

    return await dbcalls.in_writer(rt, lambda: respond.write(
        rt, actor, key=caller.header("idempotency-key"), method="POST", path="/api/v1/items",
        body=body.model_dump(mode="json"),
        work=work))


Values = Annotated[list[str] | None, Query()]
# Enumerated filters: their values are checked (422 naming the known ones) and listed in the OpenAPI document.
ENUMS = {"source": SOURCES, "severity": SEVERITIES, "light": LIGHTS}


@router.get("", response_model=ItemPage, summary="List items in the caller's scope", operation_id="list_items",
            responses=errors(400, 401, 422, _422="invalid-input"))
async def list_items(
    caller: CallerDep,
    state: Values = None, unit: Values = None, source: Values = None, severity: Values = None, light: Values = None,
    overdue: bool | None = None, assignee: Values = None, campaign: Values = None,
    due_before: Annotated[IsoDate | None, Query()] = None, due_after: Annotated[IsoDate | None, Query()] = None,
    q: Annotated[str | None, Query(max_length=200)] = None, workflow: Values = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50, cursor: Annotated[str | None, Query(max_length=512)] = None,
    count: bool = False,
) -> Response:
    """Items of the caller's unit and sub-units (all units for auditors and admins), newest first.

    A filter given several times, or as a comma list, means any of its values; ``count=true`` adds ``total``,
    the number of items matching the filters on every page together."""
    rt, actor, request = caller.rt, caller.actor, caller.request
    for name, value in request.query_params.multi_items():
        if "\x00" in value:  # PostgreSQL cannot compare text holding NUL; refuse it on every store alike
            raise InvalidInput(f"query parameter {name!r} must not contain NUL characters", field=name)
    given = {"state": state, "unit": unit, "source": source, "severity": severity, "light": light,
             "assignee": assignee, "campaign": campaign, "workflow": workflow}
    filters = queries.ItemFilters(overdue=overdue, due_before=due_before, due_after=due_after, q=q,
                                  **{name: queries.split_values(name, values) for name, values in given.items()})
    queries.check_known_values(filters, rt.registry, ENUMS)
    today = rt.today()

    def page() -> Response:
        with rt.store.read() as conn:
            rows, next_cursor = queries.list_items(conn, actor, filters, limit=limit, cursor=cursor, today=today,
                                                   yellow_days=rt.settings.yellow_days)
            total = (queries.count_items(conn, actor, filters, today=today, yellow_days=rt.settings.yellow_days)
                     if count else None)
        body = {"data": [_view(rt, r, actor) for r in rows], "next_cursor": next_cursor}
        if count:
            body["total"] = total
        return respond.json_response(body)

    return await dbcalls.in_reader(rt, page)


@router.get("/{item_id}", response_model=ItemOut, summary="Read one item (by id or number)", operation_id="get_item",
            responses=errors(401, 404), openapi_extra=success_headers(200, ETAG))
async def get_item(item_id: str, caller: CallerDep) -> Response:
    """The item, if it lies within the caller's read scope (404 otherwise, as for a missing one)."""
    rt, actor = caller.rt, caller.actor

    def read() -> Response:
        with rt.store.read() as conn:
            item = queries.get_visible(conn, actor, item_id)
        return respond.json_response(_view(rt, item, actor), headers=_etag(item["version"]))

    return await dbcalls.lookup(rt, read)  # one row by key: inline on SQLite, as the token lookup is


@router.post("/{item_id}/transitions", response_model=TransitionOut, summary="Fire a transition",
             operation_id="fire_transition",
             responses=write_errors(400, 401, 403, 404, 409, 412, 413, 415, 422, _409="invalid-transition",
                                    _422="guard-failed"),
             openapi_extra={**headers_doc(IF_MATCH, IDEMPOTENCY_KEY), **success_headers(200, ETAG)})
async def transition(item_id: str, body: TransitionRequest, caller: CallerDep) -> Response:
    """Fire ``trigger``: 409 if not allowed from the state, 412 on a stale If-Match, 403 for role, scope or
    separation of duties, 422 when a requirement or guard refuses. A refusal changes nothing."""
    return await fire_transition(caller, item_id, body)


async def fire_transition(caller: Caller, item_id: str, body: TransitionRequest) -> Response:
    """The transition route's work, shared with api.lane, which serves the same request without FastAPI."""
    return await dbcalls.in_writer(caller.rt, transition_work(caller, item_id, body))


def transition_work(caller: Caller, item_id: str, body: TransitionRequest) -> Callable[[], Response]:
    """The blocking part of a transition (If-Match read, write transaction, idempotent replay), for in_writer."""
    rt, actor = caller.rt, caller.actor

    def run() -> Response:
        expected = respond.parse_if_match(caller.header("if-match"))

        def work(conn):
            result = service.fire(conn, rt, item_ref=item_id, actor=actor, request=body, expected_version=expected)
            view = item_view(result.item, result.workflow, actor, rt.today(), rt.settings.yellow_days)
            view["transition"] = _public(result.record)
            return respond.stored_json(view, 200, _etag(result.item["version"]))

        return respond.write(rt, actor, key=caller.header("idempotency-key"), method="POST",
                             path=f"/api/v1/items/{item_id}/transitions",
                             body={"request": body.model_dump(mode="json"), "if_match": expected}, work=work)

    return run


@router.get("/{item_id}/history", response_model=HistoryList, summary="An item's hash-chained history",
            operation_id="get_item_history", responses=errors(401, 404))
async def item_history(item_id: str, caller: CallerDep) -> Response:
    """Every record, oldest first; record 1 is the creation (trigger 'create', from_state null)."""
    rt, actor = caller.rt, caller.actor

    def read() -> Response:
        with rt.store.read() as conn:
            item = queries.get_visible(conn, actor, item_id)
            records = history.item_history(conn, item["id"])
        return respond.json_response({"data": [_public(r) for r in records]})

    return await dbcalls.in_reader(rt, read)

"""Look-back (回头看): auditors draw a reproducible sample of closed items and record each re-check."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from fastapi import Path as PathParam
from starlette.responses import Response

from api import dbcalls, respond
from api.deps import CallerDep, require_role
from api.models_campaigns import LookbackItemOut, LookbackOut
from api.openapi import IDEMPOTENCY_KEY, headers_doc
from api.problem_shapes import errors, write_errors
from engine.lookback.draw import draw_lookback, lookback_view
from engine.lookback.recheck import record_recheck
from engine.lookback.schemas import NewLookback, Recheck

router = APIRouter(prefix="/api/v1/lookbacks", tags=["lookbacks"])
LookbackId = Annotated[int, PathParam(ge=1, le=2**31 - 1)]


@router.post("", status_code=201, response_model=LookbackOut, summary="Draw a look-back sample (auditor)",
             operation_id="create_lookback", responses=write_errors(400, 401, 403, 413, 415, 422),
             openapi_extra=headers_doc(IDEMPOTENCY_KEY))
async def create_lookback(body: NewLookback, caller: CallerDep) -> Response:
    """Draw ``size`` closed items, or ``percent`` of them, optionally of one unit's subtree or one campaign. The
    seed (given or generated), the population's digest and the sample go into the admin log; the same seed over
    the same closed items draws the same sample."""
    rt, actor = caller.rt, caller.actor

    def work(conn):
        lookback_id = draw_lookback(conn, clock=rt.clock, registry=rt.registry, actor=actor, data=body)
        return respond.stored_json(lookback_view(conn, lookback_id), 201,
                                   {"Location": f"/api/v1/lookbacks/{lookback_id}"})

    return await dbcalls.in_writer(rt, lambda: respond.write(
        rt, actor, key=caller.header("idempotency-key"), method="POST", path="/api/v1/lookbacks",
        body=body.model_dump(mode="json"), work=work))


@router.get("/{lookback_id}", response_model=LookbackOut, summary="A look-back, its sample and re-checks (auditor, "
            "admin)", operation_id="get_lookback", responses=errors(401, 403, 404, 422))
async def get_lookback(lookback_id: LookbackId, caller: CallerDep) -> Response:
    """How it was drawn, the sampled items in draw order with their state now, and each re-check so far."""
    require_role(caller.actor, "auditor", "admin")
    rt = caller.rt

    def read() -> Response:
        with rt.store.read() as conn:
            return respond.json_response(lookback_view(conn, lookback_id))

    return await dbcalls.in_reader(rt, read)


@router.post("/{lookback_id}/items/{item_id}", response_model=LookbackItemOut, operation_id="recheck_lookback_item",
             summary="Record the re-check of a sampled item; failed reopens it (auditor)",
             responses=write_errors(400, 401, 403, 404, 409, 413, 415, 422),
             openapi_extra=headers_doc(IDEMPOTENCY_KEY))
async def recheck(lookback_id: LookbackId, item_id: str, body: Recheck, caller: CallerDep) -> Response:
    """``passed`` or ``failed`` with a note, recorded in the item's hash-chained history (trigger ``lookback``);
    ``failed`` then fires the workflow's ``reopen`` with the note as its comment. 409 if already re-checked or
    no longer closed."""
    rt, actor = caller.rt, caller.actor

    def work(conn):
        done = record_recheck(conn, rt, actor=actor, lookback_id=lookback_id, item_ref=item_id, check=body)
        lines = lookback_view(conn, lookback_id)["items"]
        return respond.stored_json(next(line for line in lines if line["id"] == done["item_id"]))

    return await dbcalls.in_writer(rt, lambda: respond.write(
        rt, actor, key=caller.header("idempotency-key"), method="POST",
        path=f"/api/v1/lookbacks/{lookback_id}/items/{item_id}", body=body.model_dump(mode="json"), work=work))

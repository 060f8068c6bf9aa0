"""Campaigns (专项整治 rounds): register, correct, list, and reconcile item by item (对账销号)."""
from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from api import dbcalls, respond
from api.deps import CallerDep
from api.models_campaigns import CampaignList, CampaignOut, CampaignReconciliation
from api.openapi import IDEMPOTENCY_KEY, headers_doc
from api.problem_shapes import errors, write_errors
from engine.campaigns import registry
from engine.campaigns.reconcile import reconcile
from engine.campaigns.schemas import CampaignChange, NewCampaign

router = APIRouter(prefix="/api/v1/campaigns", tags=["campaigns"])


@router.get("", response_model=CampaignList, summary="List campaigns with their item counts",
            operation_id="list_campaigns", responses=errors(401))
async def list_campaigns(caller: CallerDep) -> Response:
    """Registered campaigns and the codes items name without a registered campaign, with item counts in scope."""
    rt = caller.rt

    def read() -> Response:
        with rt.store.read() as conn:
            return respond.json_response({"data": registry.list_campaigns(conn, caller.actor)})

    return await dbcalls.in_reader(rt, read)


@router.post("", status_code=201, response_model=CampaignOut, summary="Register a campaign (supervisor, admin)",
             operation_id="create_campaign", responses=write_errors(400, 401, 403, 409, 413, 415, 422),
             openapi_extra=headers_doc(IDEMPOTENCY_KEY))
async def create_campaign(body: NewCampaign, caller: CallerDep) -> Response:
    """Register a campaign by the code its items name; recorded in the admin log. 409 if the code is taken."""
    rt, actor = caller.rt, caller.actor

    def work(conn):
        return respond.stored_json(registry.create(conn, clock=rt.clock, actor=actor, data=body,
                                                   today=rt.today()), 201)

    return await dbcalls.in_writer(rt, lambda: respond.write(
        rt, actor, key=caller.header("idempotency-key"), method="POST", path="/api/v1/campaigns",
        body=body.model_dump(mode="json"), work=work))


@router.patch("/{code:path}", response_model=CampaignOut, operation_id="update_campaign",
              summary="Correct a campaign's name, issuing body or date (supervisor, admin)",
              responses=write_errors(401, 403, 404, 422))
async def update_campaign(code: str, body: CampaignChange, caller: CallerDep) -> Response:
    """Change what was given; the code stays (items name it). Recorded in the admin log with before and after."""
    rt, actor = caller.rt, caller.actor

    def work(conn):
        return respond.stored_json(registry.change(conn, clock=rt.clock, actor=actor, code=code, data=body,
                                                   today=rt.today()))

    return await dbcalls.in_writer(rt, lambda: respond.write(
        rt, actor, key=None, method="PATCH", path=f"/api/v1/campaigns/{code}",
        body=body.model_dump(mode="json", exclude_unset=True), work=work))


@router.get("/{code:path}", response_model=CampaignReconciliation, operation_id="reconcile_campaign",
            summary="Reconcile a campaign item by item (对账销号)", responses=errors(401, 404))
async def get_campaign(code: str, caller: CallerDep) -> Response:
    """Its items in the caller's scope by number (state, light, overdue, closed on time), and whether the campaign
    can be reported closed: registered, with items, every one closed or cancelled; else the reasons."""
    rt = caller.rt

    def read() -> Response:
        with rt.store.read() as conn:
            return respond.json_response(reconcile(conn, caller.actor, rt.registry, code, today=rt.today(),
                                                   yellow_days=rt.settings.yellow_days, tz=rt.settings.tz))

    return await dbcalls.in_reader(rt, read)

"""Webhooks (admin): endpoints that hear events, their deliveries with every attempt, replay and test."""
from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Header, Path, Query
from starlette.responses import Response

from api import dbcalls, respond
from api.deps import AdminActor, RuntimeDep
from api.models_webhooks import DeliveryOut, DeliveryPage, NewWebhook, WebhookCreated, WebhookList, WebhookOut
from api.openapi import IDEMPOTENCY_KEY, headers_doc
from api.problem_shapes import errors, write_errors
from engine.delivery import endpoints, status, worker
from engine.idempotency import StoredResponse

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"])
# Ids are PostgreSQL integers: a larger number is simply not found rather than an overflow.
Id = Annotated[int, Path(ge=1, le=2**31 - 1)]


def _without_secret(stored: StoredResponse) -> StoredResponse:
    body = orjson.loads(stored.body)
    if body.get("secret"):
        body["secret"] = None
        body["secret_note"] = "shown only in the first response; delete the webhook and add it again if it was lost"
    return StoredResponse(stored.status, stored.headers, orjson.dumps(body))


@router.post("", status_code=201, response_model=WebhookCreated, operation_id="create_webhook",
             summary="Add a webhook endpoint or group robot (admin)",
             responses=write_errors(400, 401, 403, 409, 413, 415, 422), openapi_extra=headers_doc(IDEMPOTENCY_KEY))
async def create_webhook(body: NewWebhook, actor: AdminActor, rt: RuntimeDep,
                         idempotency_key: Annotated[str | None, Header(include_in_schema=False)] = None) -> Response:
    """Add an endpoint; a generic one answers its ``whsec_`` signing secret in this response only."""

    def work(conn):
        new = endpoints.NewEndpoint(url=body.url, kind=body.kind, events=list(body.events), unit=body.unit,
                                    secret=body.secret)
        view, secret = endpoints.add_endpoint(conn, clock=rt.clock, settings=rt.settings, new=new,
                                              created_by=actor.username)
        return respond.stored_json({**view, "secret": secret}, 201)

    return await dbcalls.in_writer(rt, lambda: respond.write(
        rt, actor, key=idempotency_key, method="POST", path="/api/v1/webhooks", body=body.model_dump(mode="json"),
        work=work, redact=_without_secret))


@router.get("", response_model=WebhookList, operation_id="list_webhooks", summary="List webhook endpoints (admin)",
            responses=errors(401, 403))
async def list_webhooks(actor: AdminActor, rt: RuntimeDep) -> Response:
    """Every endpoint not deleted, with robot tokens in URLs hidden and no secrets."""
    return await respond.read_json(rt, lambda conn: {"data": endpoints.list_endpoints(conn)})


@router.delete("/{webhook_id}", response_model=WebhookOut, operation_id="delete_webhook",
               summary="Delete a webhook endpoint (admin)", responses=write_errors(401, 403, 404))
async def delete_webhook(webhook_id: Id, actor: AdminActor, rt: RuntimeDep) -> Response:
    """The endpoint stops hearing events and its pending deliveries are marked failed; answers it as it was last.

    Its deliveries and their log are kept for the record, but no longer listed.
    """

    def work() -> Response:
        with rt.store.write() as conn:
            return respond.json_response(endpoints.delete_endpoint(conn, clock=rt.clock, actor=actor.username,
                                                                   endpoint_id=webhook_id))

    return await dbcalls.in_writer(rt, work)


@router.get("/{webhook_id}/deliveries", response_model=DeliveryPage, operation_id="list_webhook_deliveries",
            summary="An endpoint's deliveries with every attempt (admin)", responses=errors(401, 403, 404, 422))
async def list_webhook_deliveries(webhook_id: Id, actor: AdminActor, rt: RuntimeDep,
                                  limit: Annotated[int, Query(ge=1, le=500)] = 50,
                                  cursor: Annotated[str | None, Query(max_length=512)] = None) -> Response:
    """Newest first; each with its status, next attempt time and the delivery log."""

    def page(conn) -> dict:
        endpoints.get_endpoint(conn, webhook_id)
        rows, next_cursor = status.list_deliveries(conn, webhook_id, limit=limit, cursor=cursor)
        return {"data": rows, "next_cursor": next_cursor}

    return await respond.read_json(rt, page)


@router.post("/{webhook_id}/deliveries/{delivery_id}/replay", status_code=202, response_model=DeliveryOut,
             operation_id="replay_webhook_delivery", summary="Send a delivery again, same webhook-id (admin)",
             responses=write_errors(401, 403, 404, 409), openapi_extra=headers_doc(IDEMPOTENCY_KEY))
async def replay_webhook_delivery(webhook_id: Id, delivery_id: Id, actor: AdminActor, rt: RuntimeDep,
                                  idempotency_key: Annotated[str | None, Header(include_in_schema=False)] = None) -> Response:
    """Queue the delivery again, due now with a fresh retry window; the next delivery pass sends it."""

    def work(conn):
        endpoints.replay(conn, clock=rt.clock, settings=rt.settings, endpoint_id=webhook_id, delivery_id=delivery_id)
        return respond.stored_json(status.delivery(conn, delivery_id), 202)

    return await dbcalls.in_writer(rt, lambda: respond.write(
        rt, actor, key=idempotency_key, method="POST",
        path=f"/api/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/replay", body={}, work=work))


@router.post("/{webhook_id}/test", response_model=DeliveryOut, operation_id="test_webhook",
             summary="Send a test message now (admin)", responses=write_errors(401, 403, 404, 409),
             openapi_extra=headers_doc(IDEMPOTENCY_KEY))
async def test_webhook(webhook_id: Id, actor: AdminActor, rt: RuntimeDep,
                       idempotency_key: Annotated[str | None, Header(include_in_schema=False)] = None) -> Response:
    """Send a ``webhook.test`` message once, right away, and answer the delivery with its attempt.

    A test is not retried. A robot past its rate limit gets it when its window frees.
    """

    def work(conn):
        return respond.stored_json({"id": endpoints.queue_test(conn, clock=rt.clock, endpoint_id=webhook_id)})

    queued = await dbcalls.in_writer(rt, lambda: respond.write(
        rt, actor, key=idempotency_key, method="POST", path=f"/api/v1/webhooks/{webhook_id}/test", body={},
        work=work))
    if queued.status_code != 200:
        return queued
    delivery_id = orjson.loads(queued.body)["id"]
    # Sent after the queuing transaction committed, with none open: a retried request finds it already sent.
    await dbcalls.off_loop(lambda: worker.send_now(rt, delivery_id))
    return await respond.read_json(rt, lambda conn: status.delivery(conn, delivery_id))

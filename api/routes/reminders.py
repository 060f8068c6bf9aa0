"""Reminders and escalations as people read them: their own inbox, and an item's notices."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from starlette.responses import Response

from api import dbcalls, respond
from api.deps import CallerDep
from api.models_reminders import Inbox, ItemNotices, ReadReceipt
from api.openapi import IDEMPOTENCY_KEY, headers_doc
from api.problem_shapes import errors, write_errors
from engine import queries
from engine.delivery.status import with_delivery
from engine.reminders import inbox

router = APIRouter(prefix="/api/v1", tags=["reminders"])


@router.get("/me/reminders", response_model=Inbox, summary="The caller's reminders and escalations, unread first",
            operation_id="list_my_reminders", responses=errors(400, 401, 422))
async def my_reminders(caller: CallerDep, unread: bool = False,
                       limit: Annotated[int, Query(ge=1, le=500)] = 50,
                       cursor: Annotated[str | None, Query(max_length=512)] = None) -> Response:
    """Notices sent to the caller, unread first and newest first; ``unread=true`` lists only unread ones."""
    rt, actor = caller.rt, caller.actor

    def read() -> Response:
        with rt.store.read() as conn:
            page, next_cursor = inbox.inbox(conn, actor.username, tz=rt.settings.tz, limit=limit, cursor=cursor,
                                            unread_only=unread)
            count = inbox.unread_count(conn, actor.username)
        return respond.json_response({"data": page, "next_cursor": next_cursor, "unread": count})

    return await dbcalls.in_reader(rt, read)


@router.post("/me/reminders/{entry_id}/read", response_model=ReadReceipt, summary="Mark one of the caller's "
             "reminders read", operation_id="mark_reminder_read", responses=write_errors(401, 404),
             openapi_extra=headers_doc(IDEMPOTENCY_KEY))
async def mark_read(entry_id: Annotated[int, Path(ge=1, le=2**63 - 1)], caller: CallerDep) -> Response:
    """Marking read again changes nothing; another person's entry answers 404."""
    rt, actor = caller.rt, caller.actor

    def work(conn):
        return respond.stored_json(inbox.mark_read(conn, actor.username, entry_id, clock=rt.clock))

    return await dbcalls.in_writer(rt, lambda: respond.write(
        rt, actor, key=caller.header("idempotency-key"), method="POST", path=f"/api/v1/me/reminders/{entry_id}/read",
        body={}, work=work))


@router.get("/items/{item_id}/reminders", response_model=ItemNotices, summary="An item's reminders and escalations",
            operation_id="list_item_reminders", responses=errors(401, 404))
async def item_reminders(item_id: str, caller: CallerDep) -> Response:
    """Every notice issued for the item (within the caller's read scope), with its recipients and how its
    delivery over webhooks, group robots and e-mail stands."""
    rt, actor = caller.rt, caller.actor

    def read() -> Response:
        with rt.store.read() as conn:
            item = queries.get_visible(conn, actor, item_id)
            notices = with_delivery(conn, inbox.item_notices(conn, item["id"], tz=rt.settings.tz))
        return respond.json_response({"data": notices})

    return await dbcalls.in_reader(rt, read)

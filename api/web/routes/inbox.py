"""The reminder inbox: the visitor's reminders and escalations, unread first; marking one or all read.

The same engine calls as GET /api/v1/me/reminders and POST /api/v1/me/reminders/{id}/read
(engine.reminders.inbox), so the page and the API can never disagree about what is unread.
"""
from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from api import dbcalls
from api.web import guard, render
from engine.errors import DomainError, NotFound
from engine.reminders import inbox
from engine.text import plain_int

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50


@router.get("/inbox")
async def inbox_page(request: Request) -> Response:
    """One page of the visitor's notices, unread first and newest first, each linking to its item."""
    who = await guard.signed_in(request)
    if isinstance(who, Response):
        return who
    rt = request.app.state.runtime
    cursor = request.query_params.get("cursor") or None
    unread_only = request.query_params.get("unread") == "true"

    def read():
        with rt.store.read() as conn:
            page, next_cursor = inbox.inbox(conn, who.actor.username, tz=rt.settings.tz, limit=PAGE_SIZE,
                                            cursor=cursor, unread_only=unread_only)
            return page, next_cursor, inbox.unread_count(conn, who.actor.username)

    try:
        entries, next_cursor, unread = await dbcalls.in_reader(rt, read)
    except DomainError as exc:  # a cursor edited by hand, or one from the other view
        return render.page(request, "inbox.html", who, status=422, entries=[], unread=who.unread, error=exc.detail,
                           unread_only=unread_only, next_url=None, first_url="/inbox")
    kept = {"unread": "true"} if unread_only else {}
    return render.page(
        request, "inbox.html", who, entries=entries, unread=unread, error=None, unread_only=unread_only,
        next_url=f"/inbox?{urlencode({**kept, 'cursor': next_cursor})}" if next_cursor else None,
        first_url=f"/inbox?{urlencode(kept)}" if cursor else None)


@router.post("/inbox/{entry_id}/read")
async def mark_read(request: Request, entry_id: str) -> Response:
    """Mark one of the visitor's notices read (again changes nothing; another person's is the 404 page)."""
    checked = await guard.posted(request, max_files=0, max_fields=5)
    if isinstance(checked, Response):
        return checked
    who, _form = checked
    number = plain_int(entry_id)
    if number is None or number == 0:
        return guard.not_found(request, who)
    rt = request.app.state.runtime

    def work():
        with rt.store.write() as conn:
            inbox.mark_read(conn, who.actor.username, number, clock=rt.clock)

    try:
        await dbcalls.in_writer(rt, work)
    except NotFound:
        return guard.not_found(request, who)
    return RedirectResponse(f"/inbox#entry-{entry_id}", status_code=303)


@router.post("/inbox/read-all")
async def mark_all_read(request: Request) -> Response:
    """Mark every unread notice of the visitor read."""
    checked = await guard.posted(request, max_files=0, max_fields=5)
    if isinstance(checked, Response):
        return checked
    who, _form = checked
    rt = request.app.state.runtime

    def work():
        with rt.store.write() as conn:
            inbox.mark_all_read(conn, who.actor.username, clock=rt.clock)

    await dbcalls.in_writer(rt, work)
    return RedirectResponse("/inbox", status_code=303)

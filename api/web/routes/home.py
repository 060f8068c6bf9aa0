"""The home page: who is signed in, and the ways into the item list; a supervisor sees the dashboard here."""
from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from api.web import guard, render
from api.web.routes.dashboard import dashboard_page
from api.web.routes.item_new import may_register

router = APIRouter(include_in_schema=False)


@router.get("/")
async def home(request: Request) -> Response:
    """Links to the item list (all, and the overdue ones) and, for those who may, to registering an item.

    A supervisor, whose work is watching the whole loop, gets the dashboard here first."""
    who = await guard.signed_in(request)
    if isinstance(who, Response):
        return who
    if "supervisor" in who.actor.roles:
        return await dashboard_page(request, who)
    return render.page(request, "home.html", who, may_register=may_register(who.actor))

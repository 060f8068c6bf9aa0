"""The web pages for people: server-rendered templates over the same engine calls as the API.

Pages never decide who may do what: they call engine.queries, engine.items.create_item and
engine.service.fire, which apply the roles, unit scope and separation of duties, and show their refusals.
"""
from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from api.throttle import AuthThrottle
from api.web.routes import (
    closure_form,
    dashboard,
    home,
    inbox,
    item_actions,
    item_batch,
    item_list,
    item_new,
    item_page,
    ledger,
    signin,
    workflow_pages,
)

STATIC = Path(__file__).parent / "static"


def install(app: FastAPI) -> None:
    """Add the pages, their static files (/static) and the sign-in throttle to the app."""
    rt = app.state.runtime
    app.state.signin_throttle = AuthThrottle(rt.clock, limit=rt.settings.signin_failure_limit,
                                             window_seconds=rt.settings.signin_failure_window_seconds)
    app.mount("/static", StaticFiles(directory=STATIC), name="web-static")
    # /items/new before /items/{ref}, which would otherwise take "new" for an item number.
    for module in (signin, home, item_new, item_list, item_page, item_actions, item_batch, inbox, ledger, dashboard,
                   workflow_pages, closure_form):
        app.include_router(module.router)

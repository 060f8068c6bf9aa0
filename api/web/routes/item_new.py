"""Registering an item from a form: the same engine call (items.create_item) and checks as POST /api/v1/items."""
from __future__ import annotations

from fastapi import APIRouter
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from api import dbcalls
from api.web import forms, guard, i18n, render
from engine import accounts, items
from engine.accounts import Actor
from engine.errors import DomainError
from engine.inputs import SEVERITIES, SOURCES, NewItem

router = APIRouter(include_in_schema=False)
FIELDS = ("title", "description", "source", "severity", "unit", "due_date", "workflow", "assignee", "campaign",
          "external_ref")


def may_register(actor: Actor) -> bool:
    """Whether the actor holds a role that registers items (the engine decides again on submit)."""
    return bool(actor.roles & items.CREATE_ROLES)


async def _form(request: Request, who, *, status: int = 200, error: str | None = None, values: dict | None = None):
    rt = request.app.state.runtime
    lang = i18n.language(request)

    def read():
        with rt.store.read() as conn:
            return accounts.list_units(conn)

    units = await dbcalls.in_reader(rt, read)
    return render.page(request, "item_new.html", who, status=status, error=error, values=values or {},
                       units=units, workflows=rt.registry.names(), default_workflow=rt.settings.default_workflow,
                       sources=i18n.choices("sources", SOURCES, lang),
                       severities=i18n.choices("severities", SEVERITIES, lang))


@router.get("/items/new")
async def new_item_page(request: Request) -> Response:
    """The registration form, for those whose roles register items (others are told so, not shown a form that
    would only be refused when sent)."""
    who = await guard.signed_in(request)
    if isinstance(who, Response):
        return who
    if not may_register(who.actor):
        return render.page(request, "error.html", who, status=403, message_key="may_not_register")
    return await _form(request, who)


@router.post("/items/new")
async def new_item(request: Request) -> Response:
    """Register the item and show its page; a refusal shows the form again with the reason."""
    checked = await guard.posted(request, max_files=0, max_fields=30)
    if isinstance(checked, Response):
        return checked
    who, form = checked
    values = forms.filled(form, FIELDS)
    rt = request.app.state.runtime
    try:
        data = NewItem.model_validate(values)
    except ValidationError as exc:
        return await _form(request, who, status=422, error=forms.explain(exc), values=values)

    def work():
        with rt.store.write() as conn:
            return items.create_item(conn, rt, who.actor, data)[0]

    try:
        row = await dbcalls.in_writer(rt, work)
    except DomainError as exc:
        return await _form(request, who, status=forms.status_of(exc), error=exc.detail, values=values)
    return RedirectResponse(f"/items/{row['number']}", status_code=303)

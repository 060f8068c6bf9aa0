"""Batch actions on the item list: assign several items, or close several verified ones.

Each chosen item is fired on its own through engine.service.fire, in a transaction of its own, at the version
the list showed: a batch is many separate actions, so one refused item neither stops nor undoes the others,
and the page says per item what was done and, in words, what was refused.
"""
from __future__ import annotations

from functools import partial

from fastapi import APIRouter
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from api import dbcalls
from api.web import forms, guard, i18n, render
from engine import queries, service
from engine.accounts import Actor
from engine.errors import DomainError, NotFound, VersionConflict
from engine.inputs import TransitionRequest
from engine.text import plain_int

router = APIRouter(include_in_schema=False)
ACTIONS = ("assign", "close")
MOST = 100  # items in one batch: one page of the list is 25
# What the batch form offers for an assignment: one due date and assignee for all. Measures (整改措施) are each
# item's own, given when it is accepted or on its page.
ASSIGN_FIELDS = ("due_date", "assignee")


def batch_roles(registry) -> set[str]:
    """The roles that may fire a batch action in some workflow (the engine decides again for each item)."""
    return {role for name in registry.names() for t in registry.current(name).definition.transitions
            if t.trigger in ACTIONS for role in t.roles}


def may_batch(registry, actor: Actor) -> bool:
    """Whether the list offers the visitor the batch form."""
    return bool(actor.roles & batch_roles(registry))


def chosen(form) -> list[tuple[str, int | None]]:
    """The ticked items as (number, the version the list showed); a version that is not a number is None."""
    out = []
    for value in form.getlist("item")[:MOST]:
        if isinstance(value, str) and value.strip():
            ref, _, version = value.strip().partition("@")
            out.append((ref, plain_int(version)))
    return out


def _request(form, trigger: str, unit: str | None) -> TransitionRequest:
    body: dict = {"trigger": trigger}
    if trigger == "assign":
        body["fields"] = {**forms.filled(form, ASSIGN_FIELDS), **({"unit": unit} if unit else {})}
    comment = form.get("comment")
    if isinstance(comment, str) and comment.strip():
        body["comment"] = comment.strip()
    return TransitionRequest.model_validate(body)


def fire_one(rt, actor: Actor, form, trigger: str, ref: str, version: int | None) -> str:
    """Fire the batch's action on one item in a transaction of its own; returns the item's number."""
    unit = form.get("unit") if isinstance(form.get("unit"), str) and form.get("unit").strip() else None
    with rt.store.write() as conn:
        if trigger == "assign" and unit is None:  # "each item's own unit": the one the item has now
            unit = queries.get_visible(conn, actor, ref)["unit_code"]
        result = service.fire(conn, rt, item_ref=ref, actor=actor, request=_request(form, trigger, unit),
                              expected_version=version)
    return result.item["number"]


@router.post("/items/batch")
async def batch(request: Request) -> Response:
    """Fire the chosen action on every ticked item, one by one; show per item done or refused (in words)."""
    checked = await guard.posted(request, max_files=0, max_fields=MOST + 20)
    if isinstance(checked, Response):
        return checked
    who, form = checked
    rt = request.app.state.runtime
    lang = i18n.language(request)
    t = i18n.translator(lang)
    trigger = form.get("action")
    items = chosen(form)
    if trigger not in ACTIONS or not items:
        return render.page(request, "batch.html", who, status=422, results=[], action_title="",
                           error=t("batch_bad_action" if trigger not in ACTIONS else "batch_none"))
    results = []
    for ref, version in items:
        try:
            number = await dbcalls.in_writer(rt, partial(fire_one, rt, who.actor, form, trigger, ref, version))
            results.append({"ref": number, "done": True, "reason": ""})
        except ValidationError as exc:
            results.append({"ref": ref, "done": False, "reason": forms.explain(exc)})
        except NotFound:
            results.append({"ref": ref, "done": False, "reason": t("not_found")})
        except VersionConflict:
            results.append({"ref": ref, "done": False, "reason": t("stale")})
        except DomainError as exc:
            results.append({"ref": ref, "done": False, "reason": exc.detail})
    title = next((i18n.title_of(tr.title, trigger, lang) for name in rt.registry.names()
                  for tr in rt.registry.current(name).definition.transitions if tr.trigger == trigger), trigger)
    return render.page(request, "batch.html", who, results=results, action_title=title, error=None,
                       done=sum(r["done"] for r in results))

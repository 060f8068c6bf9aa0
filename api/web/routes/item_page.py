"""An item's page: its fields, what the visitor may do now (as forms), its evidence, and its timeline."""
from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from api import dbcalls
from api.routes.items import _view
from api.web import guard, i18n, render
from engine import accounts, history, queries
from engine.audit.item_chain import check_item_chain
from engine.delivery.status import with_delivery
from engine.errors import NotFound
from engine.evidence.files import uploads
from engine.inputs import SEVERITIES, SOURCES
from engine.people.users import display_names
from engine.reminders import inbox
from engine.reports.population import StateSets

router = APIRouter(include_in_schema=False)
# The item fields a transition may set, in the order the forms show them, with the input each needs.
FIELD_INPUTS = (("unit", "select"), ("assignee", "text"), ("due_date", "date"), ("new_due_date", "date"),
                ("measures", "textarea"))
FIELD_WORDS = {"unit": "transfer_unit", "assignee": "assignee", "due_date": "due_date",
               "new_due_date": "new_due_date", "measures": "measures"}


def action_forms(wf, view: dict, lang: str) -> list[dict]:
    """A form description for each trigger the visitor may fire now (engine.views decides which)."""
    t = i18n.translator(lang)
    out = []
    for trigger in view["allowed_triggers"]:
        tdef = wf.definition.transition(trigger, view["state"])
        accepted = tdef.accepted_fields
        out.append({
            "trigger": trigger, "title": i18n.title_of(tdef.title, trigger, lang),
            "comment_required": "comment" in tdef.requires, "evidence": "evidence" in tdef.requires,
            "fields": [{"name": name, "kind": kind, "label": t(FIELD_WORDS[name]), "required": name in tdef.requires}
                       for name, kind in FIELD_INPUTS if name in accepted],
        })
    return out


def _timeline(wf, records: list[dict], names: dict[str, str], titles: dict[str, str], lang: str) -> list[dict]:
    return [{**r, "step": i18n.trigger_title(wf.definition, r["trigger"], lang), "who": names.get(r["actor"], r["actor"]),
             "from_title": titles.get(r["from_state"], r["from_state"] or ""), "to_title": titles.get(r["to_state"], "")}
            for r in records]


async def show(request: Request, who, ref: str, *, status: int = 200, error: str | None = None,
               notice: str | None = None, done: str | None = None) -> Response:
    """Render the item page (with a refusal or a notice above the actions), or the 404 page."""
    rt = request.app.state.runtime
    lang = i18n.language(request)

    def read():
        with rt.store.read() as conn:
            item = queries.get_visible(conn, who.actor, ref)
            records = history.item_history(conn, item["id"])
            files = uploads(conn, item["id"])
            # The item's reminders and escalations, as GET /api/v1/items/{id}/reminders gives them.
            notices = with_delivery(conn, inbox.item_notices(conn, item["id"], tz=rt.settings.tz))
            people = ({r["actor"] for r in records} | {f["uploaded_by"] for f in files} | {item["assignee"]}
                      | {p for n in notices for p in n["recipients"]}) - {None}
            return item, records, files, notices, display_names(conn, people), accounts.list_units(conn)

    try:
        item, records, files, notices, names, units = await dbcalls.in_reader(rt, read)
    except NotFound:
        return guard.not_found(request, who)
    wf = rt.registry.by_hash(item["workflow_hash"])
    view = _view(rt, item, who.actor)
    titles = {s.name: i18n.title_of(s.title, s.name, lang) for s in wf.definition.states}
    if done:
        notice = i18n.translator(lang)("done", i18n.trigger_title(wf.definition, done, lang))
    return render.page(
        request, "item.html", who, status=status, item=view, error=error, notice=notice, files=files, names=names,
        notices=notices,
        units=units, source=dict(i18n.choices("sources", SOURCES, lang)).get(view["source"], view["source"]),
        severity=dict(i18n.choices("severities", SEVERITIES, lang)).get(view["severity"], view["severity"]),
        state_title=titles[view["state"]], workflow_title=i18n.title_of(wf.definition.title,
                                                                                      view["workflow"], lang),
        actions=action_forms(wf, view, lang), timeline=_timeline(wf, records, names, titles, lang),
        chain=check_item_chain(records, item["history_hash"]),
        closed=item["state"] in StateSets.of(rt.registry).closed)


@router.get("/items/{ref}")
async def item_page(request: Request, ref: str) -> Response:
    """The item by number or id, if the visitor may see it (otherwise the same 404 as a missing one)."""
    who = await guard.signed_in(request)
    if isinstance(who, Response):
        return who
    t = i18n.translator(i18n.language(request))
    notice = None
    if request.query_params.get("uploaded"):
        notice = t("uploaded", request.query_params.get("name", ""), request.query_params["uploaded"])
    return await show(request, who, ref, notice=notice, done=request.query_params.get("done"))

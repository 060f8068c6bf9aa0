"""The dashboard: items by state and light, each unit's overdue items and closure rate (a chart), the open
escalations, and what needs the visitor's action now; every figure from the engine, within the visitor's scope."""
from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from api import dbcalls
from api.routes.items import _view
from api.web import guard, i18n, render
from api.web.drawing.barchart import Bar, bar_chart, percent
from api.web.routes.item_new import may_register
from api.web.session import Visitor
from engine.listing.actionable import needing_action
from engine.reports import board
from engine.reports.summary import SummaryQuery, summary

router = APIRouter(include_in_schema=False)
ACTION_LIMIT = 20


def _state_rows(rt, counts: dict[str, int], lang: str) -> list[dict]:
    """The counts by state with the workflow files' titles, each linking to the list of those items."""
    titles = i18n.state_titles(rt.registry, lang)
    return [{"state": titles.get(state, state), "count": n, "url": f"/items?{urlencode({'state': state})}"}
            for state, n in counts.items()]


async def dashboard_page(request: Request, who: Visitor) -> Response:
    """Render the dashboard for ``who`` (also what / shows a supervisor)."""
    rt = request.app.state.runtime
    lang = i18n.language(request)
    t = i18n.translator(lang)
    today, yellow = rt.today(), rt.settings.yellow_days

    def read():
        with rt.store.read() as conn:
            report = summary(conn, who.actor, rt.registry, SummaryQuery("unit", None, None, today), rt.settings.tz)
            return (board.state_counts(conn, who.actor), board.light_counts(conn, who.actor, today=today,
                                                                            yellow_days=yellow),
                    board.open_escalations(conn, who.actor), report,
                    needing_action(conn, rt.registry, who.actor, today=today, yellow_days=yellow, limit=ACTION_LIMIT))

    states, lights, escalations, report, actionable = await dbcalls.in_reader(rt, read)
    units = [{**g, "name": g["label"] or g["key"], "closure": percent(g["closure_rate"]),
              "overdue_share": percent(g["overdue_rate"])} for g in report["groups"]]
    chart = bar_chart([Bar(u["name"], u["closure_rate"]) for u in units], t("closure_chart")) if units else None
    mine = [{**_view(rt, row, who.actor), "can": [i18n.trigger_title(rt.registry.by_hash(row["workflow_hash"]).definition,
                                                                     trigger, lang) for trigger in triggers]}
            for row, triggers in actionable.rows]
    return render.page(request, "dashboard.html", who, may_register=may_register(who.actor), states=_state_rows(rt, states, lang), lights=lights,
                       escalations=escalations, units=units, totals=report["totals"], chart=chart, mine=mine,
                       more_url=(f"/items?{urlencode({'state': ','.join(actionable.states)})}"
                                 if actionable.more else None))


@router.get("/dashboard")
async def dashboard(request: Request) -> Response:
    """The dashboard of the signed-in visitor."""
    who = await guard.signed_in(request)
    if isinstance(who, Response):
        return who
    return await dashboard_page(request, who)

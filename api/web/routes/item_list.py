"""The item list: the API's filters as a form, search, and paging with the API's cursors."""
from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter
from pydantic import TypeAdapter, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from api import dbcalls
from api.routes.items import ENUMS, _view
from api.web import guard, i18n, render
from api.web.routes.item_batch import may_batch
from engine import accounts, queries
from engine.errors import DomainError, InvalidInput
from engine.inputs import LIGHTS, SEVERITIES, SOURCES, IsoDate

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 25
TEXT_FILTERS = ("state", "unit", "source", "severity", "light", "assignee", "campaign", "workflow")
_date = TypeAdapter(IsoDate)


def filters_of(params: dict[str, str]) -> queries.ItemFilters:
    """The form's non-empty fields as the API's filters (a comma list means any of its values, as in the API)."""
    values: dict = {name: queries.split_values(name, [params[name]]) for name in TEXT_FILTERS if params.get(name)}
    for name in ("due_before", "due_after"):
        if params.get(name):
            try:
                values[name] = _date.validate_python(params[name])
            except ValidationError:
                raise InvalidInput(f"{name} must be a date written YYYY-MM-DD", field=name) from None
    if params.get("overdue") in ("true", "false"):
        values["overdue"] = params["overdue"] == "true"
    if params.get("q"):
        values["q"] = params["q"][:200]
    return queries.ItemFilters(**values)


def filter_choices(rt, lang: str) -> dict[str, list[tuple[str, str]]]:
    """The options of the filter form's lists (the item list's and the ledger page's)."""
    return {"states": list(i18n.state_titles(rt.registry, lang).items()),
            "workflows": [(w, w) for w in rt.registry.known_names()],
            "sources": i18n.choices("sources", SOURCES, lang), "severities": i18n.choices("severities", SEVERITIES, lang),
            "lights": [(light, i18n.translator(lang)(f"light_{light}")) for light in LIGHTS]}


@router.get("/items")
async def item_list(request: Request) -> Response:
    """One page of the items in the visitor's scope, newest first, filtered as the form says."""
    who = await guard.signed_in(request)
    if isinstance(who, Response):
        return who
    rt = request.app.state.runtime
    lang = i18n.language(request)
    params = {k: v.strip() for k, v in request.query_params.items() if k != "lang" and "\x00" not in v}
    rows, next_cursor, total, error = [], None, 0, None
    batch, units = may_batch(rt.registry, who.actor), []

    def _units():
        with rt.store.read() as conn:
            return accounts.list_units(conn)

    try:
        filters = filters_of(params)
        queries.check_known_values(filters, rt.registry, ENUMS)

        def read():
            with rt.store.read() as conn:
                page, cursor = queries.list_items(conn, who.actor, filters, limit=PAGE_SIZE,
                                                  cursor=params.get("cursor") or None, today=rt.today(),
                                                  yellow_days=rt.settings.yellow_days)
                count = queries.count_items(conn, who.actor, filters, today=rt.today(),
                                            yellow_days=rt.settings.yellow_days)
            return [_view(rt, r, who.actor) for r in page], cursor, count

        rows, next_cursor, total = await dbcalls.in_reader(rt, read)
        if batch and rows:
            units = await dbcalls.in_reader(rt, _units)
    except DomainError as exc:
        error = exc.detail
    kept = {k: v for k, v in params.items() if v and k != "cursor"}
    return render.page(
        request, "items.html", who, status=422 if error else 200, rows=rows, total=total, error=error, params=params,
        batch=batch, units=units,
        next_url=f"/items?{urlencode({**kept, 'cursor': next_cursor})}" if next_cursor else None,
        first_url=f"/items?{urlencode(kept)}" if params.get("cursor") else None,
        **filter_choices(rt, lang))

"""The ledger pages: the 台账 downloaded as .xlsx or .csv with the item list's filters, and a ledger file
uploaded for import (with a check-only choice), its outcome or each bad row shown, and the rows already here
whose cells differ from their item (the import leaves such an item as it is).

Downloads are the API's export (api.routes.ledger.xlsx_download / csv_download: the same scope, columns and
refusals); an import is engine.ledger.importing's prepare and apply, as POST /api/v1/items/import runs them:
all rows or none.
"""
from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter
from pydantic import TypeAdapter, ValidationError
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from api import dbcalls
from api.routes.items import ENUMS
from api.routes.ledger import checked_as_of, csv_download, xlsx_download
from api.web import forms, guard, i18n, render
from api.web.routes.item_list import filter_choices, filters_of
from api.web.routes.item_new import may_register
from engine import queries
from engine.errors import DomainError, InvalidInput
from engine.inputs import IsoDate
from engine.ledger import importing
from engine.ledger.differences import COMPARED
from engine.ledger.rows import ITEM_NUMBER
from engine.text import plain_int

router = APIRouter(include_in_schema=False)
FORMATS = {"xlsx": xlsx_download, "csv": csv_download}
_date = TypeAdapter(IsoDate)
# The differing rows an import found, carried to the outcome's page in its address (each ``row:number:columns``,
# the columns as their positions in COMPARED): the first SHOWN of them, the count says how many in all.
SHOWN = 20


def _params(request: Request) -> dict[str, str]:
    return {k: v.strip() for k, v in request.query_params.items() if k not in ("lang", "format") and "\x00" not in v}


def _as_of(rt, params: dict[str, str]):
    if not params.get("as_of"):
        return None
    try:
        day = _date.validate_python(params["as_of"])
    except ValidationError:
        raise InvalidInput("as_of must be a date written YYYY-MM-DD", field="as_of") from None
    return checked_as_of(rt, day)


def _page(request: Request, who, *, status: int = 200, error: str | None = None, outcome: dict | None = None,
          params: dict | None = None) -> Response:
    rt = request.app.state.runtime
    return render.page(request, "ledger.html", who, status=status, error=error, outcome=outcome,
                       params=params or {}, may_import=may_register(who.actor), import_workflows=rt.registry.names(),
                       default_workflow=rt.settings.default_workflow,
                       **filter_choices(rt, i18n.language(request)))


@router.get("/ledger")
async def ledger_page(request: Request) -> Response:
    """The download form (the list's filters and a day to see the ledger as of) and, for those who may, the upload."""
    who = await guard.signed_in(request)
    if isinstance(who, Response):
        return who
    params = _params(request)
    outcome = None
    created, unchanged = plain_int(params.get("created")), plain_int(params.get("unchanged"))
    if created is not None and unchanged is not None:
        shown = _differences(request.query_params.getlist("d"))
        outcome = {"rejected": False, "created": created, "unchanged": unchanged,
                   "dry_run": params.get("checked") == "true", "differing": shown,
                   "differing_count": max(plain_int(params.get("differing")) or 0, len(shown))}
    return _page(request, who, params=params, outcome=outcome)


def _carried(result: importing.ImportResult) -> list[tuple[str, str]]:
    """The first SHOWN differing rows as the outcome page's address carries them."""
    return [("d", f"{d['row']}:{d['number']}:{'.'.join(str(COMPARED.index(c)) for c in d['columns'])}")
            for d in result.differing[:SHOWN]]


def _differences(carried: list[str]) -> list[dict]:
    """The differing rows the address carries (see _carried); a value that is not one is passed over."""
    shown = []
    for value in carried[:SHOWN]:
        row, _, rest = value.partition(":")
        number, _, columns = rest.rpartition(":")
        positions = [plain_int(p) for p in columns.split(".")]
        if plain_int(row) is None or not ITEM_NUMBER.fullmatch(number) or \
                any(p is None or p >= len(COMPARED) for p in positions):
            continue
        shown.append({"row": int(row), "number": number, "columns": [COMPARED[p] for p in positions]})
    return shown


@router.get("/ledger/download")
async def download(request: Request) -> Response:
    """The ledger file in the format asked for; a bad filter shows the page again with the reason."""
    who = await guard.signed_in(request)
    if isinstance(who, Response):
        return who
    rt = request.app.state.runtime
    params = _params(request)
    write = FORMATS.get(request.query_params.get("format", "xlsx"))
    try:
        for name, value in request.query_params.multi_items():
            if "\x00" in value:  # never dropped silently: the file would hold more than was asked for
                raise InvalidInput(f"{name} must not contain NUL characters", field=name)
        if write is None:
            raise InvalidInput("format must be xlsx or csv", field="format")
        filters = filters_of(params)
        queries.check_known_values(filters, rt.registry, ENUMS)
        return await write(rt, who.actor, filters, _as_of(rt, params))
    except DomainError as exc:
        t = i18n.translator(i18n.language(request))
        return _page(request, who, status=forms.status_of(exc), error=t("refused", exc.detail), params=params)


def _outcome(exc: importing.LedgerRejected) -> dict:
    errors = exc.extra["errors"]
    return {"rejected": True, "errors": errors, "count": exc.extra["error_count"],
            "more": exc.extra["error_count"] - len(errors)}


@router.post("/ledger/import")
async def import_ledger(request: Request) -> Response:
    """Check the uploaded ledger and, unless only a check was asked for, register its new rows (all or none)."""
    checked = await guard.posted(request, max_files=1, max_fields=10)
    if isinstance(checked, Response):
        return checked
    who, form = checked
    rt = request.app.state.runtime
    t = i18n.translator(i18n.language(request))
    dry_run = form.get("dry_run") == "true"
    workflow = form.get("workflow") if isinstance(form.get("workflow"), str) and form.get("workflow") else None
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise InvalidInput("choose a ledger file (.xlsx or .csv) to upload", field="file")
        data = await upload.read()
        prepared = await dbcalls.off_loop(importing.prepare, rt, who.actor, data, workflow=workflow)

        def work():
            with rt.store.write() as conn:
                return importing.apply(conn, rt, who.actor, prepared, dry_run=dry_run)

        result = await dbcalls.on_write_thread(rt, work)  # as the API does: never inline, however large
    except importing.LedgerRejected as exc:
        return _page(request, who, status=422, outcome=_outcome(exc))
    except DomainError as exc:
        return _page(request, who, status=forms.status_of(exc), error=t("refused", exc.detail))
    finally:
        await form.close()
    # Shown on a page of its own address, so that reloading it does not send the file again.
    done = [("created", result.created), ("unchanged", result.unchanged), ("checked", "true" if dry_run else "false"),
            ("differing", result.differing_count), *_carried(result)]
    return RedirectResponse(f"/ledger?{urlencode(done)}", status_code=303)

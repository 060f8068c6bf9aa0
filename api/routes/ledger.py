"""The 台账 ledger: exported as .xlsx or .csv with the item list's filters, imported from either."""
from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import tempfile
from typing import Annotated, Iterator

from fastapi import APIRouter, Depends, Query
from starlette.responses import Response, StreamingResponse

from api import dbcalls, respond
from api.deps import CallerDep
from api.models_ledger import LedgerImportOut
from api.openapi import IDEMPOTENCY_KEY
from api.problem_shapes import errors, problem_response, write_errors
from api.routes.items import ENUMS
from api.uploads import uploaded_file
from engine import queries
from engine.accounts import Actor
from engine.errors import InvalidInput
from engine.inputs import IsoDate
from engine.ledger import importing, writers
from engine.ledger.export import ledger_rows
from engine.runtime import Runtime

router = APIRouter(tags=["ledger"])
IMPORT_PATH = re.compile(r"^(/api/v1/items/import|/ledger/import)/?$")  # the API's, and the ledger page's
MULTIPART_ALLOWANCE = 64 * 1024
CHUNK = 256 * 1024
Values = Annotated[list[str] | None, Query()]
IMPORT_BODY = {
    "required": True,
    "content": {"multipart/form-data": {
        "schema": {"type": "object", "required": ["file"], "properties": {
            "file": {"type": "string", "format": "binary",
                     "description": "The ledger, .xlsx or .csv, with the columns GET /api/v1/ledger.xlsx writes"}}},
        "encoding": {"file": {"contentType": "application/octet-stream"}}}},
}


def import_body_limit(rt: Runtime):
    """For the request-size guard: an import's body may be as large as a ledger file plus its framing."""

    def limit(scope: dict) -> tuple[int, str, str] | None:
        if scope.get("method") == "POST" and IMPORT_PATH.match(scope.get("path", "")):
            most = rt.settings.ledger_max_bytes
            return (most + MULTIPART_ALLOWANCE, f"ledger files are limited to {most} bytes; nothing was imported",
                    "ledger-too-large")
        return None

    return limit


class LedgerQuery:
    """The ledger's query: the item list's filters, and the day the ledger is wanted as of."""

    def __init__(self, caller: CallerDep, state: Values = None, unit: Values = None, source: Values = None,
                 severity: Values = None, light: Values = None, overdue: bool | None = None,
                 assignee: Values = None, campaign: Values = None,
                 due_before: Annotated[IsoDate | None, Query()] = None,
                 due_after: Annotated[IsoDate | None, Query()] = None,
                 q: Annotated[str | None, Query(max_length=200)] = None, workflow: Values = None,
                 as_of: Annotated[IsoDate | None, Query(description="The ledger as it stood at the end of this day "
                                                                    "(the deployment's time zone), rebuilt from "
                                                                    "the history")] = None) -> None:
        rt, request = caller.rt, caller.request
        for name, value in request.query_params.multi_items():
            if "\x00" in value:
                raise InvalidInput(f"query parameter {name!r} must not contain NUL characters", field=name)
        given = {"state": state, "unit": unit, "source": source, "severity": severity, "light": light,
                 "assignee": assignee, "campaign": campaign, "workflow": workflow}
        self.filters = queries.ItemFilters(overdue=overdue, due_before=due_before, due_after=due_after, q=q,
                                           **{n: queries.split_values(n, v) for n, v in given.items()})
        queries.check_known_values(self.filters, rt.registry, ENUMS)
        self.as_of = checked_as_of(rt, as_of)
        self.caller = caller


LedgerDep = Annotated[LedgerQuery, Depends()]


def checked_as_of(rt: Runtime, as_of: dt.date | None) -> dt.date | None:
    """The day asked for, refused when it is still to come."""
    if as_of is not None and as_of > rt.today():
        raise InvalidInput(f"as_of {as_of.isoformat()} is in the future", field="as_of")
    return as_of


def _file_name(rt: Runtime, as_of: dt.date | None, suffix: str) -> str:
    day = as_of or rt.today()
    return f"ledger-{day.isoformat()}.{suffix}"


def _attachment(name: str) -> dict:
    return {"Content-Disposition": f'attachment; filename="{name}"'}


def _file_chunks(path: str) -> Iterator[bytes]:
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(CHUNK):
                yield chunk
    finally:
        os.unlink(path)


def _binary(media_type: str, description: str) -> dict:
    return {200: {"description": description, "content": {media_type: {"schema": {"type": "string",
                                                                                   "format": "binary"}}}}}


@router.get("/api/v1/ledger.xlsx", summary="The 台账 ledger as an Excel workbook", operation_id="export_ledger_xlsx",
            response_class=StreamingResponse,
            responses={**_binary(writers.XLSX_MEDIA_TYPE, "The ledger: one row per item, header frozen, lights filled"),
                       **errors(401, 422, _422="invalid-input")})
async def ledger_xlsx(query: LedgerDep) -> Response:
    """Items in the caller's scope matching the item list's filters, oldest first (docs/LEDGER.md)."""
    return await xlsx_download(query.caller.rt, query.caller.actor, query.filters, query.as_of)


@router.get("/api/v1/ledger.csv", summary="The 台账 ledger as CSV (UTF-8 with a BOM)", operation_id="export_ledger_csv",
            response_class=StreamingResponse,
            responses={**_binary("text/csv", "The ledger: the same columns as the .xlsx"),
                       **errors(401, 422, _422="invalid-input")})
async def ledger_csv(query: LedgerDep) -> Response:
    """The same ledger as .xlsx, streamed as CSV a few hundred rows at a time."""
    return await csv_download(query.caller.rt, query.caller.actor, query.filters, query.as_of)


async def xlsx_download(rt: Runtime, actor: Actor, filters: queries.ItemFilters, as_of: dt.date | None
                        ) -> StreamingResponse:
    """The ledger workbook as a download (the API's and the ledger page's): written to a temporary file, then
    streamed; a refusal (a unit outside the caller's scope) is raised before any byte is sent."""

    def build() -> str:
        handle = tempfile.NamedTemporaryFile(prefix="closeloop-ledger-", suffix=".xlsx", delete=False)
        handle.close()
        try:
            writers.write_xlsx(ledger_rows(rt, actor, filters, as_of=as_of), handle.name)
        except BaseException:
            os.unlink(handle.name)
            raise
        return handle.name

    path = await dbcalls.in_reader(rt, build)
    return StreamingResponse(_file_chunks(path), media_type=writers.XLSX_MEDIA_TYPE,
                             headers=_attachment(_file_name(rt, as_of, "xlsx")))


async def csv_download(rt: Runtime, actor: Actor, filters: queries.ItemFilters, as_of: dt.date | None
                       ) -> StreamingResponse:
    """The ledger as CSV, streamed a few hundred rows at a time (the API's and the ledger page's)."""
    rows = ledger_rows(rt, actor, filters, as_of=as_of)
    # The first row is read before answering: a filter naming a unit the caller cannot list is refused as 422.
    first = await dbcalls.in_reader(rt, lambda: next(rows, None))

    def every_row():
        if first is not None:
            yield first
            yield from rows

    return StreamingResponse(writers.csv_chunks(every_row()), media_type=writers.CSV_MEDIA_TYPE,
                             headers=_attachment(_file_name(rt, as_of, "csv")))


@router.post("/api/v1/items/import", summary="Import a 台账 ledger (.xlsx or .csv)", operation_id="import_ledger",
             response_model=LedgerImportOut,
             responses={**write_errors(401, 403, 422, _422="ledger-rows-invalid"),
                        413: problem_response(413, "ledger-too-large")},
             openapi_extra={"parameters": [IDEMPOTENCY_KEY], "requestBody": IMPORT_BODY})
async def import_items(caller: CallerDep, dry_run: bool = False,
                       workflow: Annotated[str | None, Query(max_length=64, description="The workflow the new items "
                                                             "follow (default: the deployment's)")] = None) -> Response:
    """Register every row not already here, all or none: 422 lists the bad rows by row and column; 200 answers
    ``created`` and ``unchanged``, and in ``differing`` the rows already here whose cells differ from their item
    (left as it is). ``dry_run=true`` checks and counts without writing. Roles: registrar, supervisor, admin, each
    for units within their scope."""
    rt, actor, request = caller.rt, caller.actor, caller.request
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise InvalidInput("send the ledger as multipart/form-data in the field 'file'", field="file")
    async with uploaded_file(request, "the ledger") as upload:
        data = await upload.read()
    prepared = await dbcalls.off_loop(importing.prepare, rt, actor, data, workflow=workflow)
    body = {"sha256": hashlib.sha256(data).hexdigest(), "dry_run": dry_run, "workflow": workflow}

    def work(conn):
        return respond.stored_json(importing.apply(conn, rt, actor, prepared, dry_run=dry_run).as_json())

    # Always on the write threads, never inline: a large ledger must not hold the event loop while it is written.
    return await dbcalls.on_write_thread(rt, lambda: respond.write(
        rt, actor, key=caller.header("idempotency-key"), method="POST", path="/api/v1/items/import", body=body,
        work=work))

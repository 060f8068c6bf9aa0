"""Reports: the summary of closure, overdue and reopen figures per group."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from api import dbcalls, respond
from api.deps import CallerDep
from api.models_reports import GroupBy, SummaryOut
from api.problem_shapes import errors
from engine.inputs import IsoDate
from engine.reports.summary import SummaryQuery, summary

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])


@router.get("/summary", response_model=SummaryOut, summary="Closure and overdue figures per group",
            operation_id="get_summary_report", responses=errors(400, 401, 422, _422="invalid-input"))
async def summary_report(caller: CallerDep, group_by: GroupBy = "unit",
                         date_from: Annotated[IsoDate | None, Query(alias="from")] = None,
                         date_to: Annotated[IsoDate | None, Query(alias="to")] = None) -> Response:
    """Per unit, source, severity, workflow or campaign, of the items registered from ``from`` to ``to`` (local
    dates, both included) in the caller's scope: total, open, closed, overdue, the rates, reopened."""
    rt = caller.rt
    query = SummaryQuery(group_by=group_by, date_from=date_from, date_to=date_to, today=rt.today())

    def read() -> Response:
        with rt.store.read() as conn:
            return respond.json_response(summary(conn, caller.actor, rt.registry, query, rt.settings.tz))

    return await dbcalls.in_reader(rt, read)

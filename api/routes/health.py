"""Liveness and readiness probes."""
from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter
from starlette.responses import Response

from api import dbcalls
from api.deps import RuntimeDep
from api.models_admin import HealthOut, ReadyOut
from api.openapi import PUBLIC
from api.problem_shapes import problem_response
from api.problems import problem
from api.respond import json_response
from engine.calendars.coverage import warning_for, years_without_official_schedule
from engine.store.revisions import current_revision, head_revision

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=HealthOut, summary="The process is up", operation_id="get_health",
            openapi_extra=PUBLIC)
async def healthz() -> Response:
    """Always 200 while the process serves requests."""
    return json_response({"status": "ok"})


@router.get("/readyz", response_model=ReadyOut, summary="The database is reachable and migrated",
            operation_id="get_readiness", openapi_extra=PUBLIC,
            responses={503: problem_response(503, "not-ready", description="Not ready", retry_after=False)})
async def readyz(rt: RuntimeDep) -> Response:
    """200 when the database answers and its schema is at the code's migration head; 503 otherwise.

    While open deadlines fall in a year without an official holiday schedule it stays ready and says so in
    ``warnings`` and ``calendar_unofficial_years``.
    """

    def probe() -> tuple[list[int], str | None]:
        with rt.store.read() as conn:
            conn.execute(sa.text("SELECT 1"))
            unofficial = years_without_official_schedule(conn)
        return unofficial, current_revision(rt.store)

    try:
        unofficial, current = await dbcalls.in_reader(rt, probe)
        head = head_revision()
    except Exception as exc:  # noqa: BLE001 - any database failure means "not ready"
        return problem(503, f"database unreachable: {type(exc).__name__}")
    if current != head:
        return problem(503, f"database schema is at {current}, the code needs {head}: run `closeloop migrate`")
    # Still ready: deadlines are counted on a guess for those years, which an operator should fix, not a router.
    warning = warning_for(unofficial)
    return json_response({"status": "ready", "schema": current, "workflows": rt.registry.names(),
                          "calendar_unofficial_years": unofficial, "warnings": [warning] if warning else []})

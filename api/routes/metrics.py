"""GET /metrics: the process's figures (or all workers') and the backlog, in Prometheus text."""
from __future__ import annotations

import hmac

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.responses import Response

from api import dbcalls
from api.deps import RuntimeDep
from api.openapi import PUBLIC
from api.problem_shapes import problem_response
from api.problems import problem
from engine.metrics.exposition import exposition

router = APIRouter(tags=["operations"])


@router.get("/metrics", summary="Prometheus metrics", operation_id="get_metrics", openapi_extra=PUBLIC,
            response_class=Response,
            responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}},
                             "description": "The Prometheus text exposition format"},
                       401: problem_response(401, description="CLOSELOOP_METRICS_TOKEN is set and the request "
                                                               "does not carry it")})
async def get_metrics(request: Request, rt: RuntimeDep) -> Response:
    """Requests, latencies, transitions, sweeps and deliveries counted by the process (summed over workers
    under ``serve --workers``), its memory and CPU, and the outbox depth, delivery lag and sweep lag read
    from the database. With CLOSELOOP_METRICS_TOKEN set, only a scrape bearing that token is answered."""
    expected = rt.settings.metrics_token
    if expected is not None:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(),
                                                                  expected.get_secret_value().encode()):
            return problem(401, "send the metrics token: 'Authorization: Bearer <CLOSELOOP_METRICS_TOKEN>'",
                           headers={"WWW-Authenticate": "Bearer"})
    # The backlog's figures are read from the database; the workers' figures from their files.
    text = await dbcalls.in_reader(rt, lambda: exposition(rt.store.reader, rt.clock))
    return Response(text, media_type=CONTENT_TYPE_LATEST)

"""The FastAPI application: routes, problem+json errors, the body and header limits, request ids and metrics."""
from __future__ import annotations

from fastapi import Depends, FastAPI

from api import docs, openapi, problems, query_params, web
from api.lane import TransitionLane
from api.limits import BodyLimit, HeaderLimit
from api.methods import Methods
from api.observe import Observe
from api.query_params import check_query
from api.routes import (
    admin,
    audit,
    campaigns,
    evidence,
    health,
    items,
    ledger,
    lookbacks,
    metrics,
    reminders,
    reports,
    webhooks,
    workflows,
)
from api.throttle import AuthThrottle
from engine.runtime import Runtime

DESCRIPTION = """closeloop drives rectification (整改) items from registration to sign-off (销号).
Authenticate with `Authorization: Bearer <token>`. Errors are `application/problem+json`."""


def _either(*limits):
    """The first of several routes' wider body limits that applies to a request."""
    return lambda scope: next((found for limit in limits if (found := limit(scope)) is not None), None)


def create_app(runtime: Runtime | None = None) -> FastAPI:
    """Build the app around a runtime (opened from the environment when not given)."""
    runtime = runtime or Runtime.open()
    app = FastAPI(title="closeloop", version="1.0", description=DESCRIPTION, docs_url=None, redoc_url=None,
                  dependencies=[Depends(check_query)])
    app.state.runtime = runtime
    app.state.throttle = AuthThrottle(runtime.clock, limit=runtime.settings.auth_failure_limit,
                                      window_seconds=runtime.settings.auth_failure_window_seconds)
    problems.install(app)
    for module in (ledger, items, evidence, reminders, workflows, admin, audit, webhooks, health, reports, campaigns,
                   lookbacks, metrics):
        app.include_router(module.router)
    docs.install(app)
    web.install(app)
    openapi.install(app, runtime)
    query_params.prepare(app)
    # Added first, so it runs last: a transition the lane takes never pays for it.
    app.add_middleware(Methods, api=app)
    # Inside the limits, the request id and the access log.
    app.add_middleware(TransitionLane, api=app)
    app.add_middleware(BodyLimit, max_bytes=runtime.settings.max_body_bytes,
                       wider=_either(evidence.upload_body_limit(runtime), ledger.import_body_limit(runtime)))
    app.add_middleware(HeaderLimit, max_bytes=runtime.settings.max_header_bytes)
    # Added last, so it runs first: its id and timing cover every refusal above too.
    app.add_middleware(Observe, access_log=runtime.settings.access_log)
    return app

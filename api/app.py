"""The FastAPI application: routes, problem+json errors, the body limit."""
from __future__ import annotations

from fastapi import FastAPI

from api import docs, openapi, problems
from api.limits import BodyLimit
from api.routes import admin, health, items, workflows
from engine.runtime import Runtime

DESCRIPTION = """closeloop drives rectification (整改) items from registration to sign-off (销号).
Authenticate with `Authorization: Bearer <token>`. Errors are `application/problem+json`."""


def create_app(runtime: Runtime | None = None) -> FastAPI:
    """Build the app around a runtime (opened from the environment when not given)."""
    runtime = runtime or Runtime.open()
    app = FastAPI(title="closeloop", version="1.0", description=DESCRIPTION, docs_url=None, redoc_url=None)
    app.state.runtime = runtime
    problems.install(app)
    for module in (items, workflows, admin, health):
        app.include_router(module.router)
    docs.install(app)
    openapi.install(app, runtime)
    app.add_middleware(BodyLimit, max_bytes=runtime.settings.max_body_bytes)
    return app

"""Errors as application/problem+json (RFC 9457): every refusal says what and where, never a trace."""
from __future__ import annotations

import logging
import sqlite3

import orjson
import psycopg
import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.routing import Match

from engine import errors
from engine.inputs import error_message
from engine.store.unavailable import unavailable

log = logging.getLogger("closeloop.api")
PROBLEM = "application/problem+json"
TYPE_BASE = "https://closeloop.dev/problems/"

STATUS_BY_ERROR: dict[type[errors.DomainError], int] = {
    errors.NotFound: 404,
    errors.Forbidden: 403,
    errors.UnknownTrigger: 422,
    errors.InvalidTransition: 409,
    errors.VersionConflict: 412,
    errors.GuardFailed: 422,
    errors.InvalidInput: 422,
    errors.Conflict: 409,
    # The item is held until its row and history agree again: not the caller's conflict, not a crash.
    errors.IntegrityViolation: 423,
    errors.IdempotencyMismatch: 422,
    errors.EvidenceTooLarge: 413,
    errors.EvidenceTypeRefused: 415,
    errors.IdempotencyInFlight: 409,
    errors.Busy: 503,
    errors.LedgerTooLarge: 413,
}
TITLES = {400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found", 405: "Method not allowed",
          409: "Conflict", 412: "Precondition failed", 413: "Request body too large", 415: "Unsupported media type",
          422: "Unprocessable request", 423: "Locked", 429: "Too many requests", 431: "Request header fields too large",
          500: "Internal error", 503: "Service unavailable"}


def problem(status: int, detail: str, *, code: str | None = None, headers: dict | None = None, **extra) -> Response:
    """A problem+json response."""
    body = {"type": TYPE_BASE + (code or TITLES.get(status, "error").lower().replace(" ", "-")),
            "title": TITLES.get(status, "Error"), "status": status, "detail": detail, **extra}
    return Response(orjson.dumps(body), status_code=status, media_type=PROBLEM, headers=headers)


def _validation_errors(exc: RequestValidationError) -> list[dict]:
    out = []
    for err in exc.errors():
        # The offending input is not echoed back: it may be huge, and the location already says where.
        out.append({"loc": [str(p) for p in err.get("loc", ())], "msg": error_message(err), "type": err.get("type", "")})
    return out


async def _on_validation(request: Request, exc: RequestValidationError) -> Response:
    errs = _validation_errors(exc)
    content_type = request.headers.get("content-type", "")
    if request.method in ("POST", "PUT", "PATCH") and "json" not in content_type and any(
            e["loc"] == ["body"] and e["type"] == "model_attributes_type" for e in errs):
        return problem(415, "send the body as JSON with 'Content-Type: application/json'", code="unsupported-media-type")
    if any(e["type"] == "json_invalid" for e in errs):
        return problem(400, "the request body is not valid JSON", code="malformed-json", errors=errs)
    first = errs[0] if errs else {"loc": [], "msg": "invalid request"}
    where = ".".join(p for p in first["loc"] if p not in ("body",)) or "request"
    return problem(422, f"{where}: {first['msg']}", code="validation-error", errors=errs)


async def _on_domain(request: Request, exc: errors.DomainError) -> Response:
    status = next((STATUS_BY_ERROR[kind] for kind in type(exc).__mro__ if kind in STATUS_BY_ERROR), 400)
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, errors.Busy) else None
    return problem(status, exc.detail, code=exc.code, headers=headers, **exc.extra)


METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def all_routes(routes) -> list:
    """Every route, those of included routers too."""
    found = []
    for route in routes:
        inner = getattr(route, "original_router", None)
        found.extend(all_routes(inner.routes) if inner is not None else [route])
    return found


def _allowed_methods(request: Request) -> str:
    """Every method some route of the request's path answers (the router names only the first route's).

    A path written out in full (/api/v1/items/import) is its own resource: the routes whose parameters would
    also match it (/api/v1/items/{item_id}) do not add their methods."""
    path = request.url.path
    literal = {method for route in all_routes(request.app.router.routes) if getattr(route, "path", None) == path
               for method in (getattr(route, "methods", None) or ())}
    if literal:
        return allow_header(literal)
    return allow_header({method for method in METHODS
                         if any(route.matches({**request.scope, "method": method})[0] == Match.FULL
                                for route in request.app.router.routes)})


def allow_header(methods: set[str] | frozenset[str]) -> str:
    """The ``Allow`` header of a resource answering ``methods``: in a fixed order, and HEAD wherever GET is
    (api.methods answers it)."""
    return ", ".join(method for method in METHODS if method in methods or (method == "HEAD" and "GET" in methods))


async def _on_http(request: Request, exc: StarletteHTTPException) -> Response:
    detail = exc.detail if isinstance(exc.detail, str) else TITLES.get(exc.status_code, "error")
    headers = getattr(exc, "headers", None)
    if exc.status_code == 405:
        headers = {**(headers or {}), "Allow": _allowed_methods(request)}
    # A body found too large while streaming has the problem type of one refused by its Content-Length.
    return problem(exc.status_code, detail, code=getattr(exc, "problem_code", None), headers=headers)


async def _on_integrity(request: Request, exc: sa.exc.IntegrityError) -> Response:
    # Validation runs before writes, so this is a race with a concurrent request (two adds of one code).
    log.info("integrity conflict on %s %s: %s", request.method, request.url.path, exc.orig)
    return problem(409, "the request conflicts with a concurrent change (a duplicate); retry it", code="conflict")


async def _on_database(request: Request, exc: Exception) -> Response:
    reason = unavailable(exc)
    if reason is None:
        return await _on_crash(request, exc)
    # Not a defect: the database cannot serve now (down, restarting, full, read-only). What the request began
    # rolled back with it, so the client retries; /readyz says the same to the load balancer.
    log.warning("database unavailable on %s %s: %s (%s)", request.method, request.url.path, reason,
                type(exc).__name__)
    retry = request.app.state.runtime.store.retry_after
    return problem(503, f"{reason}; nothing was changed, retry in {retry} s", code="database-unavailable",
                   headers={"Retry-After": str(retry)})


async def _on_disconnect(request: Request, exc: ClientDisconnect) -> Response:
    # The client went away before its body had arrived: nothing was read whole, so nothing was done. Not a
    # server error; the answer reaches no one, but the access log keeps it.
    log.info("client closed the connection during %s %s before its body arrived; nothing was done",
             request.method, request.url.path)
    return problem(400, "the connection closed before the request's body arrived; nothing was done",
                   code="client-disconnected")


async def _on_crash(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem(500, "the server failed to handle this request; it has been logged")


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into problem+json."""
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(errors.DomainError, _on_domain)
    app.add_exception_handler(StarletteHTTPException, _on_http)
    app.add_exception_handler(sa.exc.IntegrityError, _on_integrity)
    app.add_exception_handler(ClientDisconnect, _on_disconnect)
    # engine.store.fastpath raises the drivers' own errors, unwrapped; SQLAlchemy raises its wrappers.
    for kind in (sa.exc.DBAPIError, sa.exc.TimeoutError, sqlite3.Error, psycopg.Error):
        app.add_exception_handler(kind, _on_database)
    app.add_exception_handler(Exception, _on_crash)

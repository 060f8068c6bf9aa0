"""Query-string checks: a route takes only the query parameters its OpenAPI operation documents.

A mistyped parameter must not be ignored: ``POST /items/import?dryrun=true`` would import for real. And a
parameter that takes one value must not be given twice: ``?dry_run=true&dry_run=false`` would silently
take the last. :func:`check_query` refuses both, with 422, on every route of the OpenAPI document, from the
document itself, so what is refused is exactly what a client generated from it could never send.
"""
from __future__ import annotations

from typing import NamedTuple

from fastapi import FastAPI
from starlette.requests import Request

from engine.errors import InvalidInput


class Accepted(NamedTuple):
    """The query parameters of one operation: all of them, and those that take one value only."""

    names: frozenset[str]
    single: frozenset[str]


def refuse_unknown(request: Request, known: set[str] | frozenset[str]) -> None:
    """422 naming the first query parameter the route does not take (a typo would otherwise be ignored)."""
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        raise InvalidInput(f"unknown query parameter {unknown[0]!r} (known: {', '.join(sorted(known)) or 'none'})",
                           field=unknown[0])


def refuse_repeated(request: Request, single: frozenset[str]) -> None:
    """422 naming the first parameter that takes one value but was given several times."""
    for name in sorted(single):
        given = len(request.query_params.getlist(name))
        if given > 1:
            raise InvalidInput(f"query parameter {name!r} takes one value; it was given {given} times", field=name)


def operations(document: dict) -> dict[tuple[str, str], Accepted]:
    """(method, path template) -> the query parameters that operation documents."""
    shared = document.get("components", {}).get("parameters", {})
    table = {}
    for path, methods in document.get("paths", {}).items():
        for method, operation in methods.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            names, single = set(), set()
            for parameter in [*methods.get("parameters", []), *operation.get("parameters", [])]:
                if "$ref" in parameter:
                    parameter = shared.get(parameter["$ref"].rsplit("/", 1)[-1], {})
                if parameter.get("in") != "query":
                    continue
                names.add(parameter["name"])
                if not _is_array(parameter.get("schema", {})):
                    single.add(parameter["name"])
            table[(method.upper(), path)] = Accepted(frozenset(names), frozenset(single))
    return table


def _is_array(schema: dict) -> bool:
    # ``list[str] | None`` is documented as anyOf [array, null].
    return schema.get("type") == "array" or any(_is_array(part) for part in schema.get("anyOf", ()))


# Building the OpenAPI document takes over half a second: once per set of routes, not once per app (a test
# builds an app each time) nor on a request (the first one with a query string would wait for it).
_TABLES: dict[tuple, dict[tuple[str, str], Accepted]] = {}


def _shape(app: FastAPI) -> tuple:
    # The query parameters of an operation follow from its path, methods and endpoint (its signature and the
    # openapi_extra given with it), none of which depends on the runtime the app was built around. Endpoints
    # are named, not compared: the documentation's are closures made anew for each app.
    return tuple((getattr(route, "path_format", getattr(route, "path", None)),
                  tuple(sorted(getattr(route, "methods", None) or ())),
                  getattr(getattr(route, "endpoint", None), "__module__", None),
                  getattr(getattr(route, "endpoint", None), "__qualname__", None))
                 for route in app.routes)


def prepare(app: FastAPI) -> None:
    """Read the query parameters every operation documents, once the app's routes and document are complete."""
    key = _shape(app)
    if key not in _TABLES:
        _TABLES[key] = operations(app.openapi())
    app.state.query_parameters = _TABLES[key]


async def check_query(request: Request) -> None:
    """A dependency of every route: 422 for an undocumented or repeated single-valued query parameter."""
    if not request.scope.get("query_string"):
        return
    route = request.scope.get("route")
    path = getattr(route, "path_format", None)
    accepted = request.app.state.query_parameters.get((request.method, path))
    if accepted is None:
        return  # not an operation of the document (the pages, the documentation): their own rules apply
    refuse_unknown(request, accepted.names)
    refuse_repeated(request, accepted.single)

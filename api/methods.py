"""HEAD wherever GET is answered, and 405 rather than 404 for a method a path written out in full does not take.

RFC 9110 (9.3.2): a server answers HEAD as it would GET, without the content. The routes declare GET only,
so a HEAD request runs as GET here and its body is dropped on the way out; the headers (Content-Length,
Content-Type, Content-Disposition, ETag) are the GET's.

A path with no parameters (``/api/v1/items/import``) is a resource of its own. The router would otherwise let
``GET /api/v1/items/import`` reach ``GET /api/v1/items/{item_id}`` and answer "item import not found".
"""
from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import all_routes, allow_header, problem


class Methods:
    """ASGI middleware: HEAD as GET without the body; 405 with ``Allow`` for a literal path's other methods."""

    def __init__(self, app: ASGIApp, api) -> None:
        self.app, self.api = app, api
        self._literal: dict[str, frozenset[str]] | None = None

    def _literal_paths(self) -> dict[str, frozenset[str]]:
        if self._literal is None:
            table: dict[str, set[str]] = {}
            for route in all_routes(self.api.router.routes):
                path, methods = getattr(route, "path", ""), getattr(route, "methods", None)
                if methods and "{" not in path:
                    table.setdefault(path, set()).update(methods)
            self._literal = {path: frozenset(methods) for path, methods in table.items()}
        return self._literal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        taken = self._literal_paths().get(scope["path"])
        if taken is not None and method not in taken and not (method == "HEAD" and "GET" in taken):
            answer = problem(405, "Method Not Allowed", headers={"Allow": allow_header(taken)})
            await answer(scope, receive, send)
            return
        if method == "HEAD":
            await self.app({**scope, "method": "GET"}, receive, _without_body(send))
            return
        await self.app(scope, receive, send)


def _without_body(send: Send) -> Send:
    """``send`` passing the response's start as it is and each part of its body as empty."""

    async def headers_only(message: Message) -> None:
        if message["type"] == "http.response.body":
            message = {**message, "body": b""}
        await send(message)

    return headers_only

"""The hot path, POST /api/v1/items/{id}/transitions, served without FastAPI's route matching and dependency solving.

The engine's transition costs about 0.55 ms of CPU; FastAPI's route matching over every route, dependency
solving and generic body handling added about 0.2 ms more (bench/http_layers.py). This lane answers the same
request with the same code (api.deps, api.routes.items.fire_transition and transition_work) and the app's own
exception handlers, so its answers are the route's. A request it is not sure of (another
content type, a body that does not parse or validate) goes on to FastAPI untouched, body included, so every
refusal keeps FastAPI's shape and order.
"""
from __future__ import annotations

import json
import re

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from api import dbcalls
from api.deps import Caller, bearer_token, find_actor, get_caller, settle
from api.routes import items
from engine.accounts import Actor
from engine.inputs import TransitionRequest

PATH = re.compile(r"/api/v1/items/([^/]+)/transitions")
OPERATION = "fire_transition"


class TransitionLane:
    """ASGI middleware serving well-formed transitions directly; everything else goes on to ``app``."""

    def __init__(self, app, api: FastAPI) -> None:
        self.app = app
        self.route = next(r for r in items.router.routes if isinstance(r, APIRoute) and r.operation_id == OPERATION)
        # Exception's handler is the server-error one: Starlette runs it outermost, after logging the traceback,
        # so an unexpected error is left to propagate there, as it would from the route.
        self.handlers = {kind: handler for kind, handler in api.exception_handlers.items() if kind is not Exception}
        self.served = 0  # requests this lane answered itself (the tests check it takes what it should)

    async def __call__(self, scope, receive, send) -> None:
        match = _transition_path(scope)
        if match is None:
            await self.app(scope, receive, send)
            return
        item_id = match[1]
        # FastAPI would match the route before reading the body: the access log's and the metrics' route.
        scope["route"], scope["path_params"] = self.route, {"item_id": item_id}
        request = Request(scope, receive)
        try:
            messages, body, complete = await _read_body(receive)
        except Exception as exc:  # the body limit's refusal of a streamed body, answered as the route would
            await self._answer_error(request, exc, scope, receive, send)
            return
        try:
            # As FastAPI reads a JSON body: json.loads, then the model in Python mode.
            request_body = TransitionRequest.model_validate(json.loads(body)) if complete else None
        except Exception:  # noqa: BLE001 - any refusal is FastAPI's to word
            request_body = None
        if request_body is None:  # not parsed, or the client left mid-body: FastAPI gets exactly what came
            await self.app(scope, _replay(messages, receive), send)
            return
        self.served += 1
        try:
            response = await self._transition(request, item_id, request_body)
        except Exception as exc:
            await self._answer_error(request, exc, scope, receive, send)
            return
        await response(scope, receive, send)

    async def _answer_error(self, request: Request, exc: Exception, scope, receive, send) -> None:
        handler = self._handler(exc)
        if handler is None:
            raise exc
        response = await handler(request, exc)
        await response(scope, receive, send)

    @staticmethod
    async def _transition(request: Request, item_id: str, body: TransitionRequest) -> Response:
        rt = request.app.state.runtime
        if rt.store.inline_lookups:  # SQLite: the token lookup runs inline, then the write (api.dbcalls)
            return await items.fire_transition(await get_caller(request), item_id, body)
        # PostgreSQL: the lookup and the write on one trip to a write thread instead of a read thread, then a
        # write thread: each trip costs the thread hand-offs and their contention for the GIL.
        token = bearer_token(request)
        found: list[Actor | None] = [None]

        def look_up_then_write() -> Response | None:
            found[0] = actor = find_actor(rt, token)
            return None if actor is None else items.transition_work(Caller(rt, actor, request), item_id, body)()

        try:
            response = await dbcalls.in_writer(rt, look_up_then_write)
        finally:
            if found[0] is not None:  # the throttle's count and the access log's user, for a refusal too
                settle(request, token, found[0])
        if found[0] is None:
            settle(request, token, None)  # 401: the token is unknown or revoked
        return response

    def _handler(self, exc: Exception):
        for kind in type(exc).__mro__:
            if kind in self.handlers:
                return self.handlers[kind]
        return None


def _transition_path(scope) -> re.Match | None:
    """The path's match when the request is a JSON POST to a transition (and nothing mounts the app elsewhere)."""
    if scope["type"] != "http" or scope["method"] != "POST" or scope.get("root_path"):
        return None
    match = PATH.fullmatch(scope["path"])
    if match is None:
        return None
    for name, value in scope["headers"]:
        if name == b"content-type":
            return match if value.split(b";", 1)[0].strip().lower() == b"application/json" else None
    return None


async def _read_body(receive) -> tuple[list[dict], bytes, bool]:
    """The messages received, the body they carry, and whether it arrived whole (not cut by a disconnect)."""
    messages = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages, b"", False  # the client went away mid-body
        if not message.get("more_body", False):
            return messages, b"".join(m.get("body", b"") for m in messages), True


def _replay(messages: list[dict], receive):
    """A ``receive`` that hands over the messages already read, in order, then whatever comes next."""
    pending = list(messages)

    async def replayed():
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed

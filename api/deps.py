"""Typed dependencies: the runtime and the authenticated caller, declared once as Annotated types.

They are ``async def`` on purpose: FastAPI runs a plain ``def`` dependency on a worker thread, a hop that
costs more than the work itself here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from starlette.exceptions import HTTPException

from api import dbcalls
from api.throttle import AuthThrottle
from engine import accounts
from engine.accounts import Actor
from engine.errors import Forbidden
from engine.runtime import Runtime


async def get_runtime(request: Request) -> Runtime:
    """The process's runtime, made when the app was created."""
    return request.app.state.runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_actor(request: Request, rt: RuntimeDep) -> Actor:
    """The caller named by the bearer token; 401 without a valid one."""
    return await authenticate(request, rt)


async def authenticate(request: Request, rt: Runtime) -> Actor:
    """The actor behind the request's bearer token; 401 without a valid one."""
    token = bearer_token(request)
    actor = await dbcalls.lookup(rt, lambda: find_actor(rt, token))
    return settle(request, token, actor)


def bearer_token(request: Request) -> str:
    """The request's bearer token, before it is looked up: 401 without one, 429 from an address refused for
    too many bad tokens."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(401, "send 'Authorization: Bearer <token>'", headers={"WWW-Authenticate": "Bearer"})
    token = token.strip()
    throttle: AuthThrottle = request.app.state.throttle
    wait = throttle.retry_after(_address(request), token)
    if wait is not None:
        raise HTTPException(429, f"too many bad tokens from this address; try again in {wait} s",
                            headers={"Retry-After": str(wait)})
    return token


def find_actor(rt: Runtime, token: str) -> Actor | None:
    """The token's actor, or None (blocking: one indexed lookup, no explicit transaction, which a single
    SELECT does not need to be consistent)."""
    with rt.store.single() as conn:
        return accounts.authenticate(conn, token)


def settle(request: Request, token: str, actor: Actor | None) -> Actor:
    """Count the lookup's outcome for the address's throttle; 401 for an unknown or revoked token."""
    throttle: AuthThrottle = request.app.state.throttle
    if actor is None:
        throttle.failed(_address(request))
        raise HTTPException(401, "the token is unknown or revoked", headers={"WWW-Authenticate": "Bearer"})
    throttle.succeeded(token)
    request.state.user = actor.username  # for the access log (api.observe)
    return actor


def _address(request: Request) -> str:
    return request.client.host if request.client else ""


CurrentActor = Annotated[Actor, Depends(get_actor)]


@dataclass(frozen=True)
class Caller:
    """Runtime, authenticated actor and the request, resolved as one dependency.

    The item routes are the hot path: each extra dependency or Header parameter costs FastAPI about
    50 us per request to solve, so they take this one object and read their optional headers from it.
    """

    rt: Runtime
    actor: Actor
    request: Request

    def header(self, name: str) -> str | None:
        """A request header, or None."""
        return self.request.headers.get(name)


async def get_caller(request: Request) -> Caller:
    """The runtime and the authenticated caller of this request."""
    rt = request.app.state.runtime
    return Caller(rt, await authenticate(request, rt), request)


CallerDep = Annotated[Caller, Depends(get_caller)]


def require_role(actor: Actor, *roles: str) -> None:
    """403 unless the actor has one of ``roles``."""
    if not actor.roles & set(roles):
        raise Forbidden(f"this needs one of the roles: {', '.join(roles)}", reason="role")


async def require_admin(actor: CurrentActor) -> Actor:
    """The caller, who must be an admin."""
    require_role(actor, "admin")
    return actor


AdminActor = Annotated[Actor, Depends(require_admin)]

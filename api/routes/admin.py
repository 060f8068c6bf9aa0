"""Admin: units, users (e-mail, changes, deactivation) and their tokens; the caller's identity; the chain check."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from api import dbcalls, respond
from api.deps import AdminActor, CurrentActor, RuntimeDep, require_role
from api.models_admin import (
    MeOut,
    NewUserOut,
    TokenList,
    TokenListed,
    TokenOut,
    UnitList,
    UnitOut,
    UserList,
    UserOut,
    VerifyOut,
)
from api.openapi import IDEMPOTENCY_KEY, headers_doc
from api.problem_shapes import errors, write_errors
from engine import accounts
from engine.audit.evidence import verify_stored_files
from engine.audit.verify import verify_database
from engine.definitions.workflow import Role
from engine.errors import InvalidInput
from engine.evidence.storage import store_for
from engine.inputs import Name
from engine.people import tokens as people_tokens
from engine.people import users as people_users
from engine.people.users import CHANGEABLE

router = APIRouter(prefix="/api/v1", tags=["admin"])


class NewUnit(BaseModel):
    """A unit to add under ``parent`` (or as a root)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    code: Name = Field(max_length=64)
    name: Name = Field(max_length=200)
    parent: Name | None = Field(default=None, max_length=64)


class NewUser(BaseModel):
    """A user to add; the answer carries the user's first token, shown only this once."""

    model_config = ConfigDict(extra="forbid", strict=True)
    username: Name = Field(max_length=64)
    roles: list[Role] = Field(min_length=1, max_length=6)
    unit: Name = Field(max_length=64)
    display_name: Name | None = Field(default=None, max_length=200)
    email: Name | None = Field(default=None, max_length=254, description="Where e-mail reminders go.")


class UserChange(BaseModel):
    """What to change about a user; fields left out stay as they are, ``email: null`` removes the address."""

    model_config = ConfigDict(extra="forbid", strict=True)
    roles: list[Role] | None = Field(default=None, min_length=1, max_length=6)
    unit: Name | None = Field(default=None, max_length=64)
    email: Name | None = Field(default=None, max_length=254)
    display_name: str | None = Field(default=None, max_length=200)
    active: bool | None = Field(default=None, description="false: their tokens stop working at once and they "
                                                          "receive no reminders")

    def changes(self) -> dict:
        """The fields the request gave, as engine.people.users.update_user takes them."""
        given = {name: getattr(self, name) for name in self.model_fields_set}
        for name in ("roles", "unit", "active"):
            if name in given and given[name] is None:
                raise InvalidInput(f"{name} cannot be null; leave it out to keep it", field=name)
        if not given:
            raise InvalidInput(f"give at least one of {', '.join(CHANGEABLE)}", field="body")
        return given


@router.get("/me", response_model=MeOut, summary="Who the token belongs to", operation_id="get_me",
            responses=errors(401))
async def me(actor: CurrentActor) -> Response:
    """The caller's username, roles and unit."""
    return respond.json_response({"username": actor.username, "roles": sorted(actor.roles), "unit": actor.unit_code})


@router.get("/units", response_model=UnitList, summary="List units (admin)", operation_id="list_units",
            responses=errors(401, 403))
async def list_units(actor: AdminActor, rt: RuntimeDep) -> Response:
    """Every unit in tree order."""
    return await respond.read_json(rt, lambda conn: {"data": accounts.list_units(conn)})


@router.post("/units", status_code=201, response_model=UnitOut, summary="Add a unit (admin)", operation_id="add_unit",
             responses=write_errors(400, 401, 403, 409, 413, 415, 422, _422="invalid-input"),
             openapi_extra=headers_doc(IDEMPOTENCY_KEY))
async def add_unit(body: NewUnit, actor: AdminActor, rt: RuntimeDep,
                   idempotency_key: Annotated[str | None, Header(include_in_schema=False)] = None) -> Response:
    """Add a unit; its parent must exist."""

    def work(conn):
        unit = accounts.add_unit(conn, clock=rt.clock, actor=actor.username, code=body.code, name=body.name, parent=body.parent)
        return respond.stored_json(unit, 201)

    return await dbcalls.in_writer(rt, lambda: respond.write(
        rt, actor, key=idempotency_key, method="POST", path="/api/v1/units", body=body.model_dump(mode="json"),
        work=work))


@router.get("/users", response_model=UserList, summary="List users (admin)", operation_id="list_users",
            responses=errors(401, 403))
async def list_users(actor: AdminActor, rt: RuntimeDep) -> Response:
    """Every user with roles and unit (never tokens)."""
    return await respond.read_json(rt, lambda conn: {"data": accounts.list_users(conn)})


@router.post("/users", status_code=201, response_model=NewUserOut, summary="Add a user and make a first token (admin)",
             operation_id="add_user", responses=write_errors(400, 401, 403, 409, 413, 415, 422, _422="invalid-input"),
             openapi_extra=headers_doc(IDEMPOTENCY_KEY))
async def add_user(body: NewUser, actor: AdminActor, rt: RuntimeDep,
                   idempotency_key: Annotated[str | None, Header(include_in_schema=False)] = None) -> Response:
    """Add a user; the response's ``token`` is shown only here and stored only as a hash."""

    def work(conn):
        user, token = accounts.add_user(conn, clock=rt.clock, actor=actor.username, username=body.username, roles=list(body.roles),
                                        unit=body.unit, display_name=body.display_name or "", email=body.email)
        return respond.stored_json({**user, "token": token}, 201)

    return await dbcalls.in_writer(rt, lambda: respond.write(
        rt, actor, key=idempotency_key, method="POST", path="/api/v1/users", body=body.model_dump(mode="json"),
        work=work, redact=respond.without_token))


@router.post("/users/{username}/tokens", status_code=201, response_model=TokenOut,
             summary="Issue another token for a user (admin)", operation_id="issue_token",
             responses=write_errors(400, 401, 403, 404), openapi_extra=headers_doc(IDEMPOTENCY_KEY))
async def add_token(username: str, actor: AdminActor, rt: RuntimeDep,
                    idempotency_key: Annotated[str | None, Header(include_in_schema=False)] = None) -> Response:
    """A new token for ``username``, shown only this once."""

    def work(conn):
        return respond.stored_json({"username": username,
                                    "token": accounts.new_token_for(conn, clock=rt.clock, actor=actor.username,
                                                                             username=username)}, 201)

    return await dbcalls.in_writer(rt, lambda: respond.write(
        rt, actor, key=idempotency_key, method="POST", path=f"/api/v1/users/{username}/tokens", body={}, work=work,
        redact=respond.without_token))


@router.patch("/users/{username}", response_model=UserOut, operation_id="update_user",
              summary="Change a user's roles, unit, e-mail, display name or active flag (admin)",
              responses=write_errors(401, 403, 404, 409, 422))
async def update_user(username: str, body: UserChange, actor: AdminActor, rt: RuntimeDep) -> Response:
    """Change a user; deactivating stops their tokens at once (the last active admin stays one: 409)."""
    changes = body.changes()

    def work(conn):
        return respond.stored_json(people_users.update_user(conn, username, changes, clock=rt.clock,
                                                           actor=actor.username))

    return await dbcalls.in_writer(rt, lambda: respond.write(
        rt, actor, key=None, method="PATCH", path=f"/api/v1/users/{username}",
        body=body.model_dump(mode="json", exclude_unset=True), work=work))


@router.get("/users/{username}/tokens", response_model=TokenList, operation_id="list_tokens",
            summary="List a user's tokens: labels and dates, never the tokens (admin)", responses=errors(401, 403, 404))
async def list_tokens(username: str, actor: AdminActor, rt: RuntimeDep) -> Response:
    """The user's tokens, oldest first, each with whether and when it was revoked."""
    return await respond.read_json(rt, lambda conn: {"data": people_tokens.list_tokens(conn, username)})


@router.delete("/users/{username}/tokens/{token_id}", response_model=TokenListed, operation_id="revoke_token",
               summary="Revoke one of a user's tokens (admin)", responses=write_errors(401, 403, 404, 422))
async def revoke_token(username: str, token_id: Annotated[int, PathParam(ge=1, le=2**31 - 1)], actor: AdminActor,
                       rt: RuntimeDep) -> Response:
    """The token stops working at once; revoking it again answers the same and changes nothing."""

    def work(conn):
        return respond.stored_json(people_tokens.revoke_token(conn, clock=rt.clock, actor=actor.username, username=username,
                                                              token_id=token_id))

    return await dbcalls.in_writer(rt, lambda: respond.write(
        rt, actor, key=None, method="DELETE", path=f"/api/v1/users/{username}/tokens/{token_id}", body={},
        work=work))


@router.get("/audit/verify", response_model=VerifyOut, summary="Check every history chain (auditor, admin)",
            operation_id="verify_audit", responses=errors(401, 403))
async def audit_verify(actor: CurrentActor, rt: RuntimeDep, with_evidence: Annotated[bool, Query(
              description="Also read every stored evidence file and check it against its SHA-256 (slower: reads "
                          "the whole store)")] = False) -> Response:
    """``{"ok": true, "records": N, "head": ..., "admin_log": {...}}`` or ``{"ok": false, "first_bad": {...}, ...}``;
    with ``with_evidence``, also ``evidence: {checked, problems}`` (any problem makes ``ok`` false)."""
    require_role(actor, "auditor", "admin")

    def verify():
        with rt.store.read() as conn:
            result = verify_database(conn)
            return result, *(verify_stored_files(conn, store_for(rt.settings)) if with_evidence else (0, []))

    result, checked, problems = await dbcalls.in_reader(rt, verify)
    body = {"ok": result.ok and not problems, "records": result.records, "admin_log": result.admin_log}
    body.update({"head": result.head} if result.ok else {"first_bad": result.first_bad,
                                                          "workflow_problems": result.workflow_problems})
    if with_evidence:
        body["evidence"] = {"checked": checked, "problems": problems}
    return respond.json_response(body)

"""Audit: signed checkpoints, their public keys, the admin log and the offline bundle (the chain check is in
admin.py)."""
from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from starlette.responses import Response, StreamingResponse

from api import dbcalls, respond
from api.deps import CallerDep, require_role
from api.models_audit import AdminLogPage, CheckpointList, CheckpointOut, SigningKeyList
from api.openapi import IDEMPOTENCY_KEY, headers_doc
from api.problem_shapes import errors, write_errors
from engine import paging
from engine.audit.admin_log_list import LogFilters, list_entries
from engine.audit.bundle import Filters, checked_filters, stream_bundle
from engine.audit.checkpoint import list_checkpoints
from engine.audit.checkpoint import make_checkpoint as make_checkpoint_in
from engine.audit.keys import KeyRing, list_keys
from engine.clock import local_midnight
from engine.errors import InvalidInput
from engine.inputs import IsoDate

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])
AUDIT_ROLES = ("auditor", "admin")


@router.get("/keys", response_model=SigningKeyList, summary="Checkpoint signing keys (auditor, admin)",
            operation_id="list_audit_keys", responses=errors(401, 403))
async def keys(caller: CallerDep) -> Response:
    """Every public key that signs or signed checkpoints; keep a copy outside the server to trust them later."""
    require_role(caller.actor, *AUDIT_ROLES)

    def read() -> Response:
        with caller.rt.store.read() as conn:
            return respond.json_response({"data": list_keys(conn)})

    return await dbcalls.in_reader(caller.rt, read)


@router.get("/checkpoints", response_model=CheckpointList, summary="Signed checkpoints, newest first (auditor, admin)",
            operation_id="list_audit_checkpoints", responses=errors(400, 401, 403, 422))
async def checkpoints(caller: CallerDep, limit: Annotated[int, Query(ge=1, le=500)] = 50,
                      cursor: Annotated[str | None, Query(max_length=512)] = None) -> Response:
    """Each checkpoint as the document ``closeloop audit verify --trusted-checkpoint`` takes."""
    require_role(caller.actor, *AUDIT_ROLES)
    fingerprint = paging.query_fingerprint({"list": "checkpoints"})
    before = paging.decode(cursor, fingerprint, (int,))[0] if cursor is not None else None

    def read() -> Response:
        with caller.rt.store.read() as conn:
            page = list_checkpoints(conn, limit=limit + 1, before=before)
        more = len(page) > limit
        page = page[:limit]
        following = paging.encode([page[-1]["checkpoint"]["number"]], fingerprint) if more else None
        return respond.json_response({"data": page, "next_cursor": following})

    return await dbcalls.in_reader(caller.rt, read)


@router.get("/admin-log", response_model=AdminLogPage, summary="The admin log, newest first (auditor, admin)",
            operation_id="list_admin_log", responses=errors(400, 401, 403, 422, _422="invalid-input"))
async def admin_log(caller: CallerDep, action: Annotated[str | None, Query(max_length=64)] = None,
                    actor: Annotated[str | None, Query(max_length=200)] = None,
                    date_from: Annotated[IsoDate | None, Query(alias="from")] = None,
                    date_to: Annotated[IsoDate | None, Query(alias="to")] = None,
                    order: Literal["newest", "oldest"] = "newest",
                    limit: Annotated[int, Query(ge=1, le=500)] = 50,
                    cursor: Annotated[str | None, Query(max_length=512)] = None) -> Response:
    """Administrative actions (units, users, roles, deactivations, tokens, webhooks, workflow versions) with who,
    when, the target and before/after; ``action``, ``actor`` exact, ``from``/``to`` local dates (inclusive)."""
    require_role(caller.actor, *AUDIT_ROLES)
    rt = caller.rt
    for name, value in (("action", action), ("actor", actor)):
        if value is not None and "\x00" in value:
            raise InvalidInput(f"{name} must not contain NUL", field=name)
    if date_from is not None and date_to is not None and date_from > date_to:
        raise InvalidInput("from must not be after to", field="from")
    tz = rt.settings.tz
    filters = LogFilters(action=action, actor=actor, since=local_midnight(date_from, tz),
                         until=local_midnight(date_to, tz, days_later=1))
    fingerprint = paging.query_fingerprint({"list": "admin-log", "action": action, "actor": actor, "order": order,
                                                 "from": str(date_from), "to": str(date_to)})
    after = paging.decode(cursor, fingerprint, (int,))[0] if cursor is not None else None

    def read() -> Response:
        with rt.store.read() as conn:
            page = list_entries(conn, filters, limit=limit + 1, oldest_first=order == "oldest", after_seq=after)
        more = len(page) > limit
        page = page[:limit]
        following = paging.encode([page[-1]["seq"]], fingerprint) if more else None
        return respond.json_response({"data": page, "next_cursor": following})

    return await dbcalls.in_reader(rt, read)


@router.post("/checkpoints", status_code=201, response_model=CheckpointOut,
             summary="Make a signed checkpoint now (auditor, admin)", operation_id="make_audit_checkpoint",
             responses=write_errors(401, 403), openapi_extra=headers_doc(IDEMPOTENCY_KEY))
async def make_checkpoint(caller: CallerDep) -> Response:
    """Sign every item's chain head now; also sent as an ``audit.checkpoint`` event through the outbox."""
    require_role(caller.actor, *AUDIT_ROLES)
    rt = caller.rt
    key = KeyRing(rt.settings.audit_keys_path).current()

    def work(conn):
        return respond.stored_json(make_checkpoint_in(conn, key=key, now=rt.clock.now()), 201)

    return await dbcalls.in_writer(rt, lambda: respond.write(
        rt, caller.actor, key=caller.header("idempotency-key"), method="POST", path="/api/v1/audit/checkpoints",
        body={}, work=work))


@router.get("/export", summary="The audit bundle, streamed (auditor, admin)", operation_id="export_audit_bundle",
            response_class=StreamingResponse, responses={
                200: {"description": "A zip: manifest, items with their full histories, workflow versions, "
                                     "checkpoints and public keys (docs/AUDIT.md)",
                      "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}}},
                **errors(401, 403, 422)})
async def export(caller: CallerDep, unit: Annotated[str | None, Query(max_length=64)] = None,
                 campaign: Annotated[str | None, Query(max_length=100)] = None,
                 date_from: Annotated[IsoDate | None, Query(alias="from")] = None,
                 date_to: Annotated[IsoDate | None, Query(alias="to")] = None,
                 with_evidence: Annotated[bool, Query(description="Also carry the stored evidence files the items "
                                                                  "refer to (evidence/<sha256>)")] = False) -> Response:
    """Items (a unit's subtree, a campaign, registered from/to these local dates) for `closeloop audit verify`."""
    require_role(caller.actor, *AUDIT_ROLES)
    rt = caller.rt
    for name, value in (("unit", unit), ("campaign", campaign)):
        if value is not None and "\x00" in value:
            raise InvalidInput(f"{name} must not contain NUL", field=name)
    filters = await dbcalls.in_reader(rt, lambda: checked_filters(
        rt, Filters(unit=unit, campaign=campaign, date_from=date_from, date_to=date_to)))
    name = f"closeloop-audit-{rt.today().isoformat()}.zip"
    return StreamingResponse(stream_bundle(rt, filters, with_evidence=with_evidence), media_type="application/zip",
                             headers={"Content-Disposition": f'attachment; filename="{name}"'})

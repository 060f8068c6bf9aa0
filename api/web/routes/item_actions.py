"""Acting on an item from its page: firing a trigger through engine.service.fire, and uploading evidence."""
from __future__ import annotations

import re
from urllib.parse import urlencode

from fastapi import APIRouter
from pydantic import ValidationError
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from api import dbcalls
from api.routes.evidence import evidence_download, stage_upload, upload_file_name
from api.web import forms, guard, i18n
from api.web.routes.item_page import show
from engine import service
from engine.errors import DomainError, InvalidInput, NotFound, VersionConflict
from engine.evidence.files import item_for_evidence, record_staged
from engine.inputs import TransitionRequest
from engine.text import plain_int

router = APIRouter(include_in_schema=False)
FIELD_NAMES = ("unit", "assignee", "due_date", "new_due_date", "measures")


def transition_request(form) -> TransitionRequest:
    """The posted action form as the API's request body: trigger, comment, fields, and the chosen stored files."""
    body: dict = {"trigger": str(form.get("trigger") or ""), "fields": forms.filled(form, FIELD_NAMES),
                  "evidence": [{"sha256": sha, "stored": True} for sha in form.getlist("evidence") if isinstance(sha, str)]}
    comment = form.get("comment")
    if isinstance(comment, str) and comment.strip():
        body["comment"] = comment.strip()
    return TransitionRequest.model_validate(body)


@router.post("/items/{ref}/act")
async def act(request: Request, ref: str) -> Response:
    """Fire the form's trigger as the visitor, at the version the page showed; a refusal is shown in words."""
    checked = await guard.posted(request, max_files=0, max_fields=80)
    if isinstance(checked, Response):
        return checked
    who, form = checked
    rt = request.app.state.runtime
    t = i18n.translator(i18n.language(request))
    try:
        body = transition_request(form)
    except ValidationError as exc:
        return await show(request, who, ref, status=422, error=t("refused", forms.explain(exc)))
    version = form.get("version")
    expected = plain_int(version)

    def work():
        with rt.store.write() as conn:
            return service.fire(conn, rt, item_ref=ref, actor=who.actor, request=body, expected_version=expected)

    try:
        result = await dbcalls.in_writer(rt, work)
    except NotFound:
        return guard.not_found(request, who)
    except VersionConflict:
        return await show(request, who, ref, status=412, error=t("stale"))
    except DomainError as exc:
        return await show(request, who, ref, status=forms.status_of(exc), error=t("refused", exc.detail))
    return RedirectResponse(f"/items/{result.item['number']}?{urlencode({'done': body.trigger})}", status_code=303)


@router.post("/items/{ref}/evidence")
async def upload(request: Request, ref: str) -> Response:
    """Store an evidence file for the item (hashed here, as the API's upload) and show its SHA-256."""
    who = await guard.signed_in(request)
    if isinstance(who, Response):
        return who
    rt = request.app.state.runtime
    t = i18n.translator(i18n.language(request))

    def find():
        with rt.store.read() as conn:
            return item_for_evidence(conn, who.actor, ref, acting=True)

    try:
        item = await dbcalls.in_reader(rt, find)  # before the body is read: a refusal costs no upload
    except NotFound:
        return guard.not_found(request, who)
    except DomainError as exc:
        return await show(request, who, ref, status=forms.status_of(exc), error=t("refused", exc.detail))
    form = await guard.checked_form(request, who, max_files=1, max_fields=5)
    if isinstance(form, Response):
        return form
    try:
        file = form.get("file")
        if not isinstance(file, UploadFile) or not file.filename:
            raise InvalidInput("choose a file to upload", field="file")
        name = upload_file_name(file)
        staged = await dbcalls.off_loop(stage_upload, rt, file)
        stored = staged.stored

        def work():
            with rt.store.write() as conn:
                return record_staged(conn, staged, item_id=item["id"], name=name, actor=who.actor,
                                     now=rt.clock.now())

        try:
            await dbcalls.in_writer(rt, work)
        finally:
            staged.drop()
    except DomainError as exc:
        return await show(request, who, ref, status=forms.status_of(exc), error=t("refused", exc.detail))
    finally:
        await form.close()
    query = urlencode({"uploaded": stored.sha256, "name": name})
    return RedirectResponse(f"/items/{item['number']}?{query}#evidence", status_code=303)


SHA256 = re.compile(r"[0-9a-f]{64}")


@router.get("/items/{ref}/evidence/{sha256}")
async def download(request: Request, ref: str, sha256: str) -> Response:
    """An evidence file of the item, as the API's download serves it (the same 404 for another unit's item)."""
    who = await guard.signed_in(request)
    if isinstance(who, Response):
        return who
    if not SHA256.fullmatch(sha256):
        return guard.not_found(request, who)
    try:
        return await evidence_download(request.app.state.runtime, who.actor, ref, sha256)
    except NotFound:
        return guard.not_found(request, who)
    except DomainError as exc:
        t = i18n.translator(i18n.language(request))
        return await show(request, who, ref, status=forms.status_of(exc), error=t("refused", exc.detail))

"""Evidence files: upload one for an item (typed by content, stored by SHA-256), list them, download one."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, BinaryIO, Iterator
from urllib.parse import quote

from fastapi import APIRouter
from fastapi import Path as PathParam
from python_multipart.multipart import parse_options_header
from starlette.datastructures import UploadFile
from starlette.responses import Response, StreamingResponse

from api import dbcalls, respond
from api.deps import CallerDep
from api.models_evidence import EvidenceFileOut, EvidenceUploadList
from api.openapi import IDEMPOTENCY_KEY
from api.problem_shapes import errors, problem_response, write_errors
from api.uploads import uploaded_file
from engine.accounts import Actor
from engine.errors import EvidenceTooLarge, EvidenceTypeRefused, IntegrityViolation, InvalidInput, NotFound
from engine.evidence.detect import media_type_of
from engine.evidence.files import item_for_evidence, record_staged, uploads
from engine.evidence.storage import CHUNK, Staged, TooLarge, open_intact, store_for
from engine.runtime import Runtime
from engine.text import is_blank

router = APIRouter(prefix="/api/v1/items", tags=["evidence"])
# What multipart framing (boundaries, part headers, a long file name) adds to the file itself.
MULTIPART_ALLOWANCE = 64 * 1024
BYTES = "application/octet-stream"
# The API's upload and the web item page's (api/web), which hands the file to the same store.
UPLOAD_PATH = re.compile(r"^(/api/v1)?/items/[^/]+/evidence/?$")
SHA_PATH = Annotated[str, PathParam(pattern="^[0-9a-f]{64}$", description="The file's SHA-256, lower-case hex")]
UPLOAD_BODY = {
    "required": True,
    "content": {"multipart/form-data": {
        "schema": {"type": "object", "required": ["file"], "properties": {
            "file": {"type": "string", "format": "binary",
                     "description": "The file; its name is kept, its type is judged by its content"}}},
        "encoding": {"file": {"contentType": "application/octet-stream"}}}},
}


def upload_body_limit(rt: Runtime):
    """For the request-size guard: an upload's body may be as large as an evidence file plus its framing."""

    def limit(scope: dict) -> tuple[int, str, str] | None:
        if scope.get("method") == "POST" and UPLOAD_PATH.match(scope.get("path", "")):
            most = rt.settings.evidence_max_bytes
            return (most + MULTIPART_ALLOWANCE, f"evidence files are limited to {most} bytes; nothing was stored",
                    "evidence-too-large")
        return None

    return limit


def _sent_file_name(upload: UploadFile) -> str:
    """The file name as the client wrote it: UTF-8 (browsers), else GB18030, the superset of the GBK a client on
    a Chinese Windows (curl, an office's own scripts) sends; Starlette's fallback would read that as Latin-1."""
    disposition = upload.headers.get("content-disposition")
    raw = None if disposition is None else parse_options_header(disposition.encode("latin-1"))[1].get(b"filename")
    if raw is None:
        return upload.filename or ""
    for codec in ("utf-8", "gb18030"):
        try:
            return raw.decode(codec)
        except UnicodeDecodeError:
            continue
    raise InvalidInput("the file name is neither UTF-8 nor GBK text: send it in UTF-8", field="file")


def upload_file_name(upload: UploadFile) -> str:
    """The client's file name without any folder part, checked like every other name."""
    name = re.split(r"[/\\]", _sent_file_name(upload))[-1].strip()
    if is_blank(name):
        raise InvalidInput("the file part has no file name (send it as filename=\"...\")", field="file")
    if "\x00" in name or len(name) > 255:
        raise InvalidInput("the file name must be at most 255 characters, without NUL", field="file")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput("the file name is not valid Unicode text", field="file") from None
    return name


def _chunks(stream: BinaryIO) -> Iterator[bytes]:
    while chunk := stream.read(CHUNK):
        yield chunk


def stage_upload(rt: Runtime, upload: UploadFile) -> Staged:
    """Hash and stage the uploaded file if it is small enough and of an accepted type (run off the event loop);
    :func:`record_staged` keeps it, and the caller drops it whatever happens (a kept file stays)."""
    accepted = rt.settings.evidence_types

    def check(path: Path) -> str:
        found = media_type_of(path)
        if found not in accepted:
            raise EvidenceTypeRefused(f"the file's content is {found}, which is not accepted as evidence (accepted: "
                                      f"{', '.join(accepted)}); nothing was stored", detected_type=found)
        return found

    try:
        return store_for(rt.settings).stage(_chunks(upload.file), max_bytes=rt.settings.evidence_max_bytes,
                                            check=check)
    except TooLarge as exc:
        raise EvidenceTooLarge(f"{exc}; nothing was stored") from None


@router.post("/{item_id}/evidence", status_code=201, response_model=EvidenceFileOut,
             summary="Upload an evidence file for an item", operation_id="upload_evidence",
             responses={**write_errors(400, 401, 403, 404, 422, _422="invalid-input"),
                        413: problem_response(413, "evidence-too-large"),
                        415: problem_response(415, "evidence-type-refused")},
             openapi_extra={"parameters": [IDEMPOTENCY_KEY], "requestBody": UPLOAD_BODY})
async def upload_evidence(item_id: str, caller: CallerDep) -> Response:
    """Store the multipart field ``file`` by its SHA-256 (computed here): 413 past the size limit, 415 when its
    content is not an accepted type (PDF, images, Office documents by default); neither stores anything.
    Whoever may see and act on the item in its unit may upload; an item outside the caller's scope is 404."""
    rt, actor, request = caller.rt, caller.actor, caller.request

    def find() -> dict:
        with rt.store.read() as conn:
            return item_for_evidence(conn, actor, item_id, acting=True)

    item = await dbcalls.in_reader(rt, find)  # before the body is read: a refusal costs no upload
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise EvidenceTypeRefused("send the file as multipart/form-data in the field 'file'",
                                  detected_type=request.headers.get("content-type", "none"))
    async with uploaded_file(request, "the evidence file") as upload:
        name = upload_file_name(upload)
        staged = await dbcalls.off_loop(stage_upload, rt, upload)
    stored = staged.stored
    location = f"/api/v1/items/{item['id']}/evidence/{stored.sha256}"

    def work(conn):
        kept = record_staged(conn, staged, item_id=item["id"], name=name, actor=actor, now=rt.clock.now())
        return respond.stored_json(kept, 201, {"Location": location})

    try:
        return await dbcalls.in_writer(rt, lambda: respond.write(
            rt, actor, key=caller.header("idempotency-key"), method="POST", path=f"/api/v1/items/{item_id}/evidence",
            body={"name": name, "sha256": stored.sha256, "size": stored.size}, work=work))
    finally:
        staged.drop()


@router.get("/{item_id}/evidence", response_model=EvidenceUploadList, summary="An item's evidence files",
            operation_id="list_item_evidence", responses=errors(401, 404))
async def list_evidence(item_id: str, caller: CallerDep) -> Response:
    """Every upload for the item, newest first (the same file uploaded twice is listed twice)."""
    rt, actor = caller.rt, caller.actor

    def read() -> Response:
        with rt.store.read() as conn:
            item = item_for_evidence(conn, actor, item_id, acting=False)
            rows = uploads(conn, item["id"])
        return respond.json_response({"data": rows})

    return await dbcalls.in_reader(rt, read)


def content_disposition(name: str) -> str:
    """``attachment`` with an ASCII fallback name and the exact UTF-8 name (RFC 6266 / RFC 5987)."""
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\%' else "_" for c in name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def _streamed(stream: BinaryIO) -> Iterator[bytes]:
    with stream:
        yield from _chunks(stream)


@router.get("/{item_id}/evidence/{sha256}", summary="Download an evidence file", operation_id="download_evidence",
            response_class=StreamingResponse, responses={
                200: {"description": "The file, with the media type its content was found to be (each accepted "
                                     "type is listed; a file of a type no longer accepted is served as "
                                     "application/octet-stream)",
                      "content": {BYTES: {"schema": {"type": "string", "format": "binary"}}}},
                **errors(401, 404, 423)})
async def download_evidence(item_id: str, sha256: SHA_PATH, caller: CallerDep) -> Response:
    """A file uploaded for this item, streamed; 404 for an item outside the caller's scope or a file not uploaded
    for this item (another unit's evidence looks the same as none)."""
    return await evidence_download(caller.rt, caller.actor, item_id, sha256)


async def evidence_download(rt: Runtime, actor: Actor, item_id: str, sha256: str) -> StreamingResponse:
    """Stream a file uploaded for the item (by id or number) if ``actor`` may read the item (the API's download and
    the item page's links); NotFound for an item out of scope or a file not uploaded for it."""

    def read() -> tuple[dict, BinaryIO]:
        with rt.store.read() as conn:
            item = item_for_evidence(conn, actor, item_id, acting=False)
            found = uploads(conn, item["id"], sha256)
        if not found:
            raise NotFound(f"item {item_id} has no evidence file {sha256}")
        try:
            # Read through once first: a file changed on disk would otherwise go out under its recorded hash
            # (or break off mid-transfer, its length no longer the Content-Length sent).
            stream = open_intact(store_for(rt.settings), sha256, found[0]["size"])
        except FileNotFoundError:
            raise IntegrityViolation(f"the evidence file {sha256} is recorded but missing from the store; run "
                                     f"`closeloop audit verify --with-evidence`") from None
        if stream is None:
            raise IntegrityViolation(f"the evidence file {sha256} in the store is no longer the file recorded (its "
                                     f"size or SHA-256 changed); run `closeloop audit verify --with-evidence`")
        return found[0], stream

    upload, stream = await dbcalls.in_reader(rt, read)
    # Served as the type its content was found to be while that type is accepted (so the OpenAPI document,
    # which lists the accepted types, names it); a file kept from a setting since narrowed is plain bytes.
    media_type = upload["media_type"] if upload["media_type"] in rt.settings.evidence_types else BYTES
    return StreamingResponse(_streamed(stream), media_type=media_type, headers={
        "Content-Length": str(upload["size"]), "Content-Disposition": content_disposition(upload["name"]),
        "X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store"})

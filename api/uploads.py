"""Reading the one file a multipart upload carries (evidence, a ledger), with refusals that say what to send."""
from __future__ import annotations

from contextlib import asynccontextmanager
from typing import AsyncIterator

from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request

from engine.errors import InvalidInput

# Starlette's refusals of a form it could read but that breaks a limit (more files or fields, a field too large).
_LIMITS = ("Too many files", "Too many fields", "Field exceeded", "Part exceeded")


@asynccontextmanager
async def uploaded_file(request: Request, what: str) -> AsyncIterator[UploadFile]:
    """The form's field ``file``, open until the block ends; ``what`` (\"the ledger\") names it in refusals."""
    try:
        form = await request.form(max_files=1, max_fields=10)
    except HTTPException as exc:
        if exc.status_code != 400 or exc.detail.startswith(_LIMITS):
            raise  # a readable form over a limit: Starlette's words say which
        # Starlette says only "Invalid multipart data.": say what the body should have been.
        raise HTTPException(400, f"the body is not a readable multipart/form-data form ({exc.detail.rstrip('.')}): "
                                 f"send {what} in the form field 'file', as curl -F file=@NAME does") from None
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise InvalidInput(f"the form has no file in the field 'file' (send {what} there, with a filename)",
                               field="file")
        yield upload
    finally:
        await form.close()

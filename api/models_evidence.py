"""Response shapes of the evidence routes, for the OpenAPI document."""
from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field


class EvidenceFileOut(BaseModel):
    """A stored evidence file: reference it from a transition as ``{"sha256": ..., "stored": true}``."""

    name: str = Field(description="The file name it was uploaded under", examples=["验收报告.pdf"])
    sha256: str = Field(pattern="^[0-9a-f]{64}$", description="SHA-256 of the content, computed by the server")
    size: int = Field(description="Bytes")
    media_type: str = Field(description="The type its content was found to be", examples=["application/pdf"])


class EvidenceUpload(EvidenceFileOut):
    """One upload of a stored file for an item."""

    uploaded_by: str
    uploaded_at: dt.datetime


class EvidenceUploadList(BaseModel):
    """An item's uploads, newest first."""

    data: list[EvidenceUpload]

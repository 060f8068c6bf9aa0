"""The table of uploads: which item a stored file was uploaded for, by whom, when, under which name."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from engine.models import _utc_column


class EvidenceFile(SQLModel, table=True):
    """One upload of a stored file for an item (the same file uploaded twice for an item is two rows)."""

    __tablename__ = "evidence_files"
    __table_args__ = (sa.Index("ix_evidence_files_item_sha", "item_id", "sha256"),
                      sa.Index("ix_evidence_files_sha", "sha256"))
    id: int | None = Field(default=None, primary_key=True)
    item_id: str = Field(foreign_key="items.id", max_length=36)
    sha256: str = Field(max_length=64)
    name: str = Field(max_length=255)
    size: int = Field(sa_column=sa.Column(sa.BigInteger(), nullable=False))
    media_type: str = Field(max_length=127)
    uploaded_by: str = Field(max_length=64)
    uploaded_at: dt.datetime = Field(sa_column=_utc_column())

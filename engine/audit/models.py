"""The tables of signed checkpoints: the public keys, the checkpoints and the chain heads each one covered."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from engine.models import _utc_column


class AuditKey(SQLModel, table=True):
    """A checkpoint signing key's public half, kept for as long as any checkpoint it signed (rotation keeps it)."""

    __tablename__ = "audit_keys"
    key_id: str = Field(primary_key=True, max_length=64)
    algorithm: str = Field(default="ed25519", max_length=16)
    public_key: str = Field(max_length=128)  # hex of the 32 raw bytes
    created_at: dt.datetime = Field(sa_column=_utc_column())


class AuditCheckpoint(SQLModel, table=True):
    """One signed statement of every item's chain head at a moment; ``body`` is the exact canonical JSON signed."""

    __tablename__ = "audit_checkpoints"
    number: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    hash: str = Field(max_length=64, unique=True)
    key_id: str = Field(foreign_key="audit_keys.key_id", max_length=64)
    body: str
    signature: str = Field(max_length=128)  # hex of the 64-byte Ed25519 signature over body
    created_at: dt.datetime = Field(sa_column=_utc_column())


class AuditCheckpointHead(SQLModel, table=True):
    """An item's chain head as a checkpoint covered it, stored only when it changed since the checkpoint before."""

    __tablename__ = "audit_checkpoint_heads"
    __table_args__ = (sa.Index("ix_audit_checkpoint_heads_item", "item_id", "checkpoint"),)
    # No foreign key: the heads are written while the checkpoint is computed, before its signed row exists.
    checkpoint: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    item_id: str = Field(primary_key=True, max_length=36)
    seq: int
    hash: str = Field(max_length=64)


class AdminLogEntry(SQLModel, table=True):
    """One administrative action, hash-chained to the entry before it in one global chain. Never updated or deleted."""

    __tablename__ = "admin_log"
    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    at: str = Field(max_length=32)  # the exact RFC 3339 text that was hashed
    actor: str = Field(max_length=200)
    action: str = Field(max_length=64)
    target: str = Field(max_length=300)
    before: str | None = None  # canonical JSON object, or null
    after: str | None = None  # canonical JSON object, or null
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)

"""Response shapes of the audit routes (checkpoints, signing keys), for the OpenAPI document."""
from __future__ import annotations

from pydantic import BaseModel, Field


class CheckpointBody(BaseModel):
    """What a checkpoint states; its canonical JSON is what is hashed and signed (docs/AUDIT.md)."""

    format: str = Field(examples=["closeloop-checkpoint/1"])
    number: int
    time: str = Field(description="RFC 3339 UTC time the checkpoint was made")
    items: int = Field(description="Items covered")
    records: int = Field(description="History records covered (the sum of the heads' seq)")
    heads_digest: str = Field(description="SHA-256 over the canonical JSON list of [item id, seq, head hash]")
    prev: str = Field(description="Hash of the checkpoint before (64 zeros for the first)")
    key_id: str = Field(description="The signing key's id")


class CheckpointOut(BaseModel):
    """A signed checkpoint: the document `closeloop audit verify --trusted-checkpoint` takes."""

    checkpoint: CheckpointBody
    hash: str = Field(description="SHA-256 of the canonical JSON of checkpoint")
    signature: str = Field(description="Ed25519 signature of the canonical JSON of checkpoint, hex")
    public_key: str | None = Field(default=None, description="The signer's public key (hex), when just made")


class CheckpointList(BaseModel):
    """Checkpoints, newest first."""

    data: list[CheckpointOut]
    next_cursor: str | None


class SigningKeyOut(BaseModel):
    """A public key that signs (or signed) checkpoints."""

    key_id: str = Field(description="First 16 hex digits of SHA-256 over the 32 raw public key bytes")
    algorithm: str = Field(examples=["ed25519"])
    public_key: str = Field(description="The 32 raw public key bytes, hex")
    created_at: str


class SigningKeyList(BaseModel):
    """Every checkpoint signing key, oldest first (rotated keys stay listed)."""

    data: list[SigningKeyOut]

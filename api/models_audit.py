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


class AdminLogEntryOut(BaseModel):
    """One administrative action in the admin log's hash chain (docs/AUDIT.md section 8)."""

    seq: int = Field(description="Position in the one global chain: 1, 2, 3, ... with no gap")
    at: str = Field(description="RFC 3339 UTC time of the action")
    actor: str = Field(description="Who acted: a username (API), `cli:<os user>` (a command) or `system:<os user>` "
                                   "(the process at start)", examples=["adm", "cli:root"])
    action: str = Field(examples=["user.add", "role.grant", "role.revoke", "user.deactivate", "token.issue",
                                  "token.revoke", "webhook.add", "webhook.remove", "unit.add", "workflow.load"])
    target: str = Field(description="What was acted on: `unit:<code>`, `user:<username>`, `webhook:<id>` or "
                                    "`workflow:<name>`", examples=["user:li.ming"])
    before: dict | None = Field(description="The target's relevant state before (null: it did not exist); never a "
                                            "secret (tokens by fingerprint, webhook secrets as \"set\")")
    after: dict | None = Field(description="The target's relevant state after (null: it was removed)")
    prev_hash: str = Field(description="Hash of the entry before (64 zeros for entry 1)")
    hash: str = Field(description="SHA-256 over the canonical JSON of the entry's hashed keys")


class AdminLogPage(BaseModel):
    """A page of the admin log, newest first unless ``order=oldest``."""

    data: list[AdminLogEntryOut]
    next_cursor: str | None

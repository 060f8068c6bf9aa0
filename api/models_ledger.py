"""Response shapes of the ledger routes (documentation of what they answer)."""
from __future__ import annotations

from pydantic import BaseModel, Field


class LedgerImportOut(BaseModel):
    """What an import did, or with dry_run what it would do."""

    created: int = Field(description="Rows registered as new items")
    unchanged: int = Field(description="Rows already here (same source and 外部编号, or same 编号): left as they are")
    dry_run: bool = Field(description="True: nothing was written")

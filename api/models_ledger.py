"""Response shapes of the ledger routes (documentation of what they answer)."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from engine.ledger.differences import COMPARED

ComparedColumn = Literal[COMPARED]  # the seven columns compared, an enum in the OpenAPI document


class LedgerDifference(BaseModel):
    """A row already here whose cells differ from its item: the import left the item as it is."""

    row: int = Field(description="The row as the spreadsheet numbers it (the header's row counted)")
    number: str = Field(description="The item's 编号")
    columns: list[ComparedColumn] = Field(description="The columns whose cells differ from the item, in the "
                                                      "ledger's order")


class LedgerImportOut(BaseModel):
    """What an import did, or with dry_run what it would do."""

    created: int = Field(description="Rows registered as new items")
    unchanged: int = Field(description="Rows already here (same source and 外部编号, or same 编号): left as they are, "
                                       "whether or not their cells differ from the item")
    dry_run: bool = Field(description="True: nothing was written")
    differing: list[LedgerDifference] = Field(
        description="Rows already here whose cells describe their item otherwise (an import never changes an item: "
                    "move it through its workflow), by row; the first 100")
    differing_count: int = Field(description="How many rows already here differ from their item")

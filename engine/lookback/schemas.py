"""Request shapes of the look-back: a draw, and one re-check."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from engine.inputs import Code, Name, _Request

# The most items one look-back re-checks: each is looked at again by hand.
MAX_SAMPLE = 1000
SEED_PATTERN = r"^[\x21-\x7e]{1,64}$"  # visible ASCII: the same bytes whoever types it again
# The history record of a re-check (engine/lookback/recheck.py) and the fields it carries; the chain check
# (engine/audit/replay.py) accepts it only in a closed state that it leaves unchanged.
RECHECK_TRIGGER = "lookback"
RECHECK_FIELDS = frozenset({"lookback", "result"})


class NewLookback(_Request):
    """Draw a sample of closed items: ``size`` items or ``percent`` of them, optionally of one unit or campaign."""

    size: int | None = Field(default=None, ge=1, le=MAX_SAMPLE)
    percent: int | None = Field(default=None, ge=1, le=100, description="Of the matching closed items, rounded up")
    unit: Name | None = Field(default=None, max_length=64, description="This unit and its sub-units")
    campaign: Code | None = Field(default=None, max_length=100)
    seed: str | None = Field(default=None, pattern=SEED_PATTERN,
                             description="1-64 visible ASCII characters; one is generated when left out")

    @model_validator(mode="after")
    def _size_or_percent(self) -> "NewLookback":
        if (self.size is None) == (self.percent is None):
            raise ValueError("give exactly one of size and percent")
        return self


class Recheck(_Request):
    """The result of re-checking one sampled item, with what was found."""

    result: Literal["passed", "failed"]
    note: Name = Field(max_length=5000, description="What the re-check found; a failed one reopens the item with it")

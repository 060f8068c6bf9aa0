"""Request shapes for campaigns: registering one, and correcting its name, issuing body or date."""
from __future__ import annotations

from pydantic import Field

from engine.inputs import Code, IsoDate, Name, _Request


class NewCampaign(_Request):
    """A campaign (专项整治 round or inspection report) to register; items name it by ``code``."""

    code: Code = Field(max_length=100, description="As items name it in their campaign field, e.g. 2026-XC-R1")
    name: Name = Field(max_length=200, description="e.g. 2026年第一轮巡察")
    issued_by: Name = Field(max_length=200, description="The issuing body, e.g. 市委巡察办")
    issued_on: IsoDate


class CampaignChange(_Request):
    """A correction: fields left out stay as they are; the code never changes (items name it)."""

    name: Name | None = Field(default=None, max_length=200)
    issued_by: Name | None = Field(default=None, max_length=200)
    issued_on: IsoDate | None = None

"""Request shapes shared by the API and the command line: typed, bounded, refusing unknown fields."""
from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from engine.text import is_blank

SOURCES = ("inspection", "audit", "supervision", "complaint", "self_check", "other")
SEVERITIES = ("low", "medium", "high", "critical")
LIGHTS = ("green", "yellow", "red", "none")  # the deadline light; "none" while no deadline runs
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")  # ASCII digits only, used with fullmatch (no final newline)


def iso_date(value: object) -> dt.date:
    """A date written 'YYYY-MM-DD', or ValueError saying what is wrong: no timestamps, no other ISO 8601 forms
    (Python's own parser takes 20260105 and 2026-W02-1 too), no impossible days."""
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        raise ValueError("must be a date written YYYY-MM-DD")
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value} is not a real calendar date") from None


def error_message(err: dict) -> str:
    """A pydantic error's message, with an optional text's length told in characters: its limit sits beside
    a validator, and pydantic then says "Value should have at most 100 items after validation, not 101"."""
    ctx = err.get("ctx") or {}
    if err.get("type") in ("too_long", "too_short") and isinstance(err.get("input"), str) \
            and ctx.get("field_type") == "Value":
        bound, limit = ("at most", ctx["max_length"]) if err["type"] == "too_long" else ("at least", ctx["min_length"])
        return f"String should have {bound} {limit} character{'' if limit == 1 else 's'}"
    return err.get("msg", "")


def clean_text(value: str) -> str:
    """Refuse text a database cannot store faithfully: NUL characters and lone surrogates."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text (it contains a lone surrogate)") from None
    return value


def _not_blank(value: str) -> str:
    if is_blank(value):  # zero-width and other invisible characters count as blank too
        raise ValueError("must not be blank")
    return value


def _stripped(value: object) -> object:
    # Before the type's own checks, so that a length limit counts what is kept; strict typing still refuses a
    # value that is not text.
    return value.strip() if isinstance(value, str) else value


# The same rules as JSON Schema patterns, so that clients and generated test data see them: no NUL, and a
# name has at least one character that is not whitespace.
TEXT_PATTERN = r"^[^\u0000]*$"
NAME_PATTERN = r"^[^\u0000]*[^\s\u0000][^\u0000]*$"
IsoDate = Annotated[dt.date, BeforeValidator(iso_date)]
Text = Annotated[str, AfterValidator(clean_text), Field(json_schema_extra={"pattern": TEXT_PATTERN})]
Name = Annotated[str, AfterValidator(clean_text), AfterValidator(_not_blank),
                 Field(json_schema_extra={"pattern": NAME_PATTERN})]
# A reference others match exactly (外部编号): spaces around it are dropped as the web form and a ledger's cells
# drop them, so that a ledger exported here imports back as the same items; empty stays allowed.
Reference = Annotated[str, BeforeValidator(_stripped), AfterValidator(clean_text),
                      Field(json_schema_extra={"pattern": TEXT_PATTERN})]
# A code others match exactly (a campaign's, as items name it): spaces around it are dropped, since " 2026-XC-R1"
# would be another campaign that no filter or reconciliation of 2026-XC-R1 finds; blank is refused.
Code = Annotated[str, BeforeValidator(_stripped), AfterValidator(clean_text), AfterValidator(_not_blank),
                 Field(json_schema_extra={"pattern": NAME_PATTERN})]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class NewItem(_Request):
    """A problem to register (title, source and unit required)."""

    title: Name = Field(min_length=1, max_length=200)
    description: Text = Field(default="", max_length=20000)
    source: Literal["inspection", "audit", "supervision", "complaint", "self_check", "other"]
    severity: Literal["low", "medium", "high", "critical"] = "medium"
    unit: Name = Field(min_length=1, max_length=64)
    due_date: IsoDate | None = None
    workflow: Name | None = Field(default=None, max_length=64)
    measures: Text = Field(default="", max_length=5000)
    assignee: Name | None = Field(default=None, max_length=64)
    external_ref: Reference | None = Field(default=None, max_length=100)
    campaign: Code | None = Field(default=None, max_length=100)
    tags: list[Annotated[Name, Field(max_length=50)]] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _empty_reference_is_none(self) -> "NewItem":
        # An empty 外部编号 is none at all: kept as "", the empty cell of a ledger exported here (which the import
        # reads as no value) would not match its item, and the file would not import back.
        if self.external_ref == "":
            self.external_ref = None
        return self


class Evidence(_Request):
    """A file or link proving the fix, identified by its SHA-256: declared by name (kept elsewhere), or a file
    uploaded for the item (``stored``: the server fills in its name, size and media type)."""

    name: Name | None = Field(default=None, min_length=1, max_length=255)
    sha256: Annotated[str, Field(pattern=r"^[0-9a-fA-F]{64}$"), AfterValidator(str.lower)]
    url: Text | None = Field(default=None, max_length=2000)
    stored: bool = Field(default=False, description="The file was uploaded for this item "
                                                    "(POST /items/{id}/evidence); 422 if it was not")
    size: int | None = Field(default=None, ge=0, description="Only with stored: must be the stored file's size")
    media_type: Text | None = Field(default=None, max_length=127,
                                    description="Only with stored: must be the stored file's media type")

    @model_validator(mode="after")
    def _declared_or_stored(self) -> "Evidence":
        if self.stored:
            if self.url is not None:
                raise ValueError("a stored file is downloaded from closeloop: give no url with stored")
        elif self.name is None:
            raise ValueError("name is required for a file declared by name and hash (or set stored: true)")
        elif self.size is not None or self.media_type is not None:
            raise ValueError("size and media_type are filled in by the server, for stored files only")
        return self


class TransitionFields(_Request):
    """Item fields a transition may set; which ones a given trigger accepts is in its workflow."""

    unit: Name | None = Field(default=None, max_length=64)
    due_date: IsoDate | None = None
    new_due_date: IsoDate | None = None
    assignee: Name | None = Field(default=None, max_length=64)
    measures: Text | None = Field(default=None, max_length=5000)


class TransitionRequest(_Request):
    """Fire a trigger on an item."""

    trigger: Name = Field(min_length=1, max_length=64)
    comment: Text | None = Field(default=None, max_length=5000)
    evidence: list[Evidence] = Field(default_factory=list, max_length=50)
    fields: TransitionFields = Field(default_factory=TransitionFields)

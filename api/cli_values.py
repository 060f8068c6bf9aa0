"""Command-line values read exactly as the HTTP API reads them, so one date means one thing everywhere."""
from __future__ import annotations

import datetime as dt

import typer

from engine.inputs import iso_date


def day(text: str) -> dt.date:
    """A YYYY-MM-DD option's date; anything else is a usage error naming the option (exit 2)."""
    try:
        return iso_date(text)
    except ValueError as exc:
        raise typer.BadParameter(f"{text!r}: {exc}") from None

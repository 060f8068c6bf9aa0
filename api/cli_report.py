"""``closeloop report``: the summary report as a table in the terminal, the figures GET /reports/summary gives."""
from __future__ import annotations

import datetime as dt
import unicodedata
from typing import Annotated, Callable, Optional

import typer

from api.cli_values import day
from engine.accounts import Actor
from engine.audit.actors import cli_actor

COLUMNS = (("total", "total"), ("open", "open"), ("closed", "closed"), ("overdue", "overdue"),
           ("closure_rate", "closure"), ("overdue_rate", "overdue%"), ("on_time_rate", "on time"),
           ("avg_days_to_close", "avg days"), ("reopened", "reopened"), ("reopen_rate", "reopen%"))


def operator() -> Actor:
    """The operator at the terminal: reads every unit, as an auditor does (the database is theirs anyway)."""
    return Actor(user_id=0, username=cli_actor(), roles=frozenset({"auditor"}), unit_id=0, unit_code="", unit_path="/")


def _width(text: str) -> int:
    """Columns a text takes in a terminal: CJK characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _cell(value: object) -> str:
    if value is None:
        return "-"
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def table(report: dict) -> list[str]:
    """The report as aligned text lines: one per group, then the totals."""
    header = ["group", *(title for _, title in COLUMNS)]
    rows = []
    for group in [*report["groups"], {"key": "TOTAL", "label": None, **report["totals"]}]:
        name = group["key"] if group["key"] is not None else "(none)"
        if group.get("label"):
            name = f"{name} {group['label']}"
        rows.append([name, *(_rate(group[k]) if k.endswith("_rate") else _cell(group[k]) for k, _ in COLUMNS)])
    widths = [max(_width(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = []
    for row in [header, *rows]:
        first = row[0] + " " * (widths[0] - _width(row[0]))
        lines.append("  ".join([first, *(cell.rjust(w) for cell, w in zip(row[1:], widths[1:]))]))
    return lines


def register(app: typer.Typer, runtime: Callable) -> None:
    """Add the ``report`` command to the ``closeloop`` app."""

    @app.command("report")
    def report(by: Annotated[str, typer.Option("--by", help="unit, source, severity, workflow or campaign.")] = "unit",
               date_from: Annotated[Optional[dt.date], typer.Option(
                   "--from", parser=day, metavar="YYYY-MM-DD", help="First registration day.")] = None,
               date_to: Annotated[Optional[dt.date], typer.Option(
                   "--to", parser=day, metavar="YYYY-MM-DD", help="Last registration day.")] = None) -> None:
        """Print the summary report (closure, overdue, on-time and reopen figures) per group, all units."""
        from engine.errors import DomainError
        from engine.reports.summary import GROUPS, SummaryQuery, summary

        if by not in GROUPS:
            typer.echo(f"error: --by is one of {', '.join(GROUPS)}", err=True)
            raise typer.Exit(2)
        rt = runtime()
        query = SummaryQuery(group_by=by, date_from=date_from, date_to=date_to, today=rt.today())
        try:
            with rt.store.read() as conn:
                result = summary(conn, operator(), rt.registry, query, rt.settings.tz)
        except DomainError as exc:
            typer.echo(f"error: {exc.detail}", err=True)
            raise typer.Exit(2) from None
        for line in table(result):
            typer.echo(line)

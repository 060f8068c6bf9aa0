"""Ledger commands: ``closeloop export ledger FILE`` (with a progress bar) and ``closeloop import FILE``."""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Optional

import typer

from api.cli_values import day
from engine.errors import DomainError

export_app = typer.Typer(help="Export data as the files offices exchange.", no_args_is_help=True)


def _fail(message: str, code: int = 1) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _actor(rt, username: Optional[str]):
    """The user a command acts as (their roles and scope apply), or, without one, a reader of every unit."""
    from engine import accounts
    from engine.audit.actors import cli_actor

    if username is None:
        return accounts.Actor(0, cli_actor(), frozenset({"auditor"}), 0, "", "/")
    with rt.store.read() as conn:
        row = accounts.user_by_username(conn, username)
    if row is None or not row.active:
        _fail(f"user {username!r} does not exist or is inactive")
    return accounts.Actor(row.id, row.username, frozenset(row.roles.split(",")), row.unit_id, row.unit_code,
                          row.unit_path)


def _values(given: Optional[list[str]]) -> Optional[list[str]]:
    return given or None


def register(app: typer.Typer, runtime) -> None:
    """Add ``export ledger`` and ``import`` to the ``closeloop`` command line; ``runtime()`` opens the deployment."""
    app.add_typer(export_app, name="export")

    @export_app.command("ledger")
    def export_ledger(
        file: Annotated[Path, typer.Argument(help="Where to write: .xlsx or .csv (by the name's ending).")],
        state: Annotated[Optional[list[str]], typer.Option(help="Only this state; repeat for several.")] = None,
        unit: Annotated[Optional[list[str]], typer.Option(help="Only this unit's subtree; repeat for several.")] = None,
        source: Annotated[Optional[list[str]], typer.Option(help="Only this source; repeat for several.")] = None,
        campaign: Annotated[Optional[list[str]], typer.Option(help="Only this campaign; repeat for several.")] = None,
        overdue: Annotated[Optional[bool], typer.Option("--overdue/--not-overdue", help="Only overdue items, or "
                                                        "only those not overdue.")] = None,
        as_of: Annotated[Optional[dt.date], typer.Option("--as-of", parser=day, metavar="YYYY-MM-DD",
                                                         help="The ledger as it stood at the end of this day.")] = None,
        as_user: Annotated[Optional[str], typer.Option("--as", help="Export what this user may see (default: "
                                                       "every unit).")] = None,
    ) -> None:
        """Write the 台账 ledger with the item list's filters, showing progress."""
        from engine import queries
        from engine.inputs import SOURCES
        from engine.ledger import writers
        from engine.ledger.export import count_rows, ledger_rows

        suffix = file.suffix.lower()
        if suffix not in (".xlsx", ".csv"):
            _fail("the file name must end in .xlsx or .csv")
        rt = runtime()
        actor = _actor(rt, as_user)
        if as_of is not None and as_of > rt.today():
            _fail(f"--as-of {as_of} is in the future")
        given = {"state": state, "unit": unit, "source": source, "campaign": campaign}
        filters = queries.ItemFilters(overdue=overdue, **{n: queries.split_values(n, v) for n, v in given.items()})
        try:
            queries.check_known_values(filters, rt.registry, {"source": SOURCES})
            total = count_rows(rt, actor, filters)
            rows = ledger_rows(rt, actor, filters, as_of=as_of)
            with typer.progressbar(length=total, label=f"writing {file.name}") as bar:
                counted = _Counted(rows, bar)
                if suffix == ".xlsx":
                    writers.write_xlsx(counted, str(file))
                else:
                    with open(file, "wb") as out:
                        for chunk in writers.csv_chunks(counted):
                            out.write(chunk)
            written = counted.count
        except DomainError as exc:
            _fail(exc.detail)
        typer.echo(f"{written} rows written to {file}")

    @app.command("import")
    def import_file(
        file: Annotated[Path, typer.Argument(help="The ledger, .xlsx or .csv.", exists=True, dir_okay=False)],
        as_user: Annotated[str, typer.Option("--as", help="The registrar, supervisor or admin the items are "
                                             "registered by (their unit scope applies).")],
        dry_run: Annotated[bool, typer.Option("--dry-run", help="Check every row and count, write nothing.")] = False,
        workflow: Annotated[Optional[str], typer.Option(help="The workflow of the new items.")] = None,
    ) -> None:
        """Import a 台账 ledger: every row or none; the rows at fault are listed by row and column."""
        from engine.ledger.importing import LedgerRejected, import_ledger

        rt = runtime()
        actor = _actor(rt, as_user)
        # At most one byte past the limit is read: a larger file (or /dev/zero) is refused without being held.
        with open(file, "rb") as handle:
            data = handle.read(rt.settings.ledger_max_bytes + 1)
        try:
            result = import_ledger(rt, actor, data, dry_run=dry_run, workflow=workflow)
        except LedgerRejected as exc:
            for error in exc.extra["errors"]:
                typer.echo(f"row {error['row']}, {error['column']}: {error['detail']}", err=True)
            listed, total = len(exc.extra["errors"]), exc.extra["error_count"]
            _fail(f"{total} row error(s)" + (f" (the first {listed} listed)" if total > listed else "")
                  + "; nothing was imported")
        except DomainError as exc:
            _fail(exc.detail)
        verb = "would create" if dry_run else "created"
        differ = f" ({result.differing_count} of them differ from their item)" if result.differing_count else ""
        typer.echo(f"{verb} {result.created} item(s); {result.unchanged} row(s) already here, unchanged{differ}")
        # The office's edits to an item are not taken: each row that holds some says so, rather than being lost.
        for row in result.differing:
            typer.echo(f"row {row['row']} differs from item {row['number']} in {', '.join(row['columns'])}: the item "
                       "is left as it is (an import never changes an item; move it through its workflow)")
        if result.differing_count > len(result.differing):
            typer.echo(f"... and {result.differing_count - len(result.differing)} more row(s) that differ")


class _Counted:
    """Rows passed on to a writer, counted and shown on the progress bar as they go."""

    def __init__(self, rows, bar) -> None:
        self.rows, self.bar, self.count = rows, bar, 0

    def __iter__(self):
        for row in self.rows:
            self.count += 1
            self.bar.update(1)
            yield row

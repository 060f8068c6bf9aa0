"""The ``closeloop db`` commands: the PostgreSQL set-up with an owner role and a restricted application role."""
from __future__ import annotations

from typing import Annotated, Optional

import typer

db_app = typer.Typer(help="PostgreSQL set-up: the owner role that migrates, the application role that may not "
                          "change the history.", no_args_is_help=True)


@db_app.command("roles")
def roles(owner: Annotated[str, typer.Option(help="The role that owns the schema and runs the migrations.")]
          = "closeloop_owner",
          app: Annotated[str, typer.Option(help="The role the service connects as (CLOSELOOP_DB_APP_ROLE).")]
          = "closeloop_app",
          database: Annotated[str, typer.Option(help="The database to make.")] = "closeloop",
          owner_password: Annotated[Optional[str], typer.Option(
              help="The owner's password; unset, the script takes it from psql: -v owner_password=...")] = None,
          app_password: Annotated[Optional[str], typer.Option(
              help="The application role's password; unset: psql -v app_password=...")] = None,
          existing: Annotated[bool, typer.Option("--existing", help="The database exists (migrated by another "
                                                   "role): hand it and its tables over to the owner role.")] = False,
          grants: Annotated[bool, typer.Option("--grants", help="Print only the table grants that every "
                                               "`closeloop migrate` applies, for the owner to run by hand.")] = False,
          ) -> None:
    """Print the SQL (a psql script) making the roles, the database and its schema; run it as a superuser."""
    from engine.dbroles.setup import RolePlan, grants_script, setup_script

    try:
        plan = RolePlan(owner=owner, app=app, database=database)
        typer.echo(grants_script(plan) if grants else setup_script(plan, owner_password, app_password,
                                                                      existing=existing), nl=False)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def register(app: typer.Typer) -> None:
    """Add ``closeloop db`` to the command line."""
    app.add_typer(db_app, name="db")

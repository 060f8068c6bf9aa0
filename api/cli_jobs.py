"""Commands that run the background work: ``closeloop sweep --once`` and ``closeloop worker``."""
from __future__ import annotations

import signal
import sys
from typing import Annotated

import typer


def register(app: typer.Typer, runtime) -> None:
    """Add the job commands to the ``closeloop`` command line; ``runtime()`` opens the deployment."""

    @app.command()
    def sweep(once: Annotated[bool, typer.Option("--once", help="Run one pass and exit (the only mode).")] = False
              ) -> None:
        """Run one sweep for due reminders and escalations and one delivery pass, then exit."""
        from engine.jobs import run_pass

        if not once:
            typer.echo("error: say --once (for a process that keeps sweeping, run `closeloop worker`)", err=True)
            raise typer.Exit(2)
        from engine.errors import DomainError

        try:
            result = run_pass(runtime())
        except DomainError as exc:  # the database is busy with another writer: say so, change nothing
            typer.echo(f"error: {exc.detail}", err=True)
            raise typer.Exit(1) from None
        swept, sent = result.sweep, result.delivery
        typer.echo(f"sweep {swept.batch}: {swept.claimed} items due, {swept.issued} notices issued, "
                   f"{swept.superseded} superseded")
        typer.echo(f"delivery: {sent.outbox_rows} events fanned out, {sent.attempts} attempts, {sent.delivered} "
                   f"delivered, {sent.failed_attempts} failed (to be retried), {sent.given_up} given up")

    @app.command()
    def worker() -> None:
        """Sweep and deliver on the configured interval without serving the API (Ctrl-C or SIGTERM stops)."""
        from engine.jobs import scheduler

        rt = runtime()
        typer.echo(f"worker: sweeping every {rt.settings.sweep_interval_seconds} s", err=True)
        # SIGTERM (systemd, docker, kill) ends the worker as cleanly as Ctrl-C: a pass in flight rolls back.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        try:
            scheduler(rt, blocking=True).start()
        except (KeyboardInterrupt, SystemExit):
            pass

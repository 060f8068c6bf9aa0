"""The ``closeloop audit`` commands: verify (the database, or a bundle offline), checkpoint, rotate-key, export."""
from __future__ import annotations

import datetime as dt
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from api.cli_values import day


def _fail(message: str, code: int = 2) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _report_admin_log(check: dict | None) -> None:
    """Print the admin log's first bad entry to stderr, when there is one."""
    bad = (check or {}).get("first_bad")
    if bad is not None:
        where = f"entry {bad['seq']}" if bad["seq"] is not None else "the log as a whole"
        typer.echo(f"error: admin log broken at {where}: {bad['reason']}", err=True)


def _report_broken(bad: dict | None, workflow_problems: list[dict], tail: str) -> None:
    """Print each bad workflow version and the first bad record to stderr, then exit 2."""
    for problem in workflow_problems:
        typer.echo(f"workflow version {problem['hash']} ({problem['name']}): {problem['reason']}", err=True)
    if bad is not None:
        where = f"item {bad['item']} seq {bad['seq']}" if bad["seq"] is not None else f"item {bad['item']}"
        typer.echo(f"error: chain broken at {where}: {bad['reason']} ({tail})", err=True)
    raise typer.Exit(2)


def _verify_database(with_evidence: bool) -> None:
    from engine.audit.verify import verify_database
    from engine.config import Settings
    from engine.store import Store
    from engine.store.revisions import SchemaNotReady, require_schema_at_head

    settings = Settings()
    store = Store(settings.database_url)
    try:
        require_schema_at_head(store)  # a clear message instead of a traceback about missing tables
    except SchemaNotReady as exc:
        _fail(str(exc), 1)
    with store.read() as conn:
        result = verify_database(conn)
    evidence_problems = _verify_stored_evidence(store, settings) if with_evidence else []
    if result.ok and not evidence_problems:
        typer.echo(f"ok: {result.records} records, head {result.head}; admin log {result.admin_log['entries']} "
                   f"entries, head {result.admin_log['head']}")
        return
    for problem in evidence_problems:
        typer.echo(f"error: {problem}", err=True)
    if result.ok:
        raise typer.Exit(2)
    _report_admin_log(result.admin_log)
    _report_broken(result.first_bad, result.workflow_problems,
                   f"the oldest broken item; {result.records} records intact")


def _verify_stored_evidence(store, settings) -> list[str]:
    """Every stored evidence file checked against its SHA-256; the count is printed, the problems returned."""
    from engine.audit.evidence import verify_stored_files
    from engine.evidence.storage import store_for

    with store.read() as conn:
        checked, problems = verify_stored_files(conn, store_for(settings))
    typer.echo(f"evidence: {checked} stored files checked, {len(problems)} missing or changed", err=True)
    return problems


def _read_key(value: str) -> bytes:
    from engine.audit.bundle_verify import BundleError, parse_public_key

    path = Path(value)
    try:
        if len(value) < 4096 and path.is_file():
            with open(path, "rb") as handle:
                text = handle.read(4096).decode("utf-8")
        else:
            text = value
    except UnicodeDecodeError:
        raise BundleError(f"{value}: not a public key (a file of 64 hex digits or a PEM key)") from None
    return parse_public_key(text)


def _verify_bundle(bundle: Path, trusted: Optional[Path], keys: list[str], as_json: bool, workers: int,
                   with_evidence: bool, complete: bool) -> None:
    from engine.audit.bundle_verify import BundleError, verify_bundle

    try:
        document = None
        if trusted is not None:
            try:
                document = json.loads(trusted.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise BundleError(f"--trusted-checkpoint {trusted}: not a readable JSON document ({exc})") from None
        public = [_read_key(k) for k in keys] or None
        report = verify_bundle(bundle, trusted_checkpoint=document, public_keys=public, workers=workers,
                               with_evidence=with_evidence, complete=complete)
    except BundleError as exc:
        _fail(str(exc))
    if as_json:
        typer.echo(json.dumps({"ok": report.ok, "items": report.items, "records": report.records,
                               "checkpoints": report.checkpoints, "findings": report.findings,
                               "problems": report.problems, "workflow_problems": report.workflow_problems,
                               "notes": report.notes, "admin_log": report.admin_log}, ensure_ascii=False))
    for note in report.notes:
        typer.echo(f"note: {note}", err=True)
    if report.ok:
        if not as_json:
            typer.echo(f"ok: {report.items} items, {report.records} records, {report.checkpoints} checkpoints, "
                       f"{report.admin_log['entries']} admin log entries verified")
        return
    for problem in report.problems:
        typer.echo(f"error: {problem}", err=True)
    _report_admin_log(report.admin_log)
    _report_broken(report.first_bad, report.workflow_problems, f"the oldest of {len(report.findings)} broken items")


def register(audit_app: typer.Typer, runtime) -> None:
    """Add the audit commands; ``runtime()`` opens the deployment (verify BUNDLE never does)."""

    @audit_app.command("verify")
    def verify(bundle: Annotated[Optional[Path], typer.Argument(
                   help="A bundle from `closeloop audit export`, checked offline; without it, the database.")] = None,
               trusted_checkpoint: Annotated[Optional[Path], typer.Option(
                   "--trusted-checkpoint", help="A checkpoint document you kept (`closeloop audit checkpoint -o`).")
               ] = None,
               public_key: Annotated[Optional[list[str]], typer.Option(
                   "--public-key", help="A signing key you trust (hex, base64 or PEM, or a file); repeat for "
                                        "several. Without it, the keys inside the bundle are used.")] = None,
               as_json: Annotated[bool, typer.Option("--json", help="Print the full report as JSON.")] = False,
               with_evidence: Annotated[bool, typer.Option(
                   "--with-evidence", help="Also check the evidence files against their SHA-256: those in the "
                                           "store (database check), or those a bundle must carry.")] = False,
               complete: Annotated[bool, typer.Option(
                   "--complete", help="Refuse a filtered bundle: you exported every item, so every item a "
                                      "checkpoint covered must be in it.")] = False,
               workers: Annotated[int, typer.Option(
                   "--workers", min=1, max=64, help="Processes checking the items of a bundle (default: the CPUs).")
               ] = min(os.cpu_count() or 1, 8)) -> None:
        """Check the history: the database's chains, or a bundle offline; name the first broken record."""
        if bundle is None:
            if trusted_checkpoint is not None or public_key or complete:
                _fail("--trusted-checkpoint, --public-key and --complete apply to a bundle: give its file")
            _verify_database(with_evidence)
            return
        _verify_bundle(bundle, trusted_checkpoint, public_key or [], as_json, workers, with_evidence, complete)

    @audit_app.command("checkpoint")
    def checkpoint(output: Annotated[Optional[Path], typer.Option(
                       "-o", "--output", help="Also write the checkpoint document to this file.")] = None) -> None:
        """Make a signed checkpoint now and print it (the document --trusted-checkpoint takes)."""
        from engine.audit.checkpoint import checkpoint_now
        from engine.errors import DomainError

        # The file is opened before the checkpoint is signed and stored: a path that cannot be written fails
        # the command while nothing has changed yet.
        out = open(output, "w", encoding="utf-8") if output is not None else None
        try:
            doc = checkpoint_now(runtime())
        except BaseException as exc:
            if out is not None:
                out.close()
                output.unlink(missing_ok=True)
            if isinstance(exc, DomainError):
                _fail(exc.detail)
            raise
        text = json.dumps(doc, ensure_ascii=False, indent=2)
        if out is not None:
            with out:
                out.write(text + "\n")
        typer.echo(text)

    @audit_app.command("rotate-key")
    def rotate_key() -> None:
        """Make a new signing key for future checkpoints; old checkpoints keep verifying with their keys."""
        from engine.audit.keys import KeyRing
        from engine.audit.keys import register as register_key

        rt = runtime()
        key = KeyRing(rt.settings.audit_keys_path).rotate()
        with rt.store.write() as conn:
            register_key(conn, key, rt.clock.now())
        typer.echo(f"new signing key {key.key_id} (public key {key.public_hex})")

    @audit_app.command("export")
    def export(file: Annotated[Path, typer.Argument(help="Where to write the bundle (a zip); '-' for stdout.")],
               unit: Annotated[Optional[str], typer.Option(help="Only this unit's subtree.")] = None,
               campaign: Annotated[Optional[str], typer.Option(help="Only this campaign.")] = None,
               date_from: Annotated[Optional[dt.date], typer.Option(
                   "--from", parser=day, metavar="YYYY-MM-DD", help="Items registered on or after this date.")] = None,
               date_to: Annotated[Optional[dt.date], typer.Option(
                   "--to", parser=day, metavar="YYYY-MM-DD", help="Items registered on or before this date.")] = None,
               with_evidence: Annotated[bool, typer.Option(
                   "--with-evidence", help="Also carry the stored evidence files the items refer to.")] = False) -> None:
        """Write the audit bundle: items, full histories, workflow versions, checkpoints and public keys."""
        from engine.audit.bundle import Filters, checked_filters, stream_bundle

        filters = Filters(unit=unit, campaign=campaign, date_from=date_from, date_to=date_to)
        rt = runtime()
        filters = checked_filters(rt, filters)  # before the file is made: a refusal leaves none behind
        out = sys.stdout.buffer if str(file) == "-" else open(file, "wb")
        try:
            for chunk in stream_bundle(rt, filters, with_evidence=with_evidence):
                out.write(chunk)
        finally:
            if out is not sys.stdout.buffer:
                out.close()
        if str(file) != "-":
            typer.echo(f"bundle written to {file}", err=True)

"""The ``closeloop`` command line: serve, migrate, demo, units, users, audit, workflows, webhooks, db."""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from api import cli_audit, cli_db, cli_jobs, cli_ledger, cli_report
from api.cli_errors import plain_error
from engine.audit.actors import cli_actor
from engine.config import Settings
from engine.errors import CalendarError, DomainError, WorkflowError
from engine.store import Store, safe_url
from engine.store.migrate import migrate as run_migrations
from engine.store.revisions import SchemaNotReady

app = typer.Typer(help="closeloop: rectification (整改) closed-loop workflow engine.", no_args_is_help=True,
                  add_completion=False)
unit_app = typer.Typer(help="Units (责任单位), which form a tree.", no_args_is_help=True)
user_app = typer.Typer(help="Users, their roles and tokens.", no_args_is_help=True)
audit_app = typer.Typer(help="The trusted history: verify it, sign checkpoints, export bundles.", no_args_is_help=True)
wf_app = typer.Typer(help="Workflow files: check them, draw them.", no_args_is_help=True)
calendar_app = typer.Typer(help="The working-day calendar (holidays and 调休) and where each year comes from.",
                           no_args_is_help=True)
app.add_typer(unit_app, name="unit")
app.add_typer(user_app, name="user")
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
app.add_typer(token_app, name="token")
app.add_typer(audit_app, name="audit")
app.add_typer(wf_app, name="workflows")
app.add_typer(calendar_app, name="calendar")
webhook_app = typer.Typer(help="Webhooks and group robots (DingTalk, WeCom, Feishu) that hear events.",
                          no_args_is_help=True)
app.add_typer(webhook_app, name="webhook")


def _fail(message: str, code: int = 1) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _runtime():
    from engine.runtime import Runtime

    try:
        return Runtime.open(Settings())
    except SchemaNotReady as exc:
        _fail(str(exc))
    except WorkflowError as exc:
        _fail("workflow files are invalid:\n" + str(exc))
    except DomainError as exc:  # opening records workflow versions: a write that can find the lock taken
        _fail(exc.detail)
    except CalendarError as exc:
        _fail("the calendar file is invalid:\n" + str(exc))


@app.command()
def serve(host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
          port: Annotated[int, typer.Option(envvar="PORT", help="Port to listen on.")] = 8000,
          workers: Annotated[int, typer.Option(min=1, max=64, help="Processes serving the port (each with its own "
                                               "database pool; PostgreSQL for more than one or two).")] = 1,
          no_scheduler: Annotated[bool, typer.Option("--no-scheduler", help="Do not sweep or deliver in this "
                                                      "process (run `closeloop worker` elsewhere).")] = False) -> None:
    """Serve the HTTP API, sweeping and delivering in the background (refuses an unmigrated database)."""
    from api import server

    server.run(_runtime(), host=host, port=port, workers=workers, with_scheduler=not no_scheduler)


@app.command()
def migrate() -> None:
    """Create or upgrade the database schema to the newest migration (as CLOSELOOP_MIGRATION_DATABASE_URL's role)."""
    import sqlalchemy as sa

    settings = Settings()
    store = Store(settings.migration_url, lock_timeout=settings.write_lock_timeout)
    role = settings.db_app_role if not store.is_sqlite else None
    try:
        run_migrations(store, app_role=role)
    except SchemaNotReady as exc:  # the application role is missing or would hold other privileges
        _fail(str(exc))
    except sa.exc.ProgrammingError as exc:
        if getattr(exc.orig, "sqlstate", None) != "42501":  # insufficient_privilege
            raise
        _fail(f"the database refused a schema change ({str(exc.orig).splitlines()[0]}): run the migrations as the "
              f"role that owns the schema, CLOSELOOP_MIGRATION_DATABASE_URL (docs/POSTGRES.md)")
    finally:
        store.dispose()
    typer.echo(f"database {safe_url(store.url)} is at the newest schema")
    if role:
        typer.echo(f"role {role} holds exactly the privileges closeloop needs (no UPDATE, DELETE or TRUNCATE "
                   f"on the append-only tables)")
    elif settings.db_app_role:
        typer.echo("CLOSELOOP_DB_APP_ROLE is ignored: SQLite has no roles (docs/POSTGRES.md)")


@app.command()
def demo() -> None:
    """Load a demo city (units, one user per role, ~50 items) once; print fresh tokens for the demo users."""
    from engine.demo import load_demo

    rt = _runtime()
    created, tokens, passwords = load_demo(rt)
    typer.echo("demo data loaded" if created else "demo data already present; issued fresh tokens and passwords")
    typer.echo("demo web sign-in at /signin (passwords shown once; stored only as Argon2 hashes):")
    for username, password in passwords.items():
        typer.echo(f"  web sign-in: {username} / {password}")
    typer.echo("demo tokens (shown once; stored only as hashes):")
    for username, (roles, token) in tokens.items():
        typer.echo(f"  {username:<12} {','.join(roles):<22} {token}")


@unit_app.command("add")
def unit_add(code: str, name: Annotated[str, typer.Option("--name", help="Display name, e.g. 市教委.")],
             parent: Annotated[Optional[str], typer.Option("--parent", help="Parent unit code.")] = None) -> None:
    """Add a unit."""
    from engine import accounts

    rt = _runtime()
    try:
        with rt.store.write() as conn:
            accounts.add_unit(conn, clock=rt.clock, actor=cli_actor(), code=code, name=name, parent=parent)
    except DomainError as exc:
        _fail(exc.detail)
    typer.echo(f"unit {code} added")


@unit_app.command("list")
def unit_list() -> None:
    """List units as a tree."""
    from engine import accounts

    rt = _runtime()
    with rt.store.read() as conn:
        for unit in accounts.list_units(conn):
            typer.echo(f"{'  ' * unit['depth']}{unit['code']}  {unit['name']}")


@user_app.command("add")
def user_add(username: str,
             role: Annotated[list[str], typer.Option("--role", help="registrar, supervisor, assignee, verifier, "
                                                     "auditor or admin; repeat for several.")],
             unit: Annotated[str, typer.Option("--unit", help="The user's unit code.")],
             name: Annotated[str, typer.Option("--name", help="Display name.")] = "",
             email: Annotated[Optional[str], typer.Option("--email", help="Where e-mail reminders go.")] = None) -> None:
    """Add a user; the new token is printed alone on the last line."""
    from engine import accounts

    rt = _runtime()
    try:
        with rt.store.write() as conn:
            _user, token = accounts.add_user(conn, clock=rt.clock, actor=cli_actor(), username=username, roles=role, unit=unit,
                                             display_name=name, email=email)
    except DomainError as exc:
        _fail(exc.detail)
    typer.echo(f"user {username} added with roles {', '.join(sorted(set(role)))} in {unit}; token (shown once):")
    typer.echo(token)


@user_app.command("token")
def user_token(username: str) -> None:
    """Issue another token for a user; printed alone on the last line."""
    from engine import accounts

    rt = _runtime()
    try:
        with rt.store.write() as conn:
            token = accounts.new_token_for(conn, clock=rt.clock, actor=cli_actor(), username=username)
    except DomainError as exc:
        _fail(exc.detail)
    typer.echo(f"new token for {username} (shown once):")
    typer.echo(token)


@user_app.command("password")
def user_password(username: str) -> None:
    """Set a user's web sign-in password: prompted for (twice) at a terminal, else read from standard input."""
    from engine.people.passwords import set_password

    if sys.stdin.isatty():
        password = typer.prompt("new password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    rt = _runtime()
    try:
        with rt.store.write() as conn:
            set_password(conn, clock=rt.clock, actor=cli_actor(), username=username, password=password)
    except DomainError as exc:
        _fail(exc.detail)
    typer.echo(f"password of {username} set; they sign in at /signin")


@user_app.command("set")
def user_set(username: str,
             role: Annotated[Optional[list[str]], typer.Option("--role", help="Replace the roles; repeat for several.")] = None,
             unit: Annotated[Optional[str], typer.Option("--unit", help="Move to this unit.")] = None,
             email: Annotated[Optional[str], typer.Option("--email", help="New e-mail address; '' removes it.")] = None,
             name: Annotated[Optional[str], typer.Option("--name", help="New display name.")] = None,
             active: Annotated[Optional[bool], typer.Option("--active/--inactive",
                                                            help="--inactive: their tokens stop working at once and "
                                                                 "they receive no reminders.")] = None) -> None:
    """Change a user's roles, unit, e-mail, display name or active flag."""
    from engine.people.users import update_user

    given = {"roles": role, "unit": unit, "display_name": name, "active": active}
    changes = {k: v for k, v in given.items() if v is not None}
    if email is not None:
        changes["email"] = email.strip() or None
    if not changes:
        _fail("give at least one of --role, --unit, --email, --name, --active/--inactive")
    rt = _runtime()
    try:
        with rt.store.write() as conn:
            user = update_user(conn, username, changes, clock=rt.clock, actor=cli_actor())
    except DomainError as exc:
        _fail(exc.detail)
    typer.echo(f"user {username}: roles {', '.join(user['roles'])}; unit {user['unit']}; "
               f"e-mail {user['email'] or 'none'}; {'active' if user['active'] else 'INACTIVE'}")
    if user["assigned_open_items"]:
        typer.echo(f"{user['assigned_open_items']} open item(s) name {username} as assignee; a supervisor hands them "
                   f"on with the 'transfer' trigger if {username} no longer does that work")


@user_app.command("tokens")
def user_tokens(username: str) -> None:
    """List a user's tokens: id, label, dates, revoked or not (never the tokens themselves)."""
    from engine.people.tokens import list_tokens

    rt = _runtime()
    try:
        with rt.store.read() as conn:
            tokens = list_tokens(conn, username)
    except DomainError as exc:
        _fail(exc.detail)
    for token in tokens:
        state = f"revoked {token['revoked_at']}" if token["revoked"] else "active"
        typer.echo(f"{token['id']:>6}  {token['created_at']}  {state:<38} {token['label']}")


@token_app.command("revoke")
def token_revoke(username: str, token_id: Annotated[int, typer.Argument(help="The id `user tokens` lists.")]) -> None:
    """Revoke one of a user's tokens: it stops working at once."""
    from engine.people.tokens import revoke_token

    rt = _runtime()
    try:
        with rt.store.write() as conn:
            token = revoke_token(conn, clock=rt.clock, actor=cli_actor(), username=username, token_id=token_id)
    except DomainError as exc:
        _fail(exc.detail)
    typer.echo(f"token {token_id} of {username} revoked at {token['revoked_at']}")


@wf_app.command("check")
def workflows_check(path: Path) -> None:
    """Check a workflow file or folder; exit 1 listing every problem (file:line: key: problem)."""
    from engine.definitions import load_path

    try:
        found = load_path(path)
    except WorkflowError as exc:
        for problem in exc.problems:
            typer.echo(problem, err=True)
        raise typer.Exit(1) from None
    for name, wf in sorted(found.items()):
        typer.echo(f"ok: {name} v{wf.version} ({wf.title.zh} / {wf.title.en}), {len(wf.states)} states, "
                   f"{len(wf.transitions)} transitions, hash {wf.content_hash()[:12]}")


@wf_app.command("graph")
def workflows_graph(name: str,
                    path: Annotated[Optional[Path], typer.Option(help="Workflow folder or file.")] = None,
                    lang: Annotated[str, typer.Option(help="zh or en titles.")] = "zh") -> None:
    """Print a workflow as a Mermaid state diagram."""
    from engine.definitions import load_path
    from engine.definitions.diagram import mermaid

    if lang not in ("zh", "en"):
        _fail("--lang is zh or en")
    try:
        found = load_path(path or Settings().workflows_dir)
    except WorkflowError as exc:
        _fail("workflow files are invalid:\n" + str(exc))
    if name not in found:
        _fail(f"no workflow named {name!r} (known: {', '.join(sorted(found))})")
    typer.echo(mermaid(found[name], lang), nl=False)


@webhook_app.command("add")
def webhook_add(url: str,
                event: Annotated[list[str], typer.Option("--event", help="item.created, item.transitioned, "
                                                         "reminder.due_soon, reminder.overdue, escalation.issued or "
                                                         "audit.checkpoint; repeat for several.")],
                kind: Annotated[str, typer.Option("--kind", help="generic, dingtalk, wecom or feishu.")] = "generic",
                unit: Annotated[Optional[str], typer.Option("--unit", help="Only this unit's subtree.")] = None,
                secret: Annotated[Optional[str], typer.Option("--secret", help="The DingTalk or Feishu robot's "
                                                              "signing secret (加签).")] = None) -> None:
    """Add an endpoint; a generic one's whsec_ signing secret is printed once, alone on the last line."""
    from engine.delivery import endpoints

    rt = _runtime()
    try:
        with rt.store.write() as conn:
            view, made = endpoints.add_endpoint(conn, clock=rt.clock, settings=rt.settings, created_by=cli_actor(),
                                                new=endpoints.NewEndpoint(url=url, kind=kind, events=event, unit=unit,
                                                                          secret=secret))
    except DomainError as exc:
        _fail(exc.detail)
    typer.echo(f"webhook {view['id']} added: {view['kind']} {view['url']} hears {', '.join(view['events'])}"
               + (f" in {view['unit']}" if view["unit"] else ""))
    if made:
        typer.echo("signing secret (shown once):")
        typer.echo(made)


@webhook_app.command("list")
def webhook_list() -> None:
    """List endpoints (robot tokens in URLs hidden)."""
    from engine.delivery import endpoints

    rt = _runtime()
    with rt.store.read() as conn:
        for view in endpoints.list_endpoints(conn):
            state = "active" if view["active"] else f"disabled: {view['disabled_reason']}"
            typer.echo(f"{view['id']:>4}  {view['kind']:<8} {state:<10} {view['url']}  "
                       f"[{', '.join(view['events'])}]" + (f" unit {view['unit']}" if view["unit"] else ""))


@webhook_app.command("test")
def webhook_test(webhook_id: int) -> None:
    """Send a test message to an endpoint now; exit 1 if it did not arrive."""
    from engine.delivery import endpoints, status, worker

    rt = _runtime()
    try:
        with rt.store.write() as conn:
            delivery_id = endpoints.queue_test(conn, clock=rt.clock, endpoint_id=webhook_id)
    except DomainError as exc:
        _fail(exc.detail)
    worker.send_now(rt, delivery_id)
    with rt.store.read() as conn:
        sent = status.delivery(conn, delivery_id)
    if sent["status"] == "delivered":
        typer.echo(f"delivered ({sent['log'][-1]['status_code']}, {sent['log'][-1]['latency_ms']} ms), "
                   f"webhook-id {sent['message_id']}")
        return
    reason = sent["last_error"] or "not sent yet: the robot's rate limit is full, it goes with the next delivery pass"
    _fail(f"not delivered: {reason}")


@calendar_app.command("show")
def calendar_show(year: Annotated[int, typer.Argument(help="The year, e.g. 2027.", min=1950, max=2199)]) -> None:
    """Print what is known of a year's days off and make-up working days, and from where."""
    from engine import workdays
    from engine.calendars.report import describe

    try:
        workdays.configure(Settings().calendar_file)
    except CalendarError as exc:
        _fail("the calendar file is invalid:\n" + str(exc))
    for line in describe(workdays.year_schedule(year)):
        typer.echo(line)


cli_jobs.register(app, lambda: _runtime())
cli_audit.register(audit_app, lambda: _runtime())
cli_db.register(app)
cli_report.register(app, lambda: _runtime())
cli_ledger.register(app, lambda: _runtime())


def main() -> None:
    """Entry point of the ``closeloop`` console script."""
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
    except DomainError as exc:
        # A refusal no command caught itself (an option the engine checks, say): its message, not a traceback.
        typer.echo(f"error: {exc.detail}", err=True)
        sys.exit(1)
    except Exception as exc:
        message = plain_error(exc, os.environ.get("CLOSELOOP_DATABASE_URL"))
        if message is None:
            raise
        typer.echo(f"error: {message}", err=True)
        sys.exit(1)

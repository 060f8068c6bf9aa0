"""Bounded property-based fuzz run of the HTTP API against its own OpenAPI schema, with schemathesis.

    .venv/bin/python tests/fuzz/run_fuzz.py [--max-examples N] [--max-time SECONDS] [--seed N] [--keep]
    make fuzz                                       # installs the 'fuzz' extra first

What it does, all on 127.0.0.1 and inside a temporary folder:

1. makes a SQLite database, runs ``closeloop migrate`` and ``closeloop demo`` and reads the admin's and a
   supervisor's token from the demo output;
2. starts ``closeloop serve`` on a free port and waits for ``/healthz``;
3. reads real identifiers from the API (item ids and numbers, unit codes, usernames, workflow names,
   triggers, states) into schemathesis dictionaries, so that generated requests reach the domain logic
   instead of stopping at "unit does not exist" or a 404; edge values join them (dates at the ends of
   the range, odd ETags, page cursors real and forged);
4. runs ``st run`` twice against ``/openapi.json``: as the admin over every operation, then as the
   supervisor over the item operations, each through every phase: the document's examples, coverage,
   fuzzing, and the stateful phase, which follows the document's links (register an item, then read, fire,
   upload and list on that item; add a user, then issue a token...) and the links schemathesis infers. Checks: every schemathesis check but positive-data acceptance
   (see CHECKS): no 5xx; response bodies, statuses, headers and media types as the document says;
   requests that violate the schema get a 4xx; a missing token gets a 401; an undocumented method gets a
   405 whose ``Allow`` lists the path's methods. Bounded by ``--max-examples`` per operation and
   ``--max-time`` for both passes together (schemathesis stops each pass at its share; a hard timeout
   backs it up);
5. stops the server by its pid and prints a summary.

Exit status: 0 clean; 1 a 5xx was answered (seen by schemathesis or logged by the server as an unhandled
error), the server died, or any other check failed (``--checks not_a_server_error`` looks for 5xx only);
2 the harness itself could not run or a pass did not finish. Not collected by pytest: the file name does
not match ``test_*.py``.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
# Every schemathesis check but one: positive_data_acceptance expects any schema-valid request to succeed,
# which cannot hold where a valid-looking unit code, username or item number simply does not exist.
CHECKS = "all"
EXCLUDED_CHECKS = "positive_data_acceptance"
TOKEN_LINE = re.compile(r"^\s+(?P<user>\S+)\s+(?P<roles>\S+)\s+(?P<token>cl_\S+)\s*$")
CRASH_LINE = "unhandled error on "


class HarnessError(Exception):
    """The fuzz run could not be set up (exit 2): not a finding about the API."""


@dataclass
class PassResult:
    """What one schemathesis pass reported."""

    name: str
    exit_code: int | None
    report: dict = field(default_factory=dict)
    seconds: float = 0.0
    output: Path | None = None

    def groups(self, *, server_errors: bool) -> list[dict]:
        """Failure groups of the report: the 5xx ones, or all the others."""
        return [g for g in self.report.get("failures", []) if (g.get("type") == "ServerError") == server_errors]


def free_port() -> int:
    """A port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def closeloop(env: dict, *args: str) -> str:
    """Run the project's console script; its stdout, or HarnessError with its stderr."""
    done = subprocess.run([str(BIN / "closeloop"), *args], env=env, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise HarnessError(f"closeloop {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return done.stdout


def parse_tokens(demo_output: str) -> dict[str, tuple[list[str], str]]:
    """``{username: (roles, token)}`` from the token table ``closeloop demo`` prints."""
    found = {}
    for line in demo_output.splitlines():
        match = TOKEN_LINE.match(line)
        if match:
            found[match["user"]] = (match["roles"].split(","), match["token"])
    return found


def token_with_role(tokens: dict[str, tuple[list[str], str]], role: str) -> tuple[str, str]:
    """(username, token) of the first demo user holding ``role``."""
    for username, (roles, token) in tokens.items():
        if role in roles:
            return username, token
    raise HarnessError(f"the demo output names no user with the role {role!r}")


class Server:
    """``closeloop serve`` as a child process, stopped by its pid."""

    def __init__(self, env: dict, port: int, log_path: Path) -> None:
        self.env, self.port, self.log_path = env, port, log_path
        self.proc: subprocess.Popen | None = None
        self.base = f"http://{HOST}:{port}"

    def start(self, timeout: float = 60.0) -> None:
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen([str(BIN / "closeloop"), "serve", "--host", HOST, "--port", str(self.port)],
                                         env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise HarnessError(f"the server exited with {self.proc.returncode}; see {self.log_path}")
            try:
                with urllib.request.urlopen(self.base + "/healthz", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)  # polling a starting process, not waiting for domain time
        raise HarnessError(f"the server did not answer /healthz within {timeout:.0f} s; see {self.log_path}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=15)

    def get(self, path: str, token: str) -> dict:
        request = urllib.request.Request(self.base + path, headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)


def seed_values(server: Server, token: str) -> dict[str, list]:
    """Real identifiers from the running API, as schemathesis dictionaries."""
    items = server.get("/api/v1/items?limit=500", token)["data"]
    workflows = [w["name"] for w in server.get("/api/v1/workflows", token)["data"]]
    triggers, states = set(), set()
    for name in workflows:
        definition = server.get(f"/api/v1/workflows/{urllib.parse.quote(name)}", token)
        triggers.update(t["trigger"] for t in definition["transitions"])
        states.update(s["name"] for s in definition["states"])
    dates = sorted({i["due_date"] for i in items if i.get("due_date")})
    today = time.strftime("%Y-%m-%d")
    return {
        "items": [i["id"] for i in items] + [i["number"] for i in items],
        "units": [u["code"] for u in server.get("/api/v1/units", token)["data"]],
        "users": [u["username"] for u in server.get("/api/v1/users", token)["data"]],
        "workflows": workflows,
        "triggers": sorted(triggers),
        "states": sorted(states),
        # Real due dates, today, the edges of the date range and impossible days (which must get a 422).
        "dates": dates[:20] + [today, "0001-01-01", "9999-12-31", "2026-02-29", "2028-02-29", "2027-13-01"],
        # ETags as sent, and edge forms: weak, blank, a latin-1 superscript digit (isdigit() but not int()).
        "etags": ['"1"', '"2"', '"3"', "*", 'W/"1"', '""', '"\u00b2"', '"1\u00b9"', '" 1"'],
        "cursors": cursors(server, token, items),
    }


def cursors(server: Server, token: str, items: list[dict]) -> list[str]:
    """Real next_cursor values, and cursors forged for the unfiltered list (whose fingerprint anyone can
    compute) that carry positions no server ever wrote: NUL, a lone surrogate, times at the ends of the
    date range."""
    from engine.paging import encode, query_fingerprint

    real = [server.get(f"/api/v1/items?limit={n}", token)["next_cursor"] for n in (1, 2, 5)]
    some_id = items[0]["id"] if items else "x"
    fingerprint = query_fingerprint({})
    forged = [["2026-03-02T01:00:00.000000Z", "a\x00b"], ["2026-03-02T01:00:00.000000Z", "a\ud800"],
              ["9999-12-31T23:59:59-05:00", some_id], ["0001-01-01T00:00:00+05:00", some_id],
              ["2026-03-02T01:00:00.000000Z", some_id], ["not a time", some_id], [1, 2]]
    return [c for c in real if c] + [encode(position, fingerprint) for position in forged]


# Where each dictionary is offered, and how often its values replace generated ones. The item list's filters
# are arrays of values (state and workflow list their enums in the document); a dictionary of single values
# does not fit them.
BINDINGS = {
    "path.item_id": "items", "path.name": "workflows", "path.username": "users",
    "body.unit": "units", "body.parent": "units", "body.fields.unit": "units",
    "body.assignee": "users", "body.fields.assignee": "users",
    "body.workflow": "workflows", "body.trigger": "triggers",
    "body.due_date": "dates", "body.fields.due_date": "dates", "body.fields.new_due_date": "dates",
    "query.due_before": "dates", "query.due_after": "dates", "header.If-Match": "etags", "query.cursor": "cursors",
}


def _toml(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)  # JSON strings, numbers and arrays are valid TOML values


def write_config(path: Path, seeds: dict[str, list], args: argparse.Namespace) -> None:
    """A schemathesis.toml: examples per operation, the stateful phase's scenarios and steps, the dictionaries
    and the parameters they feed."""
    probability = args.probability
    lines = [f"generation.max-examples = {args.max_examples}", "",
             "[phases.stateful]", f"max-steps = {args.stateful_steps}", "",
             "[phases.stateful.generation]", f"max-examples = {args.stateful_examples}", ""]
    for name, values in seeds.items():
        if values:
            lines += [f"[dictionaries.{name}]", f"values = {_toml(values)}", ""]
    lines.append("[parameters]")
    for key, name in BINDINGS.items():
        if seeds.get(name):
            lines.append(f'{_toml(key)} = {{ dictionary = {_toml(name)}, probability = {probability} }}')
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def run_pass(name: str, *, server: Server, token: str, workdir: Path, config: Path, args: argparse.Namespace,
             budget: int, extra: list[str]) -> PassResult:
    """One ``st run`` as one caller; its JSON report."""
    out_dir = workdir / name
    out_dir.mkdir()
    report_path = out_dir / "report.json"
    command = [str(BIN / "st"), "--config-file", str(config), "run", f"{server.base}/openapi.json",
               "--header", f"Authorization: Bearer {token}", "--checks", args.checks, "--exclude-checks", args.exclude_checks,
               "--max-time", str(budget), "--workers", "1",
               "--request-timeout", "30", "--generation-database", "none", "--no-color",
               "--report", "json", "--report-json-path", str(report_path), *extra]
    if args.seed is not None:
        command += ["--seed", str(args.seed)]
    output = out_dir / "schemathesis.txt"
    started = time.monotonic()
    print(f"-- pass {name}: up to {args.max_examples} examples per operation, {budget} s", flush=True)
    with open(output, "wb") as sink:
        proc = subprocess.Popen(command, cwd=out_dir, stdout=sink, stderr=subprocess.STDOUT)
        try:
            exit_code = proc.wait(timeout=budget + 120)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)
            exit_code = None
    result = PassResult(name, exit_code, seconds=time.monotonic() - started, output=output)
    if report_path.exists():
        result.report = json.loads(report_path.read_text(encoding="utf-8"))
    return result


def _route(request: str) -> str:
    """'POST /api/v1/items/ZG-2026-000001/transitions' -> 'POST /api/v1/items/{...}/transitions'."""
    return re.sub(r"/(items|users|workflows)/[^/]+", r"/\1/{...}", request)


def server_crashes(log_path: Path) -> list[str]:
    """Each unhandled error the server logged: its request and the last line of its traceback."""
    lines = log_path.read_text(encoding="utf-8", errors="replace").splitlines()
    crashes = []
    for index, line in enumerate(lines):
        if CRASH_LINE not in line:
            continue
        last = ""
        for following in lines[index + 1:]:
            if CRASH_LINE in following or following.startswith(("INFO:", "WARNING:", "ERROR:")):
                break
            if following and not following.startswith(" "):
                last = following
        crashes.append(f"{_route(line[line.index(CRASH_LINE) + len(CRASH_LINE):])}  ->  {last}")
    return crashes


def _stateful(result: PassResult) -> str:
    """What the stateful phase did, as schemathesis printed it: scenarios run and links followed."""
    text = result.output.read_text(encoding="utf-8", errors="replace") if result.output and result.output.exists() else ""
    scenarios = re.search(r"Scenarios:\s+(\d+)", text)
    links = re.search(r"API Links:\s+(\d+) covered / (\d+) selected", text)
    if not scenarios:
        return "; stateful phase: not run"
    return (f"; stateful: {scenarios.group(1)} scenarios, {links.group(1)} of {links.group(2)} links followed"
            if links else f"; stateful: {scenarios.group(1)} scenarios")


def summarize(results: list[PassResult], crashes: list[str], server_died: bool) -> int:
    """Print what was found; return the exit status."""
    print("\n== fuzz summary")
    server_errors = check_failures = 0
    for r in results:
        cases = r.report.get("test_cases", {})
        print(f"pass {r.name}: {cases.get('generated', '?')} test cases in {r.seconds:.0f} s, "
              f"schemathesis exit {r.exit_code}, seed {r.report.get('seed', '?')}{_stateful(r)}")
        for group in r.groups(server_errors=True) + r.groups(server_errors=False):
            is_5xx = group.get("type") == "ServerError"
            server_errors += group["count"] if is_5xx else 0
            check_failures += 0 if is_5xx else group["count"]
            print(f"  {'5xx' if is_5xx else 'check'}: {group['title']} x{group['count']} in "
                  f"{', '.join(group['operations']) or '(run-level)'}")
        for error in r.report.get("errors", []):
            print(f"  error: {error['title']} x{error['count']}")
        if not r.report:
            print(f"  no report (schemathesis did not finish); see {r.output}")
    distinct = sorted(set(crashes))
    print(f"server log: {len(crashes)} unhandled errors ({len(distinct)} distinct)")
    for crash in distinct[:30]:
        print(f"  {crashes.count(crash)} x {crash}")
    if server_died:
        print("the server process died during the run")
    # A pass that schemathesis could not run (an execution error, no test case generated) proved nothing.
    incomplete = any(not r.report or r.exit_code is None or r.report.get("errors")
                     or not r.report.get("test_cases", {}).get("generated") for r in results)
    failed = server_errors or crashes or server_died or check_failures
    verdict = "FAILED" if failed else ("INCOMPLETE" if incomplete else "ok")
    print(f"result: {verdict}: {server_errors} server-error cases, {len(crashes)} logged crashes, "
          f"{check_failures} other check failures")
    return 1 if failed else (2 if incomplete else 0)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-examples", type=int, default=25, help="examples per operation and phase (25)")
    parser.add_argument("--max-time", type=int, default=240, help="seconds for all passes together (240)")
    parser.add_argument("--stateful-examples", type=int, default=50,
                        help="scenarios of the stateful phase, each a chain of calls following the links (50)")
    parser.add_argument("--stateful-steps", type=int, default=12, help="most calls in one scenario (12)")
    parser.add_argument("--seed", type=int, default=None, help="make the generated data reproducible")
    parser.add_argument("--checks", default=CHECKS, help=f"schemathesis checks ({CHECKS})")
    parser.add_argument("--exclude-checks", default=EXCLUDED_CHECKS, help=f"checks left out ({EXCLUDED_CHECKS})")
    parser.add_argument("--probability", type=float, default=0.6,
                        help="how often a parameter takes a real identifier instead of a generated value (0.6)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (kept anyway on failure)")
    args = parser.parse_args(argv)
    if args.max_examples < 1 or args.max_time < 2:
        parser.error("--max-examples must be at least 1 and --max-time at least 2")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for tool in ("closeloop", "st"):
        if not (BIN / tool).exists():
            print(f"error: {BIN / tool} not found; install the project with its 'fuzz' extra "
                  "(.venv/bin/pip install -e '.[fuzz]')", file=sys.stderr)
            return 2
    workdir = Path(tempfile.mkdtemp(prefix="closeloop-fuzz-"))
    env = {**os.environ, "CLOSELOOP_DATABASE_URL": f"sqlite:///{workdir / 'fuzz.db'}",
           # The fuzzer sends thousands of deliberately bad tokens from one address, which the bad-token throttle
           # answers with 429 once past its limit (tests/api/test_auth_throttle.py); here every bad token must
           # reach the 401 check itself.
           "CLOSELOOP_AUTH_FAILURE_LIMIT": "0"}
    env.pop("CLOSELOOP_WORKFLOWS_DIR", None)
    server = Server(env, free_port(), workdir / "server.log")
    results: list[PassResult] = []
    try:
        closeloop(env, "migrate")
        tokens = parse_tokens(closeloop(env, "demo"))
        admin, admin_token = token_with_role(tokens, "admin")
        supervisor, supervisor_token = token_with_role(tokens, "supervisor")
        server.start()
        print(f"serving {server.base} (pid {server.proc.pid}) on {workdir / 'fuzz.db'}; callers {admin}, {supervisor}")
        config = workdir / "schemathesis.toml"
        write_config(config, seed_values(server, admin_token), args)
        first = max(1, args.max_time // 2)
        plan = [("admin", admin_token, first, []),
                ("supervisor", supervisor_token, max(1, args.max_time - first), ["--include-path-regex", "^/api/v1/items"])]
        for name, token, budget, extra in plan:
            results.append(run_pass(name, server=server, token=token, workdir=workdir, config=config, args=args,
                                    budget=budget, extra=extra))
            if not server.alive():
                break
        server_died = not server.alive()
    except (HarnessError, OSError, subprocess.SubprocessError, KeyError, ValueError) as exc:
        print(f"error: the fuzz run could not be set up: {exc}\nfolder: {workdir}", file=sys.stderr)
        return 2
    finally:
        server.stop()
    status = summarize(results, server_crashes(server.log_path), server_died)
    if status == 0 and not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        print(f"details: {workdir} (per pass: schemathesis.txt with curl reproductions, report.json; server.log)")
    return status


if __name__ == "__main__":
    sys.exit(main())

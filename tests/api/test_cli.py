"""The ``closeloop`` command line: units, users and tokens, refusals that change nothing, and a real server.

Admin commands run in-process through typer's CliRunner on both stores (CLOSELOOP_DATABASE_URL in the
environment, as an operator would set it). The console script itself runs as a subprocess for
migrate, demo and serve: a real server on a free port answers /healthz, /readyz and lists the demo
items with a demo token, then is stopped by its process id.
"""
from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from api.cli import app
from engine.config import Settings
from engine.runtime import Runtime
from engine.store import Store
from tests.helpers import free_port

CLOSELOOP = Path(sys.executable).parent / "closeloop"
TOKEN = re.compile(r"^cl_[A-Za-z0-9_-]{43,}$")
runner = CliRunner()


def cli(db_url: str, *args: str):
    """Run one command in-process against ``db_url``."""
    return runner.invoke(app, list(args), env={"CLOSELOOP_DATABASE_URL": db_url})


def counts(db_url: str) -> dict[str, int]:
    store = Store(db_url)
    try:
        with store.read() as conn:
            return {t: conn.execute(sa.text(f"SELECT COUNT(*) FROM {t}")).scalar_one()
                    for t in ("units", "users", "tokens")}
    finally:
        store.dispose()


def script(*args: str, env: dict, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run the installed console script."""
    return subprocess.run([str(CLOSELOOP), *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **env})


@pytest.fixture
def units(db_url):
    """CITY > DEPT-A > SUB-A1, added through the command line."""
    for args in (["CITY", "--name", "某市"], ["DEPT-A", "--name", "市教委", "--parent", "CITY"],
                 ["SUB-A1", "--name", "区教育局", "--parent", "DEPT-A"]):
        result = cli(db_url, "unit", "add", *args)
        assert result.exit_code == 0, result.output
        assert result.stdout.strip() == f"unit {args[0]} added"
    return db_url


def test_unit_list_shows_the_tree(units):
    result = cli(units, "unit", "list")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["CITY  某市", "  DEPT-A  市教委", "    SUB-A1  区教育局"]


def test_user_add_prints_a_working_token_alone_on_the_last_line(units):
    result = cli(units, "user", "add", "li.ming", "--role", "assignee", "--role", "verifier", "--unit", "DEPT-A",
                 "--name", "李明")
    assert result.exit_code == 0, result.output
    token = result.stdout.splitlines()[-1]
    assert TOKEN.match(token), result.stdout
    assert token not in result.stdout.splitlines()[0]

    store = Store(units)
    try:
        with store.read() as conn:
            stored = [r[0] for r in conn.execute(sa.text("SELECT token_hash FROM tokens"))]
    finally:
        store.dispose()
    assert stored == [hashlib.sha256(token.encode()).hexdigest()]  # only the hash is kept

    runtime = Runtime.open(Settings(database_url=units))
    try:
        with TestClient(create_app(runtime)) as client:
            me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
            assert me.status_code == 200, me.text
            assert me.json() == {"username": "li.ming", "roles": ["assignee", "verifier"], "unit": "DEPT-A"}
            again = cli(units, "user", "token", "li.ming")
            assert again.exit_code == 0, again.output
            second = again.stdout.splitlines()[-1]
            assert TOKEN.match(second) and second != token
            for each in (token, second):
                assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {each}"}).status_code == 200
            assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}x"}).status_code == 401
    finally:
        runtime.store.dispose()


ERRORS = [
    ("user-unknown-unit", ["user", "add", "wang", "--role", "assignee", "--unit", "NOPE"], "unit 'NOPE' does not exist"),
    ("user-duplicate", ["user", "add", "first", "--role", "assignee", "--unit", "DEPT-A"], "user 'first' already exists"),
    ("user-bad-role", ["user", "add", "wang", "--role", "assignee", "--role", "mayor", "--unit", "DEPT-A"],
     "unknown role 'mayor'"),
    ("user-bad-username", ["user", "add", "Wang Fang", "--role", "assignee", "--unit", "DEPT-A"], "username must be"),
    ("user-no-role", ["user", "add", "wang", "--unit", "DEPT-A"], "--role"),
    ("token-for-unknown-user", ["user", "token", "ghost"], "user 'ghost' does not exist"),
    ("unit-duplicate", ["unit", "add", "DEPT-A", "--name", "又一个"], "unit 'DEPT-A' already exists"),
    ("unit-unknown-parent", ["unit", "add", "X", "--name", "某", "--parent", "NOPE"], "parent unit 'NOPE' does not exist"),
    ("unit-bad-code", ["unit", "add", "市教委", "--name", "某"], "unit code"),
]


@pytest.mark.parametrize("args, message", [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_admin_command_errors_exit_non_zero_and_change_nothing(units, args, message):
    assert cli(units, "user", "add", "first", "--role", "assignee", "--unit", "DEPT-A").exit_code == 0
    before = counts(units)
    result = cli(units, *args)
    assert result.exit_code != 0
    assert message in result.stderr, result.output
    assert "Traceback" not in result.output
    assert counts(units) == before


def test_commands_on_an_unmigrated_database_name_closeloop_migrate(tmp_path):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    for args in (["unit", "list"], ["user", "add", "x", "--role", "admin", "--unit", "CITY"], ["demo"],
                 ["audit", "verify"]):
        result = cli(url, *args)
        assert result.exit_code != 0 and "closeloop migrate" in result.stderr, (args, result.output)


def test_serve_refuses_an_unmigrated_sqlite_database(tmp_path):
    (tmp_path / "new.db").touch()  # an empty file is an empty SQLite database (a missing one is named as missing)
    done = script("serve", "--port", str(free_port()), env={"CLOSELOOP_DATABASE_URL": f"sqlite:///{tmp_path}/new.db"},
                  timeout=60)
    assert done.returncode != 0
    assert "never been migrated" in done.stderr and "closeloop migrate" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_serve_refuses_an_unmigrated_postgresql_database(pg_server_url):
    name = f"cl_empty_{os.getpid()}_{int(time.time() * 1000) % 100000}"
    admin = sa.create_engine(Store(pg_server_url).url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    try:
        url = sa.make_url(Store(pg_server_url).url).set(database=name).render_as_string(hide_password=False)
        done = script("serve", "--port", str(free_port()), env={"CLOSELOOP_DATABASE_URL": url}, timeout=60)
        assert done.returncode != 0 and "closeloop migrate" in done.stderr, done.stderr
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


def _demo_tokens(output: str) -> dict[str, str]:
    tokens = {}
    for line in output.splitlines():
        parts = line.split()
        if line.startswith("  ") and len(parts) == 3 and TOKEN.match(parts[2]):
            tokens[parts[0]] = parts[2]
    return tokens


def _wait_until_up(proc: subprocess.Popen, base: str, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the server exited with {proc.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    pytest.fail(f"the server did not answer /healthz within 60 s:\n{log.read_text()}")


def test_a_real_server_serves_the_demo(tmp_path):
    env = {"CLOSELOOP_DATABASE_URL": f"sqlite:///{tmp_path / 'demo.db'}"}
    migrated = script("migrate", env=env)
    assert migrated.returncode == 0 and "newest schema" in migrated.stdout, migrated.stderr
    demo = script("demo", env=env)
    assert demo.returncode == 0, demo.stderr
    assert "demo data loaded" in demo.stdout
    tokens = _demo_tokens(demo.stdout)
    assert {"admin", "sun.li", "li.ming"} <= set(tokens), demo.stdout
    again = script("demo", env=env)
    assert again.returncode == 0 and "already present" in again.stdout
    fresh = _demo_tokens(again.stdout)
    assert fresh["admin"] != tokens["admin"]

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen([str(CLOSELOOP), "serve", "--port", str(port)], stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, **env})
    try:
        _wait_until_up(proc, base, log)
        ready = httpx.get(f"{base}/readyz", timeout=10)
        assert ready.status_code == 200 and ready.json()["status"] == "ready", ready.text
        listed = httpx.get(f"{base}/api/v1/items?limit=500", headers={"Authorization": f"Bearer {tokens['sun.li']}"},
                           timeout=10)
        assert listed.status_code == 200, listed.text
        everything = listed.json()["data"]
        assert len(everything) == 50  # the demo ran twice but loaded once
        assert len({i["state"] for i in everything}) >= 6
        scoped = httpx.get(f"{base}/api/v1/items?limit=500", timeout=10,
                           headers={"Authorization": f"Bearer {fresh['li.ming']}"}).json()["data"]
        assert scoped and {i["unit"] for i in scoped} <= {"CITY-EDU", "DIST-EDU", "SCHOOL-01"}
        assert httpx.get(f"{base}/api/v1/items", timeout=10).status_code == 401
        verify = httpx.get(f"{base}/api/v1/audit/verify", timeout=30,
                           headers={"Authorization": f"Bearer {tokens['sun.li']}"}).json()
        assert verify["ok"] is True and verify["records"] > 50
        password = re.search(r"^  web sign-in: sun\.li / (\S+)$", again.stdout, re.MULTILINE).group(1)
        with httpx.Client(base_url=base, timeout=30) as browser:
            csrf = re.search(r'name="csrf" value="([^"]+)"', browser.get("/signin").text).group(1)
            signed_in = browser.post("/signin", data={"csrf": csrf, "username": "sun.li", "password": password})
            assert signed_in.status_code == 303 and browser.get("/items").status_code == 200
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)

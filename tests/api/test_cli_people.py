"""The command line for people on both stores: add with an e-mail address, change and deactivate, list and
revoke tokens; every refusal exits non-zero naming the problem and changes nothing."""
from __future__ import annotations

import pytest

from tests.api import test_cli
from tests.api.test_cli import TOKEN, cli, counts

units = test_cli.units  # the fixture: CITY > DEPT-A > SUB-A1, added through the command line


def _token(db_url: str, username: str, *args: str) -> str:
    added = cli(db_url, "user", "add", username, "--role", "assignee", "--unit", "DEPT-A", *args)
    assert added.exit_code == 0, added.output
    return added.stdout.splitlines()[-1]


def _me(db_url: str, token: str) -> int:
    from fastapi.testclient import TestClient

    from api.app import create_app
    from engine.config import Settings
    from engine.runtime import Runtime

    runtime = Runtime.open(Settings(database_url=db_url))
    try:
        with TestClient(create_app(runtime)) as client:
            return client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code
    finally:
        runtime.store.dispose()


def test_add_set_deactivate_and_revoke_from_the_command_line(units):
    first = _token(units, "li.ming", "--email", "li.ming@jyj.example.gov.cn", "--name", "李明")
    assert TOKEN.match(first)
    changed = cli(units, "user", "set", "li.ming", "--role", "assignee", "--role", "verifier", "--unit", "SUB-A1",
                  "--email", "LM@Example.GOV.cn")
    assert changed.exit_code == 0, changed.output
    assert changed.stdout.strip() == ("user li.ming: roles assignee, verifier; unit SUB-A1; e-mail LM@example.gov.cn; "
                                      "active")
    second = cli(units, "user", "token", "li.ming").stdout.splitlines()[-1]
    listed = cli(units, "user", "tokens", "li.ming")
    assert listed.exit_code == 0, listed.output
    lines = listed.stdout.splitlines()
    assert len(lines) == 2 and "created with the user" in lines[0] and "issued later" in lines[1]
    assert all(" active " in line for line in lines) and first not in listed.stdout and second not in listed.stdout
    first_id = lines[0].split()[0]
    revoked = cli(units, "token", "revoke", "li.ming", first_id)
    assert revoked.exit_code == 0 and revoked.stdout.startswith(f"token {first_id} of li.ming revoked at "), revoked.output
    assert "revoked 20" in cli(units, "user", "tokens", "li.ming").stdout.splitlines()[0]
    assert (_me(units, first), _me(units, second)) == (401, 200)
    off = cli(units, "user", "set", "li.ming", "--inactive", "--email", "")
    assert off.exit_code == 0 and off.stdout.strip().endswith("e-mail none; INACTIVE"), off.output
    assert _me(units, second) == 401
    assert cli(units, "user", "set", "li.ming", "--active").exit_code == 0
    assert _me(units, second) == 200


ERRORS = [
    ("bad-email", ["user", "add", "wang", "--role", "assignee", "--unit", "DEPT-A", "--email", "wang@"],
     "is not an e-mail address"),
    ("set-nothing", ["user", "set", "first"], "give at least one of"),
    ("set-unknown-user", ["user", "set", "ghost", "--inactive"], "user 'ghost' does not exist"),
    ("set-unknown-unit", ["user", "set", "first", "--unit", "NOPE"], "unit 'NOPE' does not exist"),
    ("set-bad-role", ["user", "set", "first", "--role", "mayor"], "unknown role 'mayor'"),
    ("set-bad-email", ["user", "set", "first", "--email", "first at example.cn"], "is not an e-mail address"),
    ("tokens-unknown-user", ["user", "tokens", "ghost"], "user 'ghost' does not exist"),
    # Was cut to 200 characters without a word, while the admin log kept the whole name.
    ("add-long-name", ["user", "add", "wang", "--role", "assignee", "--unit", "DEPT-A", "--name", "王" * 201],
     "display name must be at most 200 characters"),
    ("add-blank-name", ["user", "add", "wang", "--role", "assignee", "--unit", "DEPT-A", "--name", "\u200b "],
     "not only blanks"),
    # Stored and printed raw: ESC turned a listing into terminal commands, a newline broke it in two.
    ("add-escape-name", ["user", "add", "wang", "--role", "assignee", "--unit", "DEPT-A", "--name", "王\x1b[31m芳"],
     "without control characters"),
    ("unit-newline-name", ["unit", "add", "X9", "--name", "市教委\n第二行"], "without control characters"),
    ("revoke-not-theirs", ["token", "revoke", "first", "99"], "user 'first' has no token 99"),
    ("revoke-huge-id", ["token", "revoke", "first", "99999999999"], "user 'first' has no token 99999999999"),
]


@pytest.mark.parametrize("args, message", [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_people_command_errors_exit_non_zero_and_change_nothing(units, args, message):
    _token(units, "first")
    before = counts(units)
    result = cli(units, *args)
    assert result.exit_code != 0 and message in result.stderr, result.output
    assert "Traceback" not in result.output
    assert counts(units) == before
    assert cli(units, "user", "tokens", "first").stdout.count(" active ") == 1


def test_a_unit_code_in_any_case_names_the_unit(units):
    # Codes are unique whatever their case, so dept-a can only mean DEPT-A (it was "does not exist").
    added = cli(units, "user", "add", "wang", "--role", "assignee", "--unit", "dept-a")
    assert added.exit_code == 0, added.output
    assert cli(units, "unit", "add", "SUB-X", "--name", "下属单位", "--parent", "dept-a").exit_code == 0
    assert cli(units, "user", "set", "wang", "--unit", "sub-x").exit_code == 0
    listed = cli(units, "unit", "list").stdout
    assert "SUB-X" in listed and "sub-x" not in listed

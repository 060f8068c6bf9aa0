"""Failures outside any command's own checks (a setting, the database, a file, an argument) are one line naming
the cause, exit 1, and change nothing: never a library's traceback."""
from __future__ import annotations

import os
import subprocess

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from api.cli import app
from tests.engine.test_history_chain import CLOSELOOP

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def _run(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(CLOSELOOP), *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env})


@pytest.mark.parametrize(("setting", "says"), [
    ({"CLOSELOOP_YELLOW_DAYS": "abc"}, "invalid setting CLOSELOOP_YELLOW_DAYS: "),
    ({"CLOSELOOP_NOTIFY_HOUR": "25"}, "invalid setting CLOSELOOP_NOTIFY_HOUR: "),
    ({"CLOSELOOP_TIMEZONE": "Nope/Zone"}, "unknown time zone"),
    ({"CLOSELOOP_NUMBER_PREFIX": ""}, "invalid setting CLOSELOOP_NUMBER_PREFIX: "),
    ({"CLOSELOOP_NUMBER_PREFIX": "Z G/x"}, "invalid setting CLOSELOOP_NUMBER_PREFIX: "),
    ({"CLOSELOOP_DATABASE_URL": "garbage"}, "CLOSELOOP_DATABASE_URL is not a database URL"),
    ({"CLOSELOOP_DATABASE_URL": "sqlite:////nonexistent-folder/x.db"}, "/nonexistent-folder/x.db does not exist"),
    ({"CLOSELOOP_DATABASE_URL": "postgresql://u:secret@127.0.0.1:1/x"}, "cannot be used: connection failed"),
])
def test_a_bad_setting_or_database_is_one_line_naming_it(db_url, tmp_path, setting, says):
    done = _run({"CLOSELOOP_DATABASE_URL": db_url, **setting}, "unit", "list")
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.splitlines()[-1].startswith("error: ") and says in done.stderr, done.stderr
    assert "secret" not in done.stderr  # a password in the URL is never printed


@pytest.mark.parametrize("args", [("unit", "list"), ("audit", "verify"), ("sweep", "--once"), ("demo",)])
def test_a_mistyped_database_file_is_named_and_not_made(db_url, tmp_path, args):
    folder = tmp_path / "typo"
    folder.mkdir()
    typo = folder / "closelop.db"
    done = _run({"CLOSELOOP_DATABASE_URL": f"sqlite:///{typo}"}, *args)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.splitlines()[-1] == (f"error: the database file {typo} does not exist: check "
                                            "CLOSELOOP_DATABASE_URL, or run `closeloop migrate` to create it")
    assert list(folder.iterdir()) == []  # no empty database left under the mistyped name


def test_a_file_that_is_no_database_is_named(db_url, tmp_path):
    (tmp_path / "notes.db").write_text("hello\n")
    done = _run({"CLOSELOOP_DATABASE_URL": f"sqlite:///{tmp_path / 'notes.db'}"}, "unit", "list")
    assert done.returncode == 1 and "file is not a database" in done.stderr and "Traceback" not in done.stderr


def test_a_checkpoint_that_cannot_be_written_out_is_not_made(db_url, rt, tmp_path):
    env = {"CLOSELOOP_DATABASE_URL": db_url, "CLOSELOOP_AUDIT_KEY_DIR": str(tmp_path / "keys")}
    done = _run(env, "audit", "checkpoint", "-o", str(tmp_path / "no-such-folder" / "cp.json"))
    assert done.returncode == 1 and "No such file or directory" in done.stderr and "Traceback" not in done.stderr
    with rt.store.read() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM audit_checkpoints")).scalar_one() == 0
    made = _run(env, "audit", "checkpoint", "-o", str(tmp_path / "cp.json"))
    assert made.returncode == 0 and (tmp_path / "cp.json").read_text(encoding="utf-8").startswith("{")


def test_an_output_path_that_cannot_be_written_is_one_line(db_url, tmp_path):
    env = {"CLOSELOOP_DATABASE_URL": db_url}
    for args in (["export", "ledger", str(tmp_path / "missing" / "l.xlsx")],
                 ["audit", "export", str(tmp_path / "missing" / "b.zip")], ["audit", "export", str(tmp_path)]):
        done = _run(env, *args)
        assert done.returncode == 1 and "Traceback" not in done.stderr, (args, done.stderr)
        assert done.stderr.splitlines()[-1].startswith("error: "), (args, done.stderr)


def test_an_export_of_a_unit_that_does_not_exist_is_refused_and_a_code_in_any_case_is_the_unit(db_url, client, world,
                                                                                                 tmp_path):
    from tests.helpers import new_item

    new_item(client, world, unit="DEPT-A")
    env = {"CLOSELOOP_DATABASE_URL": db_url}
    refused = _run(env, "audit", "export", str(tmp_path / "none.zip"), "--unit", "NO-SUCH")
    assert refused.returncode == 1 and "unit 'NO-SUCH' does not exist" in refused.stderr, refused.stderr
    assert not (tmp_path / "none.zip").exists()
    done = _run(env, "audit", "export", str(tmp_path / "a.zip"), "--unit", "dept-a")
    assert done.returncode == 0, done.stderr
    verified = _run(env, "audit", "verify", str(tmp_path / "a.zip"))
    assert verified.returncode == 0 and verified.stdout.startswith("ok: 1 items"), verified.stdout
    assert client.get("/api/v1/audit/export?unit=dept-a", headers=world.h("aud")).status_code == 200


@pytest.mark.parametrize("args", [["import", "/dev/zero", "--as", "reg"], ["audit", "verify", "/dev/zero"]])
def test_an_endless_input_is_refused_without_being_held(db_url, rt, world, args):
    done = _run({"CLOSELOOP_DATABASE_URL": db_url}, *args)
    assert done.returncode in (1, 2) and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.splitlines()[-1].startswith("error: "), done.stderr


def test_a_public_key_file_that_is_no_text_and_a_damaged_signing_key_are_named(db_url, rt, tmp_path):
    env = {"CLOSELOOP_DATABASE_URL": db_url, "CLOSELOOP_AUDIT_KEY_DIR": str(tmp_path / "keys")}
    assert _run(env, "audit", "checkpoint").returncode == 0
    assert _run(env, "audit", "export", str(tmp_path / "b.zip")).returncode == 0
    (tmp_path / "key.bin").write_bytes(b"\xff\xfe\x00binary")
    done = _run(env, "audit", "verify", str(tmp_path / "b.zip"), "--public-key", str(tmp_path / "key.bin"))
    assert done.returncode == 2 and "not a public key" in done.stderr and "Traceback" not in done.stderr, done.stderr
    key_file = next((tmp_path / "keys").glob("ed25519-*.pem"))
    key_file.write_text(key_file.read_text().replace("-----END", "garbage\n-----END"))
    with rt.store.read() as conn:
        before = conn.execute(sa.text("SELECT COUNT(*) FROM audit_checkpoints")).scalar_one()
    damaged = _run(env, "audit", "checkpoint")
    assert damaged.returncode != 0 and "cannot be read as a key" in damaged.stderr, damaged.stderr
    assert "Traceback" not in damaged.stderr
    with rt.store.read() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM audit_checkpoints")).scalar_one() == before


def test_an_export_of_a_campaign_nothing_names_is_refused(db_url, client, world, tmp_path):
    env = {"CLOSELOOP_DATABASE_URL": db_url}
    refused = _run(env, "audit", "export", str(tmp_path / "none.zip"), "--campaign", "不存在")
    assert refused.returncode == 1 and "campaign '不存在' is not registered and no item names it" in refused.stderr
    assert not (tmp_path / "none.zip").exists()
    assert client.get("/api/v1/audit/export?campaign=nope", headers=world.h("aud")).status_code == 422
    from tests.helpers import new_item

    new_item(client, world, campaign="2026-XC-R1")
    assert _run(env, "audit", "export", str(tmp_path / "c.zip"), "--campaign", "2026-XC-R1").returncode == 0


@pytest.mark.parametrize("args", [("report", "--from"), ("export", "ledger", "out.csv", "--as-of"),
                                  ("audit", "export", "out.zip", "--to")])
@pytest.mark.parametrize("written", ["2026-W02-1", "20260105", "2026-1-5", "2026-02-30"])
def test_a_date_option_takes_only_what_the_api_takes(db_url, rt, tmp_path, args, written):
    # Python's date parser also reads ISO week dates and the basic form (20260105), strptime reads 2026-1-5:
    # a date the HTTP API refuses is refused here too, as a usage error naming the option.
    args = tuple(str(tmp_path / a) if a.startswith("out.") else a for a in args)
    result = CliRunner().invoke(app, [*args, written], env={"CLOSELOOP_DATABASE_URL": db_url})
    assert result.exit_code == 2, result.output
    assert f"Invalid value for '{args[-1]}'" in result.output and written in result.output, result.output
    assert list(tmp_path.glob("out.*")) == []

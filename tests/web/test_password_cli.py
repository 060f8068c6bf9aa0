"""`closeloop user password NAME`: read from standard input when it is not a terminal, logged without the password."""
from __future__ import annotations

import sqlalchemy as sa
from typer.testing import CliRunner

from api.cli import app
from engine.people.sessions import check_credentials

runner = CliRunner()


def _password(db_url: str, username: str, text: str):
    return runner.invoke(app, ["user", "password", username], input=text, env={"CLOSELOOP_DATABASE_URL": db_url})


def test_a_password_set_from_standard_input_signs_in_and_the_admin_log_never_holds_it(db_url, world, rt):
    done = _password(db_url, "asg_a", "晴天 lantern 42\n")
    assert done.exit_code == 0, done.output
    assert "password of asg_a set" in done.stdout
    with rt.store.read() as conn:
        assert check_credentials(conn, username="asg_a", password="晴天 lantern 42") is not None
        assert check_credentials(conn, username="asg_a", password="晴天 lantern 43") is None
        entries = conn.execute(sa.text("SELECT actor, action, target, before, after FROM admin_log "
                                       "WHERE action = 'user.password'")).all()
        stored = conn.execute(sa.text("SELECT password_hash FROM users WHERE username = 'asg_a'")).scalar_one()
    assert len(entries) == 1 and entries[0].target == "user:asg_a" and entries[0].actor.startswith("cli:")
    assert '"none"' in entries[0].before and '"set"' in entries[0].after
    assert "lantern" not in "".join(str(v) for v in entries[0]) and stored.startswith("$argon2id$")


def test_a_bad_password_or_unknown_user_is_refused_and_changes_nothing(db_url, world, rt):
    for username, text, message in (("asg_a", "short\n", "10-200 characters"),
                                    ("asg_a", " padded password \n", "blanks"),
                                    ("nobody", "a long enough one\n", "does not exist")):
        refused = _password(db_url, username, text)
        assert refused.exit_code == 1 and message in refused.output, refused.output
    with rt.store.read() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM users WHERE password_hash IS NOT NULL")).scalar_one() == 0
        assert conn.execute(sa.text("SELECT COUNT(*) FROM admin_log WHERE action = 'user.password'")).scalar_one() == 0

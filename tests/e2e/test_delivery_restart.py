"""A delivery process killed (SIGKILL) after claiming a delivery and before sending it loses nothing: once its
lease runs out, the next pass sends the event with the same webhook-id."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading

import pytest
from standardwebhooks.webhooks import Webhook

from engine.clock import rfc3339
from engine.config import Settings
from engine.delivery.worker import deliver
from tests.delivery_support import add_webhook, deliveries
from tests.helpers import new_item
from tests.receivers import receiver

# The child claims, says so, and then hangs where it would send, until it is killed.
CHILD = textwrap.dedent("""
    import sys, time
    from engine.clock import ManualClock, parse_rfc3339
    from engine.config import Settings
    from engine.delivery import worker
    from engine.runtime import Runtime

    rt = Runtime.open(Settings(), clock=ManualClock(parse_rfc3339(sys.argv[1])))

    def hang_before_sending(rt, channels, item):
        print("claimed", item.message.message_id, flush=True)
        time.sleep(600)

    worker.send = hang_before_sending
    worker.deliver(rt)
""")
CLAIM_TIMEOUT_S = 60


@pytest.fixture
def settings(db_url) -> Settings:
    """The receiver listens on 127.0.0.1, which only this setting lets a webhook reach."""
    return Settings(database_url=db_url, allow_private_webhooks=True)


def _first_line(proc: subprocess.Popen) -> str:
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(CLAIM_TIMEOUT_S)
    return lines[0] if lines else ""


def test_a_delivery_process_killed_between_claim_and_send_delivers_after_restart(rt, client, world, clock, db_url,
                                                                                 tmp_path):
    with receiver(clock) as rx:
        hook = add_webhook(client, world, rx.url + "/hook")
        item = new_item(client, world)
        script = tmp_path / "child.py"
        script.write_text(CHILD, encoding="utf-8")
        env = {**os.environ, "CLOSELOOP_DATABASE_URL": db_url, "CLOSELOOP_ALLOW_PRIVATE_WEBHOOKS": "1"}
        proc = subprocess.Popen([sys.executable, str(script), rfc3339(clock.now())], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:
            line = _first_line(proc)
            assert line.startswith("claimed msg_"), (line, proc.poll())
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(30)
            proc.stdout.close()
            proc.stderr.close()
        claimed_id = line.split()[1]
        [held] = deliveries(client, world, hook)
        assert held["message_id"] == claimed_id and held["status"] == "pending"
        assert [a["outcome"] for a in held["log"]] == ["sending"]
        # While the dead process's lease lasts, nobody else sends it.
        assert deliver(rt).attempts == 0 and rx.got == []
        clock.advance(minutes=10)
        assert deliver(rt).delivered == 1
    [received] = rx.got
    assert received.headers["webhook-id"] == claimed_id
    assert Webhook(hook["secret"]).verify(received.body, received.headers)["data"]["number"] == item["number"]
    [after] = deliveries(client, world, hook)
    assert after["status"] == "delivered" and after["attempts"] == 2
    assert [a["outcome"] for a in after["log"]] == ["interrupted", "delivered"]

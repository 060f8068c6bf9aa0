"""E-mail reminders through a real SMTP server (aiosmtpd on 127.0.0.1): notices from the sweep arrive as one
digest per recipient per sweep, with a Chinese subject and body that decode correctly."""
from __future__ import annotations

import datetime as dt
import email
import email.policy
import re
import socket
import threading
from contextlib import contextmanager
from email.header import decode_header, make_header

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller

from engine.config import Settings
from engine.delivery.status import notice_delivery_status
from engine.delivery.worker import deliver, next_due_at
from engine.models import Item, User
from engine.reminders.sweep import sweep
from tests.delivery_support import insert_events, reminder
from tests.helpers import drive, new_item

SHANGHAI = dt.timezone(dt.timedelta(hours=8))


class Inbox:
    """An aiosmtpd handler keeping every message it accepts."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.messages: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        with self.lock:
            self.messages.append((list(envelope.rcpt_tos), envelope.original_content or envelope.content))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def smtp_server(port: int):
    """aiosmtpd on 127.0.0.1:port, stopped when the block ends."""
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()


@pytest.fixture
def smtp_port() -> int:
    """A port for this test's SMTP server."""
    return _free_port()


@pytest.fixture
def settings(db_url, smtp_port) -> Settings:
    """Settings pointing e-mail at the local server (no TLS on 127.0.0.1)."""
    return Settings(database_url=db_url, smtp_host="127.0.0.1", smtp_port=smtp_port, smtp_security="none",
                    smtp_from="督办 <closeloop@example.org>")


def _due_now(rt) -> None:
    """Make the sweep look at every item now: when reminders are scheduled is not what these tests check."""
    with rt.store.write() as conn:
        conn.execute(Item.__table__.update().values(next_reminder_at=rt.clock.now()))


def _set_email(rt, **addresses: str | None) -> None:
    users = User.__table__
    with rt.store.write() as conn:
        for username, address in addresses.items():
            conn.execute(users.update().where(users.c.username == username).values(email=address))


def test_a_swept_reminder_arrives_by_email_in_chinese_one_digest_per_recipient(rt, client, world, clock, smtp_port):
    _set_email(rt, asg_a="asg_a@example.org", sup_a="sup_a@example.org")
    item = drive(client, world, rt, new_item(client, world), "rectifying")
    deadline = dt.date.fromisoformat(item["deadline"])
    # Well past the deadline, at 10:00 on a working day: overdue reminders and the blue escalation fall due.
    clock.set(dt.datetime.combine(deadline + dt.timedelta(days=7), dt.time(10, 0), SHANGHAI))
    _due_now(rt)
    result = sweep(rt)
    assert result.issued >= 2
    with rt.store.read() as conn:
        assert {s["status"] for s in notice_delivery_status(conn, result.notices).values()} == {"queued"}
    # The mail server is down at first: the attempts fail and are retried later.
    assert deliver(rt).failed_attempts == 2
    with rt.store.read() as conn:
        waiting = notice_delivery_status(conn, result.notices)
    assert {s["status"] for s in waiting.values()} == {"sending"}
    assert all(d["attempts"] == 1 and d["last_error"] for s in waiting.values() for d in s["deliveries"])
    with smtp_server(smtp_port) as inbox:
        assert next_due_at(rt) > clock.now()
        clock.advance(seconds=40)  # past the first retry of both (30 s with up to 25% jitter)
        report = deliver(rt)
    assert report.delivered == len(inbox.messages) == 2
    by_rcpt = {rcpts[0]: email.message_from_bytes(raw, policy=email.policy.default) for rcpts, raw in inbox.messages}
    assert set(by_rcpt) == {"asg_a@example.org", "sup_a@example.org"}
    for mail in by_rcpt.values():
        body = mail.get_body(("plain",)).get_content()
        for fact in (item["number"], item["title"], "市教委", deadline.isoformat(), "逾期"):
            assert fact in body, (fact, body)
        assert mail.get_body(("plain",)).get_content_charset() == "utf-8"
        assert mail["X-Closeloop-Message-Id"].startswith("msg_")
    # The subject travels as RFC 2047 encoded words (pure ASCII on the wire) and decodes to the same Chinese text.
    for rcpts, raw in inbox.messages:
        wire = re.search(rb"^Subject:(.*(?:\r?\n[ \t].*)*)", raw, flags=re.MULTILINE).group(1).decode("ascii")
        assert "=?utf-8?" in wire.lower()
        unfolded = re.sub(r"\r?\n[ \t]", " ", wire).strip()
        assert str(make_header(decode_header(unfolded))) == str(by_rcpt[rcpts[0]]["Subject"])
    # The assignee has one overdue reminder; the leader (分管领导) has it and the blue escalation, in one digest.
    assert str(by_rcpt["asg_a@example.org"]["Subject"]) == f"[closeloop] 逾期提醒：{item['number']}"
    assert str(by_rcpt["sup_a@example.org"]["Subject"]) == "[closeloop] 整改提醒：2 项事项（督办 1，逾期 1）"
    leader = by_rcpt["sup_a@example.org"].get_body(("plain",)).get_content()
    assert leader.index("【蓝色督办】") < leader.index("【已逾期 ")
    with rt.store.read() as conn:
        statuses = notice_delivery_status(conn, result.notices)
    assert {s["status"] for s in statuses.values()} == {"delivered"}
    assert all(d["channel"] == "email" for s in statuses.values() for d in s["deliveries"])
    with rt.store.read() as conn:
        assert notice_delivery_status(conn, [max(result.notices) + 1000]) == {
            max(result.notices) + 1000: {"status": "none", "deliveries": []}}


def test_no_email_for_inactive_users_or_users_without_an_address(rt, world, smtp_port):
    _set_email(rt, asg_a="asg_a@example.org", sup_a=None, asg_a1="asg_a1@example.org")
    users = User.__table__
    with rt.store.write() as conn:
        conn.execute(users.update().where(users.c.username == "asg_a").values(active=False))
    # The payload names them (as a notice issued before asg_a was deactivated would).
    insert_events(rt, [("reminder.overdue", {**reminder(1), "recipients": ["asg_a", "sup_a", "asg_a1"]}, "sweep-1")])
    with smtp_server(smtp_port) as inbox:
        deliver(rt)
    assert [rcpts for rcpts, _raw in inbox.messages] == [["asg_a1@example.org"]]
    with rt.store.read() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM outbox WHERE dispatched_at IS NULL")).scalar_one() == 0

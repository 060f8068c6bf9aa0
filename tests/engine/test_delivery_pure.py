"""Fast checks of delivery's pure parts: the retry schedule, message text and sizes, signatures, URL safety."""
from __future__ import annotations

import datetime as dt
import random
import time

import httpx
import orjson
import pytest
from standardwebhooks.webhooks import Webhook

from engine.clock import UTC
from engine.delivery.channels import dingtalk, feishu, wecom
from engine.delivery.channels.base import _retry_after
from engine.delivery.channels.generic import new_secret, sign
from engine.delivery.messages import Event, Message
from engine.delivery.retry import FIRST_DELAY, JITTER, MAX_DELAY, base_delay, next_attempt, rate_windows
from engine.delivery.safety import UnsafeURL, check_url
from tests.delivery_support import reminder

NOW = dt.datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def test_backoff_doubles_from_half_a_minute_up_to_six_hours():
    assert base_delay(1) == FIRST_DELAY and base_delay(2) == 2 * FIRST_DELAY and base_delay(30) == MAX_DELAY
    until = NOW + dt.timedelta(days=3)
    rng = random.Random(7)
    for attempts in range(1, 25):
        later = next_attempt(NOW, attempts, until, rng=rng)
        assert base_delay(attempts) * JITTER[0] <= later - NOW <= base_delay(attempts) * JITTER[1]


def test_the_last_try_is_at_the_end_of_the_window_and_after_it_the_delivery_is_given_up():
    until = NOW + dt.timedelta(minutes=10)
    assert next_attempt(NOW, 12, until) == until  # six hours would overshoot: moved to the window's end
    assert next_attempt(until, 13, until) is None
    # A receiver's Retry-After is honoured, within the window.
    assert next_attempt(NOW, 1, NOW + dt.timedelta(days=3), retry_after=3600) >= NOW + dt.timedelta(hours=1)


def test_rate_windows_per_robot_kind():
    assert rate_windows("generic", 20) == []
    assert rate_windows("dingtalk", 20) == rate_windows("wecom", 20) == [(dt.timedelta(minutes=1), 20)]
    assert (dt.timedelta(seconds=1), 5) in rate_windows("feishu", 20)


def _digest(count: int, title: str = "公办幼儿园学位缺口未按计划补齐") -> Message:
    events = tuple(Event(n, "reminder.overdue", NOW, {**reminder(n), "title": title}) for n in range(1, count + 1))
    return Message("msg_x", "digest", events, NOW, {"DEPT-A": "市教委"})


def test_a_huge_digest_fits_every_platform_and_says_how_many_are_left_out():
    message = _digest(2000, title="长" * 200)
    content = wecom.body(message)["markdown"]["content"]
    assert len(content.encode()) <= wecom.MAX_CONTENT_BYTES and "未列出" in content
    assert len(dingtalk.body(message)["markdown"]["text"].encode()) < 20000
    assert len(orjson.dumps(feishu.body(message))) < 20 * 1024
    assert message.title() == "整改提醒：2000 项事项（逾期 2000）"


def test_a_single_event_message_names_the_item():
    message = _digest(1)
    assert message.title() == "逾期提醒：ZG-2026-000001"
    assert message.lines() == ["【已逾期 4 天】ZG-2026-000001 公办幼儿园学位缺口未按计划补齐｜责任单位：市教委｜整改时限：2026-03-10"]


def test_the_generic_signature_verifies_with_the_reference_library():
    secret = new_secret()
    body = b'{"type":"reminder.overdue","data":{"title":"\xe6\x95\xb4\xe6\x94\xb9"}}'
    stamp = int(time.time())
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(stamp),
               "webhook-signature": sign(secret, "msg_1", stamp, body)}
    assert Webhook(secret).verify(body, headers)["data"]["title"] == "整改"


@pytest.mark.parametrize("url", ["http://127.0.0.1/", "http://[::1]/", "http://10.0.0.1/", "http://169.254.169.254/",
                                 "gopher://93.184.216.34/", "http://93.184.216.34:99999/", "https:///nohost"])
def test_unsafe_urls_are_refused(url):
    with pytest.raises(UnsafeURL):
        check_url(url, allow_private=False)


def test_public_addresses_pass_and_private_ones_pass_only_when_allowed():
    check_url("https://93.184.216.34/hook", allow_private=False)
    check_url("http://127.0.0.1:8000/hook", allow_private=True)


@pytest.mark.parametrize("value", ["²", "①", "1.5", "-3", "9" * 5000, ""])
def test_a_retry_after_that_is_no_whole_number_of_seconds_is_ignored(value):
    # '²' once raised out of the delivery attempt: str.isdigit() is true for it, float() refuses it.
    # As a receiver sends them: bytes, which httpx decodes (UTF-8 here) before the header is read.
    assert _retry_after(httpx.Response(429, headers={"Retry-After": value.encode()})) is None
    assert _retry_after(httpx.Response(429, headers={"Retry-After": " 120 "})) == 120

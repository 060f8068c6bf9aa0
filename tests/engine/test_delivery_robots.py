"""Group robots through local receivers standing in for DingTalk, WeCom and Feishu: each checks the payload
and signature against the platform's documented scheme; errcode answers are retried; rate limits hold."""
from __future__ import annotations

import base64
import bisect
import datetime as dt
import hashlib
import hmac
import time
from collections import Counter

import pytest
import sqlalchemy as sa

from engine.config import Settings
from engine.delivery.worker import deliver
from engine.models import Unit
from tests.delivery_support import add_webhook, deliveries, drain, insert_events, reminder
from tests.receivers import receiver

DING_SECRET = "SEC0123456789abcdef+/="  # with the characters that must be URL-encoded in the query
FEISHU_SECRET = "feishu-secret-飞书"


@pytest.fixture
def settings(db_url) -> Settings:
    """The receivers listen on 127.0.0.1, which only this setting lets a webhook reach."""
    return Settings(database_url=db_url, allow_private_webhooks=True)


def check_dingtalk(received, secret: str) -> dict:
    """钉钉 加签: timestamp in ms within an hour; sign = urlencode(base64(HMAC-SHA256(secret, f"{ts}\\n{secret}")))."""
    assert received.query["access_token"] == "DING-TOKEN"
    stamp = int(received.query["timestamp"])
    assert abs(stamp / 1000 - time.time()) < 3600
    expected = base64.b64encode(hmac.new(secret.encode(), f"{stamp}\n{secret}".encode(), hashlib.sha256).digest())
    assert received.query["sign"] == expected.decode()  # parse_qs decodes: a raw '+' would have become a space
    body = received.json()
    assert body["msgtype"] == "markdown" and set(body["markdown"]) == {"title", "text"}
    assert body["at"] == {"atMobiles": [], "isAtAll": False}
    return body


def check_wecom(received) -> dict:
    """企业微信: the key in the URL, markdown content of at most 4,096 UTF-8 bytes, no signature."""
    assert received.path == "/cgi-bin/webhook/send" and received.query == {"key": "WECOM-KEY"}
    body = received.json()
    assert set(body) == {"msgtype", "markdown"} and body["msgtype"] == "markdown"
    assert 0 < len(body["markdown"]["content"].encode("utf-8")) <= 4096
    return body


def check_feishu(received, secret: str) -> dict:
    """飞书 签名校验: timestamp in s; sign = base64(HMAC-SHA256(key=f"{ts}\\n{secret}", msg=b""))."""
    body = received.json()
    stamp = int(body["timestamp"])
    assert abs(stamp - time.time()) < 3600
    expected = base64.b64encode(hmac.new(f"{stamp}\n{secret}".encode(), b"", hashlib.sha256).digest()).decode()
    assert body["sign"] == expected
    assert body["msg_type"] == "post"
    post = body["content"]["post"]["zh_cn"]
    assert post["title"] and all(cell["tag"] == "text" for row in post["content"] for cell in row)
    assert len(received.body) <= 20 * 1024
    return body


def _robots(client, world, url: str, events: tuple[str, ...]) -> tuple[dict, dict, dict]:
    ding = add_webhook(client, world, url + "/robot/send?access_token=DING-TOKEN", kind="dingtalk", events=events,
                       secret=DING_SECRET)
    wecom = add_webhook(client, world, url + "/cgi-bin/webhook/send?key=WECOM-KEY", kind="wecom", events=events)
    feishu = add_webhook(client, world, url + "/open-apis/bot/v2/hook/FEISHU-TOKEN", kind="feishu", events=events,
                         secret=FEISHU_SECRET)
    return ding, wecom, feishu


def test_each_robot_gets_its_documented_format_and_signature_in_chinese(rt, client, world, clock):
    with receiver(clock) as rx:
        ding, wecom, feishu = _robots(client, world, rx.url, ("escalation.issued",))
        assert ding["secret"] is None and ding["has_secret"] and "DING-TOKEN" not in ding["url"]
        assert "FEISHU-TOKEN" not in feishu["url"] and "WECOM-KEY" not in wecom["url"]
        insert_events(rt, [("escalation.issued", reminder(7, event="escalation.issued", level="red",
                                                          overdue_days=12), None)])
        assert deliver(rt).delivered == 3
    by_path = {r.path: r for r in rx.got}
    ding_text = check_dingtalk(by_path["/robot/send"], DING_SECRET)["markdown"]["text"]
    wecom_text = check_wecom(by_path["/cgi-bin/webhook/send"])["markdown"]["content"]
    feishu_post = check_feishu(by_path["/open-apis/bot/v2/hook/FEISHU-TOKEN"], FEISHU_SECRET)["content"]["post"]
    feishu_text = feishu_post["zh_cn"]["title"] + "".join(c["text"] for row in feishu_post["zh_cn"]["content"]
                                                          for c in row)
    for text in (ding_text, wecom_text, feishu_text):
        for fact in ("红色督办", "ZG-2026-000007", "公办幼儿园学位缺口未按计划补齐", "市教委", "2026-03-10",
                     "已逾期 12 天"):
            assert fact in text, (fact, text)


def test_a_digest_per_robot_per_sweep_batch_fits_each_platform(rt, client, world, clock):
    with receiver(clock) as rx:
        _robots(client, world, rx.url, ("reminder.overdue", "reminder.due_soon", "escalation.issued"))
        rows = [("reminder.overdue", reminder(n, overdue_days=n % 9 + 1), "sweep-1") for n in range(1, 481)]
        rows += [("escalation.issued", reminder(n, event="escalation.issued", level="orange"), "sweep-1")
                 for n in range(481, 501)]
        rows.append(("reminder.due_soon", reminder(999, event="reminder.due_soon"), "sweep-2"))
        insert_events(rt, rows)
        deliver(rt)
    # 501 events in two sweep batches: two messages per robot, not 501.
    assert Counter(r.path for r in rx.got) == {"/robot/send": 2, "/cgi-bin/webhook/send": 2,
                                               "/open-apis/bot/v2/hook/FEISHU-TOKEN": 2}
    digests = {r.path: r for r in rx.got if "500" in r.body.decode()}
    wecom = check_wecom(digests["/cgi-bin/webhook/send"])["markdown"]["content"]
    assert "整改提醒：500 项事项（督办 20，逾期 480）" in wecom and "未列出" in wecom
    # The most urgent come first: the escalations before the plain overdue reminders.
    assert wecom.index("橙色督办") < wecom.index("已逾期")
    ding = check_dingtalk(digests["/robot/send"], DING_SECRET)["markdown"]
    assert ding["title"].startswith("整改提醒：500 项事项")
    check_feishu(digests["/open-apis/bot/v2/hook/FEISHU-TOKEN"], FEISHU_SECRET)


FAILURES = {"/ding": {"errcode": 310000, "errmsg": "sign not match"},
            "/wecom": {"errcode": 45009, "errmsg": "api freq out of limit"},
            "/feishu": {"code": 19021, "msg": "sign match fail"}}


def test_a_200_with_an_error_code_is_a_failure_and_is_retried(rt, client, world, clock):
    seen: Counter = Counter()

    def answer(_n, received):
        seen[received.path] += 1
        return (200, FAILURES[received.path], {}) if seen[received.path] == 1 else (200, {"errcode": 0, "code": 0}, {})

    with receiver(clock, answer) as rx:
        hooks = {"/ding": add_webhook(client, world, rx.url + "/ding?access_token=T", kind="dingtalk",
                                      events=("reminder.overdue",), secret=DING_SECRET),
                 "/wecom": add_webhook(client, world, rx.url + "/wecom?key=K", kind="wecom",
                                       events=("reminder.overdue",)),
                 "/feishu": add_webhook(client, world, rx.url + "/feishu", kind="feishu", events=("reminder.overdue",),
                                        secret=FEISHU_SECRET)}
        insert_events(rt, [("reminder.overdue", reminder(1), None)])
        drain(rt, clock)
    assert seen == {"/ding": 2, "/wecom": 2, "/feishu": 2}
    for path, hook in hooks.items():
        first, second = [r.at for r in rx.got if r.path == path]
        assert second > first
        [delivery] = deliveries(client, world, hook)
        assert delivery["status"] == "delivered"
        assert [a["outcome"] for a in delivery["log"]] == ["failed", "delivered"]
        code = str(FAILURES[path].get("errcode", FAILURES[path].get("code")))
        assert delivery["log"][0]["status_code"] == 200 and code in delivery["log"][0]["error"], delivery["log"]


def _path_of(rt, code: str) -> str:
    with rt.store.read() as conn:
        return conn.execute(sa.select(Unit.__table__.c.path).where(Unit.__table__.c.code == code)).scalar_one()


def _most_in_any_window(times: list[dt.datetime], window: dt.timedelta) -> int:
    return max(bisect.bisect_left(times, first + window) - index for index, first in enumerate(times))


def test_robot_rate_limits_hold_under_500_due_items(rt, client, world, clock):
    per_minute = rt.settings.robot_messages_per_minute
    sub_a1 = _path_of(rt, "SUB-A1")
    with receiver(clock) as rx:
        add_webhook(client, world, rx.url + "/ding?access_token=DING-TOKEN", kind="dingtalk",
                    events=("reminder.overdue",), secret=DING_SECRET)
        # Feishu's bot hears one district: 60 of the items, enough to press on its 5-a-second limit too.
        add_webhook(client, world, rx.url + "/feishu", kind="feishu", events=("reminder.overdue",), unit="SUB-A1")
        # 500 items due one by one (no shared sweep batch): one message each, far more than a minute allows.
        insert_events(rt, [("reminder.overdue", reminder(n, unit_path=sub_a1 if n <= 60 else "/1/2/"), None)
                           for n in range(1, 501)])
        start = clock.now()
        drain(rt, clock)
    for path, count in (("/ding", 500), ("/feishu", 60)):
        got = [r for r in rx.got if r.path == path]
        times = sorted(r.at for r in got)
        assert len({str(r.json()) for r in got}) == len(got) == count  # each item once
        # Every minute of injected time, wherever it starts, holds at most the limit...
        assert _most_in_any_window(times, dt.timedelta(minutes=1)) <= per_minute
        # ...and the limit is used, not undercut.
        assert max(Counter((t - start) // dt.timedelta(minutes=1) for t in times).values()) == per_minute
        assert times[-1] - start >= dt.timedelta(minutes=count // per_minute - 1)
    feishu = sorted(r.at for r in rx.got if r.path == "/feishu")
    assert _most_in_any_window(feishu, dt.timedelta(seconds=1)) == 5

"""The channels a delivery can go out on, one module each behind the small interface in ``base``."""
from __future__ import annotations

from engine.delivery.channels.base import Channel, Outcome, Target
from engine.delivery.channels.dingtalk import DingTalk
from engine.delivery.channels.email import Email
from engine.delivery.channels.feishu import Feishu
from engine.delivery.channels.generic import Generic
from engine.delivery.channels.wecom import WeCom

WEBHOOK_KINDS = ("generic", "dingtalk", "wecom", "feishu")
ROBOT_KINDS = ("dingtalk", "wecom", "feishu")

__all__ = ["Channel", "Outcome", "Target", "DingTalk", "Email", "Feishu", "Generic", "WeCom", "WEBHOOK_KINDS",
           "ROBOT_KINDS"]

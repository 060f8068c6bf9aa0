"""What a delivery says: its events, and the Chinese text people read in robots' group chats and e-mail."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from engine.clock import rfc3339

LEVEL_NAMES = {"blue": "蓝色督办", "orange": "橙色督办", "red": "红色督办"}
# Digest order: what needs action most comes first.
_RANK = {"escalation.issued": 0, "reminder.overdue": 1, "reminder.due_soon": 2}
_LEVEL_RANK = {"red": 0, "orange": 1, "blue": 2}
TEST_EVENT = "webhook.test"
DIGEST = "digest"
FOOTER = "closeloop 整改闭环"


@dataclass(frozen=True)
class Event:
    """An outbox event as a delivery carries it."""

    outbox_id: int | None
    name: str
    created_at: dt.datetime
    data: dict


@dataclass(frozen=True)
class Message:
    """One delivery's content, the same on every attempt: its id, type and events, plus unit names to show."""

    message_id: str
    type: str
    events: tuple[Event, ...]
    created_at: dt.datetime
    unit_names: dict[str, str] = field(default_factory=dict)

    def title(self) -> str:
        """A one-line subject: the event for a single one, the counts for a digest."""
        if self.type == TEST_EVENT:
            return "closeloop 测试消息"
        if len(self.events) == 1:
            return _headline(self.events[0].data, self.events[0].name)
        counts = {"escalation.issued": 0, "reminder.overdue": 0, "reminder.due_soon": 0}
        for event in self.events:
            if event.name in counts:
                counts[event.name] += 1
        parts = [f"{label} {counts[name]}" for name, label in (("escalation.issued", "督办"),
                 ("reminder.overdue", "逾期"), ("reminder.due_soon", "即将到期")) if counts[name]]
        return f"整改提醒：{len(self.events)} 项事项" + (f"（{'，'.join(parts)}）" if parts else "")

    def lines(self) -> list[str]:
        """One line per event, the most urgent first."""
        if self.type == TEST_EVENT:
            return ["这是一条测试消息：closeloop 已能向此处发送整改提醒。"]
        events = sorted(self.events, key=lambda e: (_RANK.get(e.name, 9), _LEVEL_RANK.get(e.data.get("level"), 9),
                                                     -int(e.data.get("overdue_days") or 0), e.outbox_id or 0))
        return [describe(e.name, e.data, self.unit_names) for e in events]

    def fitted_lines(self, budget: int) -> list[str]:
        """As many lines as fit in ``budget`` UTF-8 bytes (newlines counted), then a line saying how many are left."""
        lines = self.lines()
        kept, used = [], 0
        for index, line in enumerate(lines):
            cost = len(line.encode()) + 1
            rest = len(lines) - index - 1
            # Keep room for the "more" line unless this is the last one.
            reserve = 0 if rest == 0 else 40
            if used + cost + reserve > budget:
                kept.append(f"……另有 {len(lines) - index} 项未列出，请登录 closeloop 查看")
                break
            kept.append(line)
            used += cost
        return kept


def _headline(data: dict, name: str) -> str:
    number = data.get("number") or ""
    if name == "escalation.issued":
        return f"{LEVEL_NAMES.get(data.get('level'), '督办')}：{number}"
    if name == "reminder.overdue":
        return f"逾期提醒：{number}"
    if name == "reminder.due_soon":
        return f"到期提醒：{number}"
    if name == "item.created":
        return f"新登记整改事项：{number}"
    if name == "item.transitioned":
        return f"整改事项状态变更：{number}"
    return f"{name}：{number}" if number else name


def describe(name: str, data: dict, unit_names: dict[str, str]) -> str:
    """One line about one event: item number, title, unit, deadline, days overdue, level."""
    unit = data.get("unit") or ""
    unit_text = unit_names.get(unit, unit)
    head = f"{data.get('number', '')} {data.get('title', '')}".strip()
    parts = []
    if name == "escalation.issued":
        parts.append(f"【{LEVEL_NAMES.get(data.get('level'), '督办')}】{head}")
    elif name == "reminder.overdue":
        parts.append(f"【已逾期 {int(data.get('overdue_days') or 0)} 天】{head}")
    elif name == "reminder.due_soon":
        parts.append(f"【即将到期】{head}")
    elif name == "item.created":
        parts.append(f"【新登记】{head}")
    elif name == "item.transitioned":
        parts.append(f"【{data.get('from_state')} → {data.get('to_state')}】{head}（{data.get('actor', '')}）")
    else:
        parts.append(f"【{name}】{head}")
    if unit_text:
        parts.append(f"责任单位：{unit_text}")
    if data.get("deadline"):
        parts.append(f"整改时限：{data['deadline']}")
    if name == "escalation.issued" and data.get("overdue_days"):
        parts.append(f"已逾期 {int(data['overdue_days'])} 天")
    return "｜".join(parts)


def webhook_body(event: Event) -> dict:
    """The Standard Webhooks body of one event: ``{"type", "timestamp", "data"}``."""
    data = {k: v for k, v in event.data.items() if k != "event"}
    return {"type": event.name, "timestamp": rfc3339(event.created_at), "data": data}


def test_event(now: dt.datetime) -> Event:
    """The one event of a test message."""
    return Event(None, TEST_EVENT, now, {"message": "closeloop 测试消息"})

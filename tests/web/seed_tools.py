"""Items for the browser tests of the inbox, ledger, batch and accessibility pages, put into the browser
server's database once per session: an open item, a closed one, items to batch-assign, and an overdue item
swept a few times so that inboxes hold reminders and escalations."""
from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient

from api.app import create_app
from engine.accounts import new_token_for
from engine.config import Settings
from engine.reminders.sweep import sweep
from engine.runtime import Runtime
from tests.helpers import World, drive, fire, new_item

CAMPAIGN = "2026年网页工具检查"  # every item made here carries it, so a list filtered by it shows only these


def seed_tool_items(url: str) -> dict[str, str]:
    """Make the items (through the API, in-process, on the same database file); return their numbers by role."""
    rt = Runtime.open(Settings(database_url=url))
    try:
        with rt.store.write() as conn:
            world = World({name: new_token_for(conn, clock=rt.clock, actor="cli:tests", username=name)
                           for name in ("reg", "sup", "asg_a", "ver", "aud")})
        with TestClient(create_app(rt)) as client:
            def item(**extra) -> dict:
                return new_item(client, world, campaign=CAMPAIGN, **extra)

            opened = drive(client, world, rt, item(title="学校食堂食品安全管理制度不落实"), "rectifying")
            closed = drive(client, world, rt, item(title="校外培训机构违规收费问题"), "closed")
            batch = [item(title=f"第{n}批督查发现的问题", unit=unit) for n, unit in ((1, "DEPT-A"), (2, "SUB-A1"))]
            due = (rt.today() + dt.timedelta(days=3)).isoformat()
            late = item(title="老旧小区加装电梯进度滞后", due_date=due)
            for body, user in (({"trigger": "assign", "fields": {"due_date": due}}, "sup"),
                               ({"trigger": "accept"}, "asg_a")):
                assert fire(client, world, late, body, user).status_code == 200
        now = rt.clock.now()
        for days in (5, 8, 12, 20, 30):  # past its due date, then as each escalation comes due
            sweep(rt, now=now + dt.timedelta(days=days))
    finally:
        rt.store.dispose()
    return {"open": opened["number"], "closed": closed["number"], "late": late["number"],
            "batch": ",".join(i["number"] for i in batch)}

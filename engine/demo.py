"""A demo city: a unit tree, one user per role (plus unit assignees) and ~50 items in every state.

Items are driven through the real service with a clock set in the past, so their histories are genuine
hash chains that ``closeloop audit verify`` accepts.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import secrets

from engine import accounts, items, service
from engine.audit.actors import cli_actor
from engine.campaigns import registry as campaigns
from engine.campaigns.schemas import NewCampaign
from engine.clock import ManualClock
from engine.inputs import NewItem, TransitionRequest
from engine.people.passwords import set_password
from engine.reminders.sweep import sweep
from engine.runtime import Runtime

UNITS = [  # code, name, parent
    ("CITY", "某市整改办", None),
    ("CITY-EDU", "市教委", "CITY"), ("DIST-EDU", "东城区教育局", "CITY-EDU"), ("SCHOOL-01", "东城区第一幼儿园", "DIST-EDU"),
    ("CITY-CA", "市民政局", "CITY"), ("CITY-HOUSING", "市住建委", "CITY"), ("CITY-HEALTH", "市卫健委", "CITY"),
    ("DIST-CM", "东城区城管局", "CITY"), ("CITY-FIN", "市财政局", "CITY"), ("CITY-HRSS", "市人社局", "CITY"),
    ("BUREAU-PARTY", "某局机关党委", "CITY"),
]
USERS = [  # username, roles, unit, display name
    ("admin", ["admin"], "CITY", "系统管理员"),
    ("wang.fang", ["registrar"], "CITY", "王芳（登记员）"),
    ("zhang.wei", ["supervisor"], "CITY", "张伟（督办）"),
    ("zhao.lei", ["verifier"], "CITY", "赵磊（核查）"),
    ("sun.li", ["auditor"], "CITY", "孙丽（审计）"),
    ("li.ming", ["assignee"], "CITY-EDU", "李明（市教委）"),
    ("chen.jing", ["assignee"], "CITY-CA", "陈静（市民政局）"),
    ("liu.yang", ["assignee"], "CITY-HOUSING", "刘洋（市住建委）"),
    ("zhou.min", ["assignee"], "CITY-HEALTH", "周敏（市卫健委）"),
    ("wu.qiang", ["assignee"], "DIST-CM", "吴强（区城管局）"),
    ("xu.hui", ["assignee"], "CITY-FIN", "徐慧（市财政局）"),
    ("hu.jun", ["assignee"], "CITY-HRSS", "胡军（市人社局）"),
    ("ma.lin", ["assignee"], "BUREAU-PARTY", "马林（机关党委）"),
]
ASSIGNEE_OF = {u[2]: u[0] for u in USERS if u[1] == ["assignee"]}
PROBLEMS = [  # title, source, unit, severity, workflow
    ("公办幼儿园学位缺口未按计划补齐", "inspection", "CITY-EDU", "high", "long_term"),
    ("家庭养老床位建设进度滞后", "supervision", "CITY-CA", "high", "long_term"),
    ("保交楼项目逾期未交付", "complaint", "CITY-HOUSING", "critical", "standard"),
    ("保障性租赁住房房源筹集不足", "inspection", "CITY-HOUSING", "high", "long_term"),
    ("婴幼儿托位供给不足", "supervision", "CITY-HEALTH", "medium", "long_term"),
    ("群众反映小区供暖不达标", "complaint", "DIST-CM", "high", "immediate"),
    ("落实中央八项规定精神不到位", "inspection", "BUREAU-PARTY", "high", "standard"),
    ("专项资金拨付不及时、使用不规范", "audit", "CITY-FIN", "critical", "standard"),
    ("学习台账记录不完整", "self_check", "BUREAU-PARTY", "low", "immediate"),
    ("城镇新增就业统计口径不一致", "audit", "CITY-HRSS", "medium", "standard"),
]
# Where each demo item ends up: the triggers fired after registration.
PATHS = [
    [], ["assign"], ["assign", "accept"], ["assign", "accept", "report_progress"],
    ["assign", "accept", "request_extension"], ["assign", "accept", "request_extension", "grant_extension"],
    ["assign", "accept", "submit"], ["assign", "accept", "submit", "reject"], ["assign", "accept", "submit", "approve"],
    ["assign", "accept", "submit", "approve", "close"], ["assign", "accept", "submit", "approve", "close", "reopen"],
    ["cancel"],
]
ACTOR_BY_ROLE = {"supervisor": "zhang.wei", "verifier": "zhao.lei", "auditor": "sun.li", "registrar": "wang.fang"}
COMMENTS = {"report_progress": "已完成阶段性工作，正在推进", "request_extension": "受施工周期影响，申请延期",
            "reject": "佐证材料不充分，请补充现场照片", "reopen": "回头看发现问题反弹，重新整改", "cancel": "经核实为重复登记，作废",
            "deny_extension": "理由不充分，不予延期"}


def _actor(conn, username: str) -> accounts.Actor:
    row = accounts.user_by_username(conn, username)
    return accounts.Actor(row.id, row.username, frozenset(row.roles.split(",")), row.unit_id, row.unit_code,
                          row.unit_path)


def _request(trigger: str, due: dt.date | None, n: int) -> TransitionRequest:
    fields: dict = {}
    evidence: list = []
    if trigger == "assign" and due is not None:
        fields = {"due_date": due.isoformat()}
    if trigger == "accept":
        fields = {"measures": "制定整改方案，明确责任人和时间表，按月报告进展"}
    if trigger == "request_extension" and due is not None:
        fields = {"new_due_date": (due + dt.timedelta(days=30)).isoformat()}
    if trigger == "submit":
        digest = hashlib.sha256(f"demo evidence {n}".encode()).hexdigest()
        evidence = [{"name": f"整改报告-{n:03d}.pdf", "sha256": digest}]
    return TransitionRequest.model_validate({"trigger": trigger, "comment": COMMENTS.get(trigger, "同意"),
                                             "evidence": evidence, "fields": fields})


def load_demo(rt: Runtime, count: int = 50, *,
              actor: str | None = None) -> tuple[bool, dict[str, tuple[list[str], str]], dict[str, str]]:
    """Load the demo once, all or nothing; always issue a fresh token and web password per demo user.

    Returns whether the demo was created now, each demo user's roles and new token, and their new passwords.
    """
    actor = actor or cli_actor()  # the admin log names who loaded the demo
    tokens = {}
    passwords = {username: new_password() for username, *_ in USERS}
    with rt.store.write() as conn:
        created = accounts.unit_by_code(conn, "CITY") is None
        if created:
            for code, name, parent in UNITS:
                accounts.add_unit(conn, clock=rt.clock, actor=actor, code=code, name=name, parent=parent)
            for username, roles, unit, display in USERS:
                accounts.add_user(conn, clock=rt.clock, actor=actor, username=username, roles=roles, unit=unit,
                                  display_name=display)
            _load_items(conn, rt, count)
            _register_campaigns(conn, rt)
        for username, roles, _unit, _display in USERS:
            row = accounts.user_by_username(conn, username)
            tokens[username] = (roles, accounts.issue_token(conn, clock=rt.clock, actor=actor, user_id=row.id, label="demo"))
            set_password(conn, clock=rt.clock, actor=actor, username=username, password=passwords[username])
    if created:
        # The overdue demo items' reminders and escalations are in the inboxes from the first request on.
        sweep(rt)
    return created, tokens, passwords


def new_password() -> str:
    """A random demo password: 12 letters and digits, easy to type from the printed list."""
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i to misread
    return "".join(secrets.choice(alphabet) for _ in range(12))


# The first two inspection rounds are registered; the third is left for the office to enter, as happens when a
# report's problems arrive before the round itself is entered (docs/CAMPAIGNS.md).
CAMPAIGNS = [("2026-XC-R1", "2026年第一轮巡察", "市委巡察办", dt.date(2026, 3, 16)),
             ("2026-XC-R2", "2026年第二轮巡察", "市委巡察办", dt.date(2026, 6, 22))]


def _register_campaigns(conn, rt: Runtime) -> None:
    for code, name, issued_by, issued_on in CAMPAIGNS:
        campaigns.create(conn, clock=rt.clock, actor=_actor(conn, "zhang.wei"), today=rt.today(),
                         data=NewCampaign(code=code, name=name, issued_by=issued_by, issued_on=issued_on))


def _load_items(conn, rt: Runtime, count: int) -> None:
    real_now = rt.clock.now()
    today = rt.local_date(real_now)
    for n in range(count):
        title, source, unit, severity, workflow = PROBLEMS[n % len(PROBLEMS)]
        path = PATHS[n % len(PATHS)]
        if workflow != "standard":
            path = [t for t in path if t not in ("request_extension", "grant_extension")]
        # Every third item still in work is overdue (registered weeks ago, due date passed); the others were
        # registered a few days before their last step and are due within weeks or months.
        overdue = n % 3 == 0 and "close" not in path and "request_extension" not in path
        started = real_now - dt.timedelta(days=40 + n % 9 if overdue else 2 * len(path) + 1 + n % 2, hours=n % 7)
        clock = ManualClock(started)
        local = dataclasses.replace(rt, clock=clock)
        due = today - dt.timedelta(days=5 + n % 9) if overdue else today + dt.timedelta(days=10 + 7 * (n % 12))
        if workflow == "immediate":
            due = None  # the workflow's default (5 working days from assignment) applies
        round_no = 1 + n % 3
        data = NewItem.model_validate({
            "title": f"{title}（第{n // len(PROBLEMS) + 1}批）", "source": source, "unit": unit, "severity": severity,
            "workflow": workflow, "campaign": f"2026-XC-R{round_no}", "external_ref": f"XC-2026-{n + 1:03d}",
            "description": f"2026年第{round_no}轮巡察发现：{title}。", "assignee": ASSIGNEE_OF[unit],
            "tags": ["民生" if n % 2 else "作风"]})
        row, _ = items.create_item(conn, local, _actor(conn, "wang.fang"), data)
        for trigger in path:
            clock.advance(days=2 if not overdue else 3, hours=1)
            wf = local.registry.by_hash(row["workflow_hash"])
            tdef = wf.definition.transition(trigger, row["state"])
            if tdef is None:
                break
            role = tdef.roles[0]
            username = ASSIGNEE_OF[unit] if role == "assignee" else ACTOR_BY_ROLE[role]
            request = _request(trigger, due, n)
            row = service.fire(conn, local, item_ref=row["id"], actor=_actor(conn, username), request=request).item

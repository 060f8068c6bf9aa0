"""The whole life of an item in each bundled workflow, through HTTP, on both stores.

Every accepted step is checked for what a client relies on: the new state and its Chinese title, the
version rising by one, the ETag, the history record it appended (actor, comment, evidence, changed
fields, prev_hash chaining); every refusal for its status and problem fields, and for changing nothing.
Time moves with the injected clock only.
"""
from __future__ import annotations

import datetime as dt

import pytest

from tests.helpers import DRIVER, SHA, World, assert_problem, drive, fire, new_item, payload

TITLES = {"identified": "已登记", "assigned": "已交办", "rectifying": "整改中", "extension_requested": "延期审批中",
          "pending_verification": "待验收", "verified": "已验收", "closed": "已销号", "cancelled": "已作废"}
LONG_TERM_TITLES = {**TITLES, "rectifying": "持续整改中"}
EVIDENCE = [{"name": "整改报告.pdf", "sha256": SHA.upper(), "url": "https://files.example.cn/zg/1.pdf"}]
STORED_EVIDENCE = [{"name": "整改报告.pdf", "sha256": SHA.lower(), "url": "https://files.example.cn/zg/1.pdf"}]


class Life:
    """One item followed through its life: each step asserted, each history record remembered."""

    def __init__(self, client, world: World, item: dict, titles: dict = TITLES) -> None:
        self.client, self.world, self.item, self.titles = client, world, item, titles
        self.records: list[dict] = []

    def get(self, as_user: str = "aud") -> dict:
        response = self.client.get(f"/api/v1/items/{self.item['id']}", headers=self.world.h(as_user))
        assert response.status_code == 200, response.text
        assert response.headers["etag"] == f'"{response.json()["version"]}"'
        return response.json()

    def allowed(self, as_user: str) -> list[str]:
        return sorted(self.get(as_user)["allowed_triggers"])

    def history(self) -> list[dict]:
        response = self.client.get(f"/api/v1/items/{self.item['id']}/history", headers=self.world.h("aud"))
        assert response.status_code == 200, response.text
        return response.json()["data"]

    def go(self, trigger: str, as_user: str, dest: str, **body) -> dict:
        """Fire a transition that must succeed (sending If-Match as a careful client does)."""
        before = self.item
        response = fire(self.client, self.world, before, {"trigger": trigger, **body}, as_user,
                        **{"If-Match": f'"{before["version"]}"'})
        where = f"{before['workflow']}: {trigger} from {before['state']} as {as_user}"
        assert response.status_code == 200, f"{where}: {response.text}"
        item = response.json()
        assert item["state"] == dest, where
        assert item["state_title"] == self.titles[dest], where
        assert item["version"] == before["version"] + 1, where
        assert response.headers["etag"] == f'"{item["version"]}"', where
        record = item.pop("transition")
        assert record["seq"] == item["version"], where  # history and version both start at 1
        assert (record["trigger"], record["from_state"], record["to_state"], record["actor"]) == (
            trigger, before["state"], dest, as_user), where
        assert record["comment"] == body.get("comment"), where
        self.records.append(record)
        self.item = item
        return item

    def refused(self, trigger: str, as_user: str, status: int, **body) -> dict:
        """Fire a transition that must be refused with ``status``; check that nothing was written."""
        history_length = len(self.history())
        response = fire(self.client, self.world, self.item, {"trigger": trigger, **body}, as_user)
        assert response.status_code == status, f"{trigger} as {as_user}: {response.text}"
        problem = assert_problem(response, status)
        assert self.get()["version"] == self.item["version"], f"{trigger} refused but the item changed"
        assert len(self.history()) == history_length, f"{trigger} refused but history was written"
        return problem

    def check_history(self, triggers: list[str]) -> list[dict]:
        """The stored chain equals the records the transitions answered, and links hash to prev_hash."""
        stored = self.history()
        assert [r["trigger"] for r in stored] == ["create", *triggers]
        assert [r["seq"] for r in stored] == list(range(1, len(stored) + 1))
        assert stored[0]["from_state"] is None and stored[0]["prev_hash"] == "0" * 64
        assert stored[len(stored) - len(self.records):] == self.records
        for earlier, later in zip(stored, stored[1:]):
            assert later["prev_hash"] == earlier["hash"], f"chain broken at seq {later['seq']}"
            assert later["from_state"] == earlier["to_state"], f"states do not follow at seq {later['seq']}"
        verify = self.client.get("/api/v1/audit/verify", headers=self.world.h("aud")).json()
        assert verify["ok"] is True, verify
        return stored


def test_standard_life_with_extension_reject_close_and_reopen(client, world, clock):
    created = client.post("/api/v1/items", headers=world.h("reg"), json={
        "title": "家庭养老床位建设进度滞后", "description": "巡察发现：年度目标完成不足一半。", "source": "inspection",
        "unit": "DEPT-A", "assignee": "asg_a", "due_date": "2026-04-30", "workflow": "standard"})
    assert created.status_code == 201, created.text
    assert created.headers["location"] == f"/api/v1/items/{created.json()['id']}"
    assert created.headers["etag"] == '"1"'
    life = Life(client, world, created.json())
    item = life.item
    assert (item["state"], item["state_title"], item["version"]) == ("identified", "已登记", 1)
    assert item["title"] == "家庭养老床位建设进度滞后" and item["due_date"] == "2026-04-30"
    assert item["allowed_triggers"] == []  # a registrar fires nothing
    # Identified: to be assigned within 2 working days (Mon 2 -> Wed 4 March): due soon, so yellow.
    assert (item["deadline"], item["light"], item["overdue_days"]) == ("2026-03-04", "yellow", 0)
    assert life.allowed("sup") == ["assign", "cancel"] and life.allowed("asg_a") == []

    item = life.go("assign", "sup", "assigned", fields={"due_date": "2026-04-30", "measures": "新建床位200张"})
    assert life.records[-1]["fields"] == {"measures": "新建床位200张"}  # an unchanged due date is not a change
    assert life.allowed("asg_a") == ["accept"] and life.allowed("sup") == ["cancel", "transfer"]
    item = life.go("accept", "asg_a", "rectifying")
    assert (item["deadline"], item["light"], item["overdue_days"]) == ("2026-04-30", "green", 0)
    assert life.allowed("asg_a") == ["report_progress", "request_extension", "submit"]

    clock.advance(days=7)
    life.go("report_progress", "asg_a", "rectifying", comment="已完成选址，正在施工。")
    item = life.go("request_extension", "asg_a", "extension_requested", comment="施工受雨季影响，申请延期一个月",
                   fields={"new_due_date": "2026-05-29"})
    assert (item["due_date"], item["requested_due_date"]) == ("2026-04-30", "2026-05-29")
    assert (item["deadline"], item["light"], item["overdue_days"]) == (None, "none", 0)  # the clock is paused
    assert life.records[-1]["fields"] == {"requested_due_date": "2026-05-29"}
    assert life.allowed("asg_a") == [] and life.allowed("sup") == ["deny_extension", "grant_extension", "transfer"]
    item = life.go("grant_extension", "sup", "rectifying")
    assert (item["due_date"], item["requested_due_date"]) == ("2026-05-29", None)
    assert item["deadline"] == "2026-05-29"
    assert life.records[-1]["fields"] == {"due_date": "2026-05-29", "requested_due_date": None}

    clock.advance(days=30)
    item = life.go("submit", "asg_a", "pending_verification", evidence=EVIDENCE)
    assert life.records[-1]["evidence"] == STORED_EVIDENCE  # the digest is kept lower-case
    assert item["submitted_by"] == "asg_a" and item["light"] == "green"
    assert life.allowed("ver") == ["approve", "reject"] and life.allowed("asg_a") == []
    problem = life.refused("reject", "ver", 422)
    assert (problem["guard"], problem["type"].rsplit("/", 1)[-1]) == ("requires", "guard-failed")
    life.go("reject", "ver", "rectifying", comment="佐证材料不完整，请补充验收照片。")
    life.go("submit", "asg_a", "pending_verification", comment="已补充照片。",
            evidence=[{"name": "验收照片.zip", "sha256": "AB" * 32}])
    assert life.records[-1]["evidence"] == [{"name": "验收照片.zip", "sha256": "ab" * 32}]
    life.go("approve", "ver", "verified")
    item = life.go("close", "sup", "closed")
    assert (item["light"], item["deadline"], item["allowed_triggers"]) == ("none", None, ["reopen"])
    assert item["closed_at"] is not None and item["reopened_count"] == 0
    assert life.allowed("aud") == life.allowed("sup") == ["reopen"] and life.allowed("ver") == []

    clock.advance(days=60)
    assert life.refused("reopen", "aud", 422)["guard"] == "requires"
    item = life.go("reopen", "aud", "rectifying", comment="回头看：床位未投入使用，问题反弹。")
    assert item["reopened_count"] == 1 and item["closed_at"] is None and item["submitted_by"] is None
    life.go("submit", "asg_a", "pending_verification", evidence=EVIDENCE)
    life.go("approve", "ver", "verified")
    item = life.go("close", "sup", "closed")
    assert item["reopened_count"] == 1 and item["version"] == 15

    stored = life.check_history(["assign", "accept", "report_progress", "request_extension",
                                 "grant_extension", "submit", "reject", "submit", "approve", "close",
                                 "reopen", "submit", "approve", "close"])
    assert stored[0]["actor"] == "reg" and stored[0]["fields"]["due_date"] == "2026-04-30"
    assert stored[-4]["comment"] == "回头看：床位未投入使用，问题反弹。"


def test_denied_extension_keeps_the_due_date_and_clears_the_request(client, world, rt):
    item = drive(client, world, rt, new_item(client, world), "rectifying")
    life = Life(client, world, item)
    due = item["due_date"]
    item = life.go("request_extension", "asg_a", "extension_requested", comment="需协调资金",
                   fields={"new_due_date": "2026-06-30"})
    assert item["requested_due_date"] == "2026-06-30"
    assert life.refused("deny_extension", "sup", 422)["guard"] == "requires"
    item = life.go("deny_extension", "sup", "rectifying", comment="理由不充分，按原期限完成")
    assert (item["due_date"], item["requested_due_date"], item["deadline"]) == (due, None, due)
    assert life.records[-1]["fields"] == {"requested_due_date": None}
    life.check_history(["assign", "accept", "request_extension", "deny_extension"])


def test_extension_after_the_deadline_is_refused_by_before_deadline(client, world, rt, clock):
    item = drive(client, world, rt, new_item(client, world), "rectifying")
    life = Life(client, world, item)
    body = {"comment": "申请延期", "fields": {"new_due_date": "2026-06-30"}}
    clock.advance(days=10)  # on the due date itself: still in time, due soon
    assert rt.today().isoformat() == item["due_date"]
    assert (life.get()["light"], life.get()["overdue_days"]) == ("yellow", 0)
    clock.advance(days=1)
    assert (life.get()["light"], life.get()["overdue_days"]) == ("red", 1)
    problem = life.refused("request_extension", "asg_a", 422, **body)
    assert problem["type"].endswith("/guard-failed") and problem["guard"] == "before_deadline"
    assert problem["detail"]
    assert life.get()["requested_due_date"] is None
    life.check_history(["assign", "accept"])


@pytest.mark.parametrize("offset", [0, -1], ids=["same-date", "earlier-date"])
def test_extension_must_move_the_due_date_later(client, world, rt, offset):
    item = drive(client, world, rt, new_item(client, world), "rectifying")
    new_due = (dt.date.fromisoformat(item["due_date"]) + dt.timedelta(days=offset)).isoformat()
    problem = Life(client, world, item).refused("request_extension", "asg_a", 422, comment="申请延期",
                                                fields={"new_due_date": new_due})
    assert problem["guard"] == "later_due_date"


@pytest.mark.parametrize("state", ["identified", "assigned"])
def test_cancel_needs_a_comment_is_final_and_then_every_trigger_is_409(client, world, rt, state):
    life = Life(client, world, new_item(client, world, due_date="2026-04-30"))
    if state == "assigned":
        life.go("assign", "sup", "assigned")
    assert life.refused("cancel", "sup", 422, comment="  ")["guard"] == "requires"
    item = life.go("cancel", "sup", "cancelled", comment="重复登记，与ZG-2026-000001为同一问题")
    assert (item["light"], item["deadline"], item["allowed_triggers"]) == ("none", None, [])
    assert item["closed_at"] is not None
    definition = rt.registry.current("standard").definition
    for tdef in definition.transitions:  # each fired by someone who holds its role
        user = DRIVER[tdef.roles[0]]
        body = {k: v for k, v in payload(tdef, rt.today(), life.item).items() if k != "trigger"}
        problem = life.refused(tdef.trigger, user, 409, **body)
        assert problem["type"].endswith("/invalid-transition"), (tdef.trigger, user)
        assert (problem["state"], problem["allowed_triggers"]) == ("cancelled", []), (tdef.trigger, user)
    life.check_history(["assign", "cancel"] if state == "assigned" else ["cancel"])


def test_a_past_due_date_at_registration_is_accepted_and_shows_red(client, world, rt):
    item = new_item(client, world, due_date="2026-02-20")  # ten days before today (2 March)
    assert item["due_date"] == "2026-02-20"
    assert (item["light"], item["overdue_days"]) == ("red", 10)
    listed = client.get("/api/v1/items?overdue=true", headers=world.h("aud")).json()["data"]
    assert [i["id"] for i in listed] == [item["id"]]
    life = Life(client, world, item)
    for trigger, user, state in (("assign", "sup", "assigned"), ("accept", "asg_a", "rectifying")):
        item = life.go(trigger, user, state)
        assert (item["deadline"], item["light"], item["overdue_days"]) == ("2026-02-20", "red", 10), state


def test_a_submitter_may_not_verify_their_own_fix(client, world):
    life = Life(client, world, new_item(client, world, assignee="doer_a", due_date="2026-04-30"))
    life.go("assign", "sup", "assigned")
    life.go("accept", "doer_a", "rectifying")
    life.go("submit", "doer_a", "pending_verification", evidence=EVIDENCE)
    assert life.allowed("doer_a") == []
    assert "approve" not in life.get("doer_a")["allowed_triggers"]
    for trigger, body in (("approve", {}), ("reject", {"comment": "自己退回自己"})):
        problem = life.refused(trigger, "doer_a", 403, **body)
        assert problem["reason"] == "separation_of_duties", problem
    assert life.allowed("ver_a") == ["approve", "reject"]
    life.go("approve", "ver_a", "verified")
    life.check_history(["assign", "accept", "submit", "approve"])


def test_immediate_due_date_defaults_to_five_working_days_after_assignment(client, world, clock):
    life = Life(client, world, new_item(client, world, workflow="immediate"))
    assert life.item["due_date"] is None
    clock.advance(days=1)  # assigned on Tuesday 3 March: five working days later is Tuesday 10 March
    item = life.go("assign", "sup", "assigned")
    assert item["due_date"] == "2026-03-10"
    assert life.records[-1]["fields"] == {"due_date": "2026-03-10"}
    item = life.go("accept", "asg_a", "rectifying")
    assert (item["deadline"], item["light"]) == ("2026-03-10", "green")
    assert life.allowed("asg_a") == ["report_progress", "submit"]
    unknown = life.refused("request_extension", "asg_a", 422, comment="延期", fields={"new_due_date": "2026-03-20"})
    assert unknown["type"].endswith("/unknown-trigger") and "request_extension" not in unknown["triggers"]
    assert "submit" in unknown["triggers"]
    life.go("submit", "asg_a", "pending_verification", evidence=EVIDENCE)
    life.go("approve", "ver", "verified")
    life.go("close", "sup", "closed")
    life.check_history(["assign", "accept", "submit", "approve", "close"])


def test_immediate_default_due_date_follows_the_holiday_calendar(client, world, clock):
    clock.advance(days=59)  # Thursday 30 April 2026, before the Labour Day holiday (1-5 May)
    life = Life(client, world, new_item(client, world, workflow="immediate"))
    # 6, 7, 8 May, Saturday 9 May (a make-up working day), Monday 11 May.
    assert life.go("assign", "sup", "assigned")["due_date"] == "2026-05-11"


def test_immediate_due_date_more_than_fifteen_days_out_is_refused(client, world, clock):
    life = Life(client, world, new_item(client, world, workflow="immediate"))
    problem = life.refused("assign", "sup", 422, fields={"due_date": "2026-03-18"})  # 16 days out
    assert problem["type"].endswith("/guard-failed") and problem["guard"] == "within_max_due"
    # A due date past the maximum is refused at registration already (field due_date), not only at assign.
    far = client.post("/api/v1/items", headers=world.h("reg"), json={
        "title": "群众反映小区供暖不达标", "source": "complaint", "unit": "DEPT-A", "workflow": "immediate",
        "due_date": "2026-04-30"})
    assert assert_problem(far, 422)["field"] == "due_date"
    item = life.go("assign", "sup", "assigned", fields={"due_date": "2026-03-17"})  # exactly 15 days
    assert item["due_date"] == "2026-03-17"


def test_long_term_needs_measures_reports_restart_the_month_and_one_verification(client, world, clock):
    life = Life(client, world, new_item(client, world, workflow="long_term",
                                        title="保障性租赁住房房源筹集不足"), titles=LONG_TERM_TITLES)
    life.go("assign", "sup", "assigned")
    assert life.refused("accept", "asg_a", 422)["guard"] == "requires"
    item = life.go("accept", "asg_a", "rectifying", fields={"measures": "分三批筹集房源，每月报告进展"})
    assert item["state_title"] == "持续整改中" and item["measures"] == "分三批筹集房源，每月报告进展"
    assert life.records[-1]["fields"] == {"measures": "分三批筹集房源，每月报告进展"}
    assert (item["due_date"], item["deadline"], item["light"]) == (None, "2026-04-02", "green")
    assert life.allowed("asg_a") == ["report_progress", "submit"]

    clock.advance(days=20)  # Sunday 22 March: a report restarts the monthly clock from today
    item = life.go("report_progress", "asg_a", "rectifying", comment="第一批房源已筹集300套")
    assert item["deadline"] == "2026-04-22"
    clock.advance(days=35)  # 26 April: no report for a month, so the item is overdue
    assert (life.get()["light"], life.get()["overdue_days"]) == ("red", 4)
    item = life.go("report_progress", "asg_a", "rectifying", comment="第二批房源已筹集",
                   fields={"measures": "分三批筹集，第三批改为盘活存量"})
    assert (item["deadline"], item["light"], item["overdue_days"]) == ("2026-05-26", "green", 0)
    assert life.records[-1]["fields"] == {"measures": "分三批筹集，第三批改为盘活存量"}

    life.go("submit", "asg_a", "pending_verification", evidence=EVIDENCE)
    unknown = life.refused("request_extension", "asg_a", 422, comment="延期", fields={"new_due_date": "2026-09-30"})
    assert unknown["type"].endswith("/unknown-trigger") and "request_extension" not in unknown["triggers"]
    assert life.refused("submit", "asg_a", 409, evidence=EVIDENCE)["allowed_triggers"] == []
    life.go("approve", "ver", "verified")
    assert life.allowed("ver") == []  # verified once; nothing left for a verifier
    life.go("close", "sup", "closed")
    stored = life.check_history(["assign", "accept", "report_progress", "report_progress", "submit",
                                 "approve", "close"])
    assert [r["trigger"] for r in stored].count("approve") == 1

"""The reminder inbox page and an item page's reminders on both stores: the API's entries in the API's order,
the unread count in the navigation, marking one and all read by forms, and refusals that change nothing."""
from __future__ import annotations

import datetime as dt
import re

import pytest

from engine.reminders.sweep import sweep
from tests.helpers import fire, new_item
from tests.web.support import alert, sign_in


@pytest.fixture
def overdue_item(client, world, rt, clock):
    """An item of DEPT-A assigned and accepted, then swept on three days past its due date (notices issued)."""
    due = (rt.today() + dt.timedelta(days=5)).isoformat()
    item = new_item(client, world, due_date=due)
    for body, user in (({"trigger": "assign", "fields": {"due_date": due}}, "sup"), ({"trigger": "accept"}, "asg_a")):
        assert fire(client, world, item, body, user).status_code == 200
    issued = 0
    for days in (6, 4, 10):  # past its due date, then as the escalations come due (working days)
        clock.advance(days=days)
        issued += sweep(rt).issued
    assert issued > 1
    return item


def _entries(page: str) -> list[str]:
    return re.findall(r'<li id="entry-(\d+)" class="(?:un)?read">', page)


def _nav_count(page: str) -> str:
    found = re.search(r'id="nav-inbox"[^>]*>[^<]*(?:<span class="badge">(\d+))?', page)
    return found.group(1) or "0"


def test_the_inbox_lists_the_apis_entries_unread_first_and_marks_them_read(client, world, rt, overdue_item):
    api = client.get("/api/v1/me/reminders", headers=world.h("sup_a")).json()
    assert api["unread"] >= 2
    csrf = sign_in(client, rt, "sup_a")
    page = client.get("/inbox").text
    assert _entries(page) == [str(e["id"]) for e in api["data"]]
    assert _nav_count(page) == str(api["unread"]) and _nav_count(client.get("/items").text) == str(api["unread"])
    assert f'href="/items/{overdue_item["number"]}"' in page

    first = api["data"][0]["id"]
    marked = client.post(f"/inbox/{first}/read", data={"csrf": csrf}, follow_redirects=False)
    assert marked.status_code == 303 and marked.headers["location"] == f"/inbox#entry-{first}"
    after = client.get("/api/v1/me/reminders", headers=world.h("sup_a")).json()
    assert after["unread"] == api["unread"] - 1
    assert [e["id"] for e in after["data"] if e["read"]] == [first]
    page = client.get("/inbox").text
    assert _entries(page)[-1] == str(first) and _nav_count(page) == str(after["unread"])  # read ones sink

    assert client.post("/inbox/read-all", data={"csrf": csrf}, follow_redirects=False).status_code == 303
    assert client.get("/api/v1/me/reminders", headers=world.h("sup_a")).json()["unread"] == 0
    page = client.get("/inbox").text
    assert _nav_count(page) == "0" and "全部标为已读" not in page and 'action="/inbox/' not in page


def test_anothers_entry_a_bad_id_and_a_form_without_its_token_change_nothing(client, world, rt, overdue_item):
    theirs = client.get("/api/v1/me/reminders", headers=world.h("sup_a")).json()
    csrf = sign_in(client, rt, "asg_b")
    entry = theirs["data"][0]["id"]
    # 5,000 digits were a 500: int() refuses more than 4,300.
    for path in (f"/inbox/{entry}/read", "/inbox/0/read", "/inbox/x1/read", f"/inbox/{2**63}/read", "/inbox/²/read",
                 f"/inbox/{'9' * 5000}/read"):
        response = client.post(path, data={"csrf": csrf}, follow_redirects=False)
        assert response.status_code == 404 and "未找到" in alert(response.text), path
    sign_in(client, rt, "sup_a")
    for path in (f"/inbox/{entry}/read", "/inbox/read-all"):
        response = client.post(path, data={}, follow_redirects=False)
        assert response.status_code == 403 and "安全令牌" in alert(response.text)
    assert client.get("/api/v1/me/reminders", headers=world.h("sup_a")).json()["unread"] == theirs["unread"]
    bad = client.get("/inbox?cursor=forged")
    assert bad.status_code == 422 and "cursor" in alert(bad.text)
    client.cookies.clear()
    assert client.post("/inbox/read-all", data={}, follow_redirects=False).headers["location"].startswith("/signin")


def test_an_item_page_shows_its_reminders_and_escalations_as_the_api_lists_them(client, world, rt, overdue_item):
    notices = client.get(f"/api/v1/items/{overdue_item['id']}/reminders", headers=world.h("sup")).json()["data"]
    sign_in(client, rt, "sup")
    page = client.get(f"/items/{overdue_item['number']}").text
    section = page[page.index('id="notices"'):page.index('id="h-timeline"')]
    rows = re.findall(r"<tr><td><time", section)
    assert len(rows) == len(notices) > 0
    assert "逾期提醒" in section and "sup_a" in section
    words = {"queued": "排队中", "none": "无推送渠道", "sending": "发送中", "failed": "发送失败", "delivered": "已送达"}
    assert re.findall(r"<td>([^<]+)</td></tr>", section) == [words[n["delivery"]["status"]] for n in notices]
    assert any(n["kind"] == "escalation.issued" for n in notices) == ("督办" in section)
    english = client.get(f"/items/{overdue_item['number']}?lang=en").text
    assert "Reminders and escalations" in english and "Overdue" in english

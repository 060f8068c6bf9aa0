"""The printable 整改销号 form on both stores: a closed item's form names what was found, the measures, the
evidence with its SHA-256, who verified and who signed off (display names, local time) and the chain head with
its check; an item not closed gets a page saying so (409), another unit's item the same 404 as a missing one."""
from __future__ import annotations

import html
import re

import sqlalchemy as sa

from engine.clock import parse_rfc3339
from engine.people.users import update_user
from tests.db_roles import owner_write
from tests.helpers import SHA, drive, new_item
from tests.web.support import alert, chain_mark, sign_in


def _text(page: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}">(.*?)</', page, re.S)
    assert found, f"no #{element_id} on the page"
    return html.unescape(found.group(1)).strip()


def _closed_item(client, world, rt) -> dict:
    with rt.store.write() as conn:
        update_user(conn, "ver", {"display_name": "王验收"}, clock=rt.clock, actor="cli:tests")
        update_user(conn, "sup", {"display_name": "李督办"}, clock=rt.clock, actor="cli:tests")
    item = new_item(client, world, unit="DEPT-A", description="幼儿园学位缺口 120 个", measures="新建两所公办园")
    return drive(client, world, rt, item, "closed")


def test_a_closed_items_form_names_the_finding_the_evidence_the_people_and_the_chain(client, world, rt):
    item = _closed_item(client, world, rt)
    sign_in(client, rt, "asg_a")
    item_page = client.get(f"/items/{item['number']}").text
    assert f'href="/items/{item["number"]}/form"' in item_page
    response = client.get(f"/items/{item['number']}/form")
    assert response.status_code == 200
    page = response.text
    history = client.get(f"/api/v1/items/{item['id']}/history", headers=world.h("aud")).json()["data"]
    approve = next(r for r in history if r["trigger"] == "approve")
    close = history[-1]
    assert _text(page, "form-number") == item["number"]
    assert "公办幼儿园学位缺口未按计划补齐" in page and "幼儿园学位缺口 120 个" in page and "市教委 (DEPT-A)" in page
    assert _text(page, "measures") == "新建两所公办园"
    assert f"<td>整改报告.pdf</td><td><code class=\"hash\">{SHA}</code>" in page
    assert _text(page, "verifier") == "王验收" and _text(page, "signer") == "李督办"
    local = rt.settings.tz
    for record in (approve, close):
        assert parse_rfc3339(record["at"]).astimezone(local).strftime("%Y-%m-%d %H:%M") in page
    assert _text(page, "chain-head") == close["hash"]
    assert chain_mark(page) == f"✓ 记录链校验通过（{len(history)} 条记录）"
    english = client.get(f"/items/{item['number']}/form?lang=en").text
    assert "Verified by" in english and "Chain head (SHA-256)" in english


def test_a_broken_chain_shows_on_the_form(client, world, rt):
    item = _closed_item(client, world, rt)
    with owner_write(rt) as conn:
        conn.execute(sa.text("UPDATE items SET history_hash = :h WHERE id = :id"), {"h": "0" * 64, "id": item["id"]})
    sign_in(client, rt, "aud")
    page = client.get(f"/items/{item['number']}/form").text
    assert chain_mark(page).startswith("✗ 记录链校验未通过") and _text(page, "chain-head") == "0" * 64


def test_an_open_item_has_no_form_yet_and_another_units_item_is_not_found(client, world, rt):
    open_item = drive(client, world, rt, new_item(client, world, unit="DEPT-A"), "verified")
    other = drive(client, world, rt, new_item(client, world, unit="DEPT-B"), "closed")
    sign_in(client, rt, "asg_a")
    assert 'href="/items/' + open_item["number"] + '/form"' not in client.get(f"/items/{open_item['number']}").text
    refused = client.get(f"/items/{open_item['number']}/form")
    assert refused.status_code == 409
    assert alert(refused.text) == f"事项 {open_item['number']} 尚未销号（当前状态：已验收），销号表在销号后才能打印。"
    hidden = client.get(f"/items/{other['number']}/form")
    missing = client.get("/items/ZG-2000-999999/form")
    assert hidden.status_code == missing.status_code == 404
    assert alert(hidden.text) == alert(missing.text) == "未找到该事项，或您无权查看。"

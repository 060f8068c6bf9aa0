"""q= through the text indexes of migration 0009, on both stores: Chinese of any length, ASCII whatever its case,
LIKE's own characters taken literally, a text changed after registration found by its new words only, and
SQLite's two ways (the candidates the FTS5 index names, or the scan along the list's order) answering alike."""
from __future__ import annotations

import pytest

from engine.listing import textsearch
from tests.db_roles import owner_write
from tests.helpers import new_item


def _numbers(client, world, q: str, user: str = "sup") -> list[str]:
    response = client.get("/api/v1/items", params={"q": q}, headers=world.h(user))
    assert response.status_code == 200, response.text
    return sorted(i["number"] for i in response.json()["data"])


@pytest.fixture
def texts(client, world):
    """Four items whose texts tell the search's cases apart."""
    return {
        "school": new_item(client, world, title="城南小学食堂食品安全隐患", description="后厨排水沟堵塞"),
        "fire": new_item(client, world, unit="DEPT-B", title="养老院消防通道堵塞", external_ref="Fire-Check 2026/7"),
        "percent": new_item(client, world, title="达标率仅80%_待复核", description="抽查 100%_完成"),
        "plain": new_item(client, world, unit="SUB-A1", title="河道漂浮物清理不及时"),
    }


def test_q_finds_a_substring_of_any_length_in_any_searched_column(client, world, texts):
    number = {name: item["number"] for name, item in texts.items()}
    assert _numbers(client, world, "食品安全隐患") == [number["school"]]
    assert _numbers(client, world, "排水沟") == [number["school"]]           # the description
    assert _numbers(client, world, "堵塞") == sorted([number["school"], number["fire"]])  # 2 characters
    assert _numbers(client, world, "漂") == [number["plain"]]                # 1 character
    assert _numbers(client, world, "fire-CHECK 2026") == [number["fire"]]    # the external reference, any case
    assert _numbers(client, world, number["plain"].lower()) == [number["plain"]]
    assert _numbers(client, world, "不存在的问题") == []


def test_like_wildcards_in_q_are_plain_characters(client, world, texts):
    number = texts["percent"]["number"]
    assert _numbers(client, world, "80%_") == [number]
    assert _numbers(client, world, "100%_完成") == [number]
    assert _numbers(client, world, "0%") == [number]
    assert _numbers(client, world, "%_待") == [number]
    assert _numbers(client, world, "%%") == []


def test_q_keeps_to_the_callers_scope(client, world, texts):
    assert _numbers(client, world, "堵塞", user="sup_a") == [texts["school"]["number"]]


def test_a_changed_text_is_found_by_its_new_words_only(client, world, rt, texts):
    item = texts["plain"]
    with owner_write(rt) as conn:  # an edit of the searched columns (what a future edit transition would do)
        conn.exec_driver_sql("UPDATE items SET title = '河道违规采砂', external_ref = 'RPT-NEW-9' WHERE id = "
                             + ("?" if rt.store.is_sqlite else "%s"), (item["id"],))
    assert _numbers(client, world, "漂浮物清理") == []
    assert _numbers(client, world, "违规采砂") == [item["number"]]
    assert _numbers(client, world, "rpt-new") == [item["number"]]


def test_many_matches_are_found_by_the_scan_as_few_are_by_the_index(client, world, texts, monkeypatch):
    """Past MAX_CANDIDATES the LIKE scan along the list's order answers: the same items."""
    expected = sorted([texts["school"]["number"], texts["fire"]["number"]])
    assert _numbers(client, world, "堵塞") == expected
    monkeypatch.setattr(textsearch, "MAX_CANDIDATES", 0)
    assert _numbers(client, world, "通道堵塞") == [texts["fire"]["number"]]
    assert _numbers(client, world, "食品安全") == [texts["school"]["number"]]

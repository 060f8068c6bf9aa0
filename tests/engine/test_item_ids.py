"""Item ids are version 7 UUIDs: unique, unguessable, and in the order they were made, through the API and
the ledger import alike (so that new rows land next to each other in every index keyed by item)."""
from __future__ import annotations

import uuid

from engine.itemrows import new_item_id
from tests.helpers import new_item
from tests.ledger.support import ledger_file, upload

NS = 1_790_000_000_123_456_789  # 2026-09-21, a nanosecond count as time.time_ns() gives


def test_an_id_is_a_version_7_uuid_holding_its_millisecond():
    made = uuid.UUID(new_item_id(NS))
    assert (made.version, made.variant) == (7, uuid.RFC_4122)
    assert made.int >> 80 == NS // 1_000_000
    assert str(made) == new_item_id(NS)[:19] + str(made)[19:]  # the same time gives the same leading digits


def test_ids_sort_in_the_order_they_were_made_down_to_a_fraction_of_a_millisecond():
    times = [NS, NS + 250_000, NS + 500_000, NS + 1_000_000, NS + 86_400 * 10**9]
    ids = [new_item_id(t) for t in times]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    made_now = [new_item_id() for _ in range(20_000)]
    assert made_now == sorted(made_now)


def test_given_random_bits_make_the_same_id_again_for_reproducible_data():
    assert new_item_id(NS, 12345) == new_item_id(NS, 12345) != new_item_id(NS, 12346)
    assert uuid.UUID(new_item_id(NS, (1 << 64) - 1)).variant == uuid.RFC_4122  # extra bits cannot spoil the variant


def test_ids_made_at_the_same_instant_differ_in_their_62_random_bits():
    same = {new_item_id(NS) for _ in range(10_000)}
    assert len(same) == 10_000
    randoms = {uuid.UUID(i).int & ((1 << 62) - 1) for i in same}
    assert len(randoms) == 10_000


def test_registered_and_imported_items_get_ascending_version_7_ids(client, world, rt):
    registered = [new_item(client, world)["id"] for _ in range(3)]
    rows = [{"外部编号": f"ID-{n}", "问题来源": "巡视巡察", "问题描述": f"第{n}号问题", "整改措施": "整改",
             "责任单位": "DEPT-A", "整改时限": "2026-06-30", "当前状态": "整改中"} for n in range(50)]
    done = upload(client, world.h("reg"), ledger_file(rows))
    assert done.status_code == 200, done.text
    listed = client.get("/api/v1/items", params={"limit": 200, "q": "ID-"}, headers=world.h("reg")).json()["data"]
    by_ref = {item["external_ref"]: item["id"] for item in listed if item.get("external_ref")}
    imported = [by_ref[f"ID-{n}"] for n in range(50)]
    assert len(imported) == 50
    assert all(uuid.UUID(i).version == 7 for i in registered + imported)
    assert registered == sorted(registered)
    assert imported == sorted(imported), "the file's rows, in order, get ascending ids"
    assert registered[-1] < imported[0]

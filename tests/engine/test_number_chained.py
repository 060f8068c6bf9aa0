"""An item's number (编号), by which offices, the 台账 and auditors name it, is held to its creation record.

The number was in no record: swapped between two items, or changed, by SQL as whoever holds the database, it
passed every verifier. Now the creation record names it (``fields.number``), whether the item was registered
through the API or brought in by a ledger, every verifier holds the row to it, the engine will not act on a
row holding another, and no later record may name it. A record made before the change names no number and stays valid. Both stores, the database check, the
quick and reference bundle checks and tools/verify_bundle.py.
"""
from __future__ import annotations

import datetime as dt

import orjson
import pytest
import sqlalchemy as sa

from engine.audit.bundle_verify import verify_bundle
from engine.audit.verify import verify_database
from tests.audit_helpers import export, read_bundle, rehash, standalone, write_bundle
from tests.db_roles import owner_write
from tests.engine.test_history_chain import _drop_protection
from tests.helpers import (
    assert_problem,
    audit_verify_command,
    drive,
    fire,
    new_item,
    path_to,
    payload,
    table_counts,
)
from tests.ledger.support import ledger_file, upload

ONE_STORE = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def _verify(client, world) -> dict:
    response = client.get("/api/v1/audit/verify", headers=world.h("aud"))
    assert response.status_code == 200, response.text
    return response.json()


def _database_findings(rt) -> dict[str, str]:
    """{item id: reason} of every broken item, by the database verifier."""
    with rt.store.read() as conn:
        return {f["item_id"]: f["reason"] for f in verify_database(conn).findings}


def _history(client, world, item: dict) -> list[dict]:
    return client.get(f"/api/v1/items/{item['id']}/history", headers=world.h("aud")).json()["data"]


def _renumber(rt, numbers: dict[str, str]) -> None:
    """Give items (by id) new numbers by SQL, as the database's owner; free first, so that a swap passes the
    unique index."""
    with owner_write(rt) as conn:
        for n, item_id in enumerate(numbers):
            conn.execute(sa.text("UPDATE items SET number = :n WHERE id = :i"), {"n": f"TMP-{n}", "i": item_id})
        for item_id, number in numbers.items():
            conn.execute(sa.text("UPDATE items SET number = :n WHERE id = :i"), {"n": number, "i": item_id})


def _bundle_findings(rt, path) -> tuple[dict, dict]:
    """{item id: reason} of the engine's bundle verifier, and of tools/verify_bundle.py, on a fresh export."""
    bundle = export(rt, path)
    report = verify_bundle(bundle)
    code, alone, _ = standalone(bundle)
    assert report.ok is not bool(report.findings) and code == (2 if alone["findings"] else 0), (report, alone)
    return ({f["item_id"]: f["reason"] for f in report.findings},
            {f["item_id"]: f["reason"] for f in alone["findings"]})


def test_two_numbers_swapped_by_sql_are_named_by_every_verifier(client, world, rt, db_url, tmp_path):
    a = drive(client, world, rt, new_item(client, world, due_date="2026-04-30"), "closed")
    b = new_item(client, world)
    for item in (a, b):
        assert _history(client, world, item)[0]["fields"]["number"] == item["number"]
    assert _verify(client, world)["ok"] is True
    assert _bundle_findings(rt, tmp_path / "clean.zip") == ({}, {})

    _renumber(rt, {a["id"]: b["number"], b["id"]: a["number"]})

    swapped = {a["id"]: f"item's number is {b['number']!r} but its history says {a['number']!r}",
               b["id"]: f"item's number is {a['number']!r} but its history says {b['number']!r}"}
    assert _database_findings(rt) == swapped
    # Registered in the same instant, the two sort by the number each row now shows: b (holding a's) first.
    body = _verify(client, world)
    assert body["ok"] is False and body["first_bad"] == {"item": a["number"], "item_id": b["id"], "seq": b["version"],
                                                         "reason": swapped[b["id"]]}, body
    done = audit_verify_command(db_url)
    assert done.returncode == 2 and swapped[b["id"]] in done.stderr, done.stderr
    engine, alone = _bundle_findings(rt, tmp_path / "swapped.zip")
    assert engine == swapped
    assert alone.keys() == engine.keys() and all("number" in reason for reason in alone.values()), alone


def test_a_number_changed_by_sql_is_named(client, world, rt, tmp_path):
    item = new_item(client, world)
    _renumber(rt, {item["id"]: "ZG-2026-999999"})
    body = _verify(client, world)
    assert body["first_bad"]["item_id"] == item["id"] and "'ZG-2026-999999'" in body["first_bad"]["reason"], body
    engine, alone = _bundle_findings(rt, tmp_path / "b.zip")
    assert list(engine) == list(alone) == [item["id"]] and "number" in alone[item["id"]]


def _by_number(client, world, number: str, body: dict, as_user: str):
    return client.post(f"/api/v1/items/{number}/transitions", json=body, headers=world.h(as_user))


def test_a_transition_on_an_item_whose_number_was_swapped_by_sql_is_refused(client, world, rt):
    a = drive(client, world, rt, new_item(client, world, due_date="2026-04-30"), "rectifying")
    b = drive(client, world, rt, new_item(client, world, due_date="2026-04-30"), "rectifying")
    untouched = drive(client, world, rt, new_item(client, world, due_date="2026-04-30"), "rectifying")
    _renumber(rt, {a["id"]: b["number"], b["id"]: a["number"]})
    before = table_counts(rt)

    progress = {"trigger": "report_progress", "comment": "按计划推进"}
    # Whoever addresses a's number gets the row that now holds it (b's): it is refused, not acted on.
    for response, holder in ((_by_number(client, world, a["number"], progress, "asg_a"), a["number"]),
                             (_by_number(client, world, b["number"].lower(), progress, "asg_a"), b["number"]),
                             (fire(client, world, a, progress, "asg_a"), b["number"])):
        problem = assert_problem(response, 423)
        assert problem["type"].endswith("/integrity-violation"), problem
        assert f"its number {holder!r} is not the one its creation record names" in problem["detail"], problem
    assert table_counts(rt) == before

    done = _by_number(client, world, untouched["number"], progress, "asg_a")
    assert done.status_code == 200 and done.json()["version"] == untouched["version"] + 1, done.text


def test_a_creation_record_that_names_no_number_lets_its_item_move(client, world, rt):
    """Items registered before numbers were chained name none in their creation record: their number is
    vouched for by nothing, and they keep working (the record is edited here as a stand-in for such an item;
    the chain check, not this one, is what notices that edit)."""
    item = new_item(client, world)
    with owner_write(rt) as conn:
        _drop_protection(conn)
        fields = orjson.loads(conn.execute(sa.text("SELECT fields FROM history WHERE item_id = :i AND seq = 1"),
                                           {"i": item["id"]}).scalar_one())
        del fields["number"]
        conn.execute(sa.text("UPDATE history SET fields = :f WHERE item_id = :i AND seq = 1"),
                     {"f": orjson.dumps(fields, option=orjson.OPT_SORT_KEYS).decode(), "i": item["id"]})
    first = path_to(rt.registry.current(item["workflow"]).definition, "assigned")[0]
    moved = _by_number(client, world, item["number"], payload(first, rt.today(), item), "sup")
    assert moved.status_code == 200 and moved.json()["state"] == "assigned", moved.text


def test_a_ledger_import_records_each_number_and_is_held_to_it(client, world, rt, tmp_path):
    rows = [{"编号": "ZG-2025-000042", "外部编号": "X-1", "问题来源": "审计", "问题描述": "旧问题", "责任单位": "DEPT-A",
             "整改时限": dt.date(2025, 11, 20), "当前状态": "已销号", "销号日期": dt.date(2025, 12, 1)},
            {"外部编号": "X-2", "问题来源": "审计", "问题描述": "新问题", "责任单位": "DEPT-A",
             "整改时限": dt.date(2026, 6, 30), "当前状态": "整改中"}]
    assert upload(client, world.h("sup"), ledger_file(rows, kind="csv"), name="台账.csv").status_code == 200
    imported = client.get("/api/v1/items", params={"q": "X-"}, headers=world.h("aud")).json()["data"]
    numbers = {i["external_ref"]: i["number"] for i in imported}
    assert numbers["X-1"] == "ZG-2025-000042" and numbers["X-2"].startswith("ZG-2026-")
    for item in imported:  # the number given, and the one handed out, are both in the creation record
        first = _history(client, world, item)[0]
        assert (first["trigger"], first["fields"]["number"]) == ("import", item["number"])
    assert _verify(client, world)["ok"] is True

    one, two = sorted(imported, key=lambda i: i["external_ref"])
    _renumber(rt, {one["id"]: two["number"], two["id"]: one["number"]})
    assert _database_findings(rt).keys() == {one["id"], two["id"]}
    engine, alone = _bundle_findings(rt, tmp_path / "b.zip")
    assert engine.keys() == alone.keys() == {one["id"], two["id"]}


def _rewritten(rt, tmp_path, item: dict, edit) -> tuple:
    """A bundle in which ``edit`` changed the item's records (raw rows) and the chain was re-hashed and the row's
    head moved along, as a careful forger would: (engine report, standalone report)."""
    entries = read_bundle(export(rt, tmp_path / "clean.zip"))
    lines = entries["items.jsonl"].splitlines()
    for n, line in enumerate(lines):
        entry = orjson.loads(line)
        if entry["id"] == item["id"]:
            edit(entry["history"])
            entry["history"] = rehash(entry["history"], item["id"])
            entry["item"]["history_hash"] = entry["history"][-1]["hash"]
            lines[n] = orjson.dumps(entry)
    bundle = write_bundle(tmp_path / "forged.zip", {**entries, "items.jsonl": b"\n".join(lines) + b"\n"})
    return verify_bundle(bundle), standalone(bundle)[1]


def _fields(record: dict, **changes) -> None:
    fields = orjson.loads(record["fields"])
    fields.update(changes)
    record["fields"] = orjson.dumps({k: v for k, v in fields.items() if v is not None},
                                    option=orjson.OPT_SORT_KEYS).decode()


@ONE_STORE
def test_a_later_record_that_names_a_number_is_a_finding(client, world, rt, tmp_path):
    item = drive(client, world, rt, new_item(client, world, due_date="2026-04-30"), "rectifying")
    report, alone = _rewritten(rt, tmp_path, item, lambda history: _fields(history[2], number=item["number"]))
    assert [(f["item_id"], f["seq"]) for f in report.findings] == [(item["id"], 3)], report.findings
    assert "number" in report.findings[0]["reason"]
    assert [(f["item_id"], f["seq"]) for f in alone["findings"]] == [(item["id"], 3)], alone
    assert "number" in alone["findings"][0]["reason"]


@ONE_STORE
def test_a_creation_record_made_before_numbers_were_chained_stays_valid(client, world, rt, tmp_path):
    item = drive(client, world, rt, new_item(client, world, due_date="2026-04-30"), "closed")
    report, alone = _rewritten(rt, tmp_path, item, lambda history: _fields(history[0], number=None))
    assert report.ok and alone["ok"], (report.findings, alone)

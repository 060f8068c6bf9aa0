"""An item's closed_at (the 销号 time the on-time rate and the ledger's 销号日期 rest on) is held to its history:
the time of the record that brought it into its final state, or for an item a ledger brought in closed, noon of
its 销号日期 in some zone. Edited by SQL it passed every verifier (only its being set was checked). Both stores,
the database check and both bundle verifiers."""
from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from engine.audit.bundle_verify import verify_bundle
from tests.audit_helpers import export, standalone
from tests.db_roles import owner_write
from tests.helpers import drive, new_item
from tests.ledger.support import ledger_file, upload


def _verify(client, world) -> dict:
    response = client.get("/api/v1/audit/verify", headers=world.h("aud"))
    assert response.status_code == 200, response.text
    return response.json()


def _closed_items(client, world, rt) -> tuple[dict, dict]:
    closed = drive(client, world, rt, new_item(client, world, due_date="2026-04-30"), "closed")
    row = {"外部编号": "X-1", "问题来源": "审计", "问题描述": "旧问题", "责任单位": "DEPT-A", "责任人": "asg_a",
           "整改时限": dt.date(2025, 11, 20), "当前状态": "已销号", "销号日期": dt.date(2025, 12, 1)}
    assert upload(client, world.h("sup"), ledger_file([row], kind="csv"), name="台账.csv").status_code == 200
    [imported] = client.get("/api/v1/items", params={"q": "X-1"}, headers=world.h("aud")).json()["data"]
    return closed, imported


@pytest.mark.parametrize("which, moved_to, reason", [
    ("closed", "2026-09-01 02:00:00.000000", "closed_at"),
    ("closed", "2025-01-01 00:00:00.000000", "closed_at"),
    ("imported", "2025-12-03 04:00:00.000000", "销号日期"),
    ("imported", "2025-11-30 21:00:00.000000", "销号日期"),
])
def test_a_closed_at_edited_by_sql_is_named_by_every_verifier(client, world, rt, tmp_path, which, moved_to, reason):
    items = dict(zip(("closed", "imported"), _closed_items(client, world, rt)))
    assert _verify(client, world)["ok"] is True  # untouched: a closing record's time, an import's noon
    target = items[which]
    with owner_write(rt) as conn:
        conn.execute(sa.text("UPDATE items SET closed_at = :t WHERE id = :i"), {"t": moved_to, "i": target["id"]})
    body = _verify(client, world)
    assert body["ok"] is False and body["first_bad"]["item"] == target["number"], body
    assert reason in body["first_bad"]["reason"], body
    bundle = export(rt, tmp_path / "b.zip")
    report = verify_bundle(bundle)
    assert not report.ok and [f["item_id"] for f in report.findings] == [target["id"]], report.findings
    code, alone, _ = standalone(bundle)
    assert code == 2 and [f["item_id"] for f in alone["findings"]] == [target["id"]], alone
    assert "closed_at" in alone["findings"][0]["reason"]


def test_noon_of_the_day_in_any_zone_passes_for_an_imported_item(client, world, rt, tmp_path):
    _closed, imported = _closed_items(client, world, rt)
    for moved_to in ("2025-11-30 22:00:00.000000", "2025-12-02 00:00:00.000000"):  # noon at UTC+14, at UTC-12
        with owner_write(rt) as conn:
            conn.execute(sa.text("UPDATE items SET closed_at = :t WHERE id = :i"), {"t": moved_to, "i": imported["id"]})
        assert _verify(client, world)["ok"] is True, moved_to
        bundle = export(rt, tmp_path / "b.zip")
        assert verify_bundle(bundle).ok and standalone(bundle)[0] == 0, moved_to

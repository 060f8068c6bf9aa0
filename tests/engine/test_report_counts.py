"""The summary report's kept counts (migration 0013): the triggers keep what a count from scratch finds while
items are closed, cancelled and reopened across months; a period cut inside months agrees with the raw rows;
a runtime in another zone counts again in its own zone; items a ledger brought in already closed are left out of
the mean days to close on every path, and migrations 0017 and 0018 have the counts made again. Both stores."""
from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from engine.accounts import Actor
from engine.config import Settings
from engine.reports import kept
from engine.reports.summary import SummaryQuery, summary
from engine.reports.tally import Period, split_by_months
from engine.runtime import Runtime
from tests.helpers import DRIVER, drive, fire, new_item, path_to, payload
from tests.report_helpers import assert_figures_agree, expected_groups, raw_items

AUDITOR = Actor(0, "aud", frozenset({"auditor"}), 0, "", "/")


def _kept_rows(rt: Runtime, *, timed: bool = True) -> list[tuple]:
    """The kept counts' rows that count an item (``timed`` False: as a schema before migration 0018 holds them)."""
    with rt.store.read() as conn:
        rows = conn.execute(sa.text("SELECT dimension, group_key, unit_id, month, state, items, with_due, on_time, "
                                    f"reopened, days{', timed' if timed else ''} FROM report_counts WHERE items <> 0"))
        return sorted((*r[:9], round(float(r[9]), 6), *r[10:]) for r in rows)


def _downgrade(owner, revision: str) -> None:
    """Take the database down to ``revision`` as its owner."""
    from alembic import command

    from engine.store.migrate import alembic_config

    cfg = alembic_config()
    with owner.write() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def _zone_as_an_older_runtime_leaves_it(owner, tz) -> None:
    """The zone's row as a runtime of an older schema leaves it after counting again, nothing being final yet
    (its refill wrote only the columns of its own schema, which this code's would not)."""
    with owner.write() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM items WHERE closed_at IS NOT NULL")).scalar() == 0
        conn.execute(sa.text("UPDATE report_counts_zone SET tz = :tz, utc_offset = :offset WHERE id = 1"),
                     {"tz": tz.key, "offset": kept.utc_offset(tz)})


def _step(client, world, rt, item: dict, trigger: str) -> dict:
    tdef = rt.registry.current(item["workflow"]).definition.transition(trigger, item["state"])
    actor = item["assignee"] if tdef.roles[0] == "assignee" and item.get("assignee") else DRIVER[tdef.roles[0]]
    response = fire(client, world, item, payload(tdef, rt.today(), item), actor)
    assert response.status_code == 200, response.text
    return response.json()


def _reopen_and_close(client, world, rt, item: dict) -> dict:
    """Reopen a closed item and take it round the loop again to closed."""
    item = _step(client, world, rt, item, "reopen")
    wf = rt.registry.current(item["workflow"]).definition
    while item["state"] != "closed":
        tdef = next(t for t in path_to(wf, "closed") if item["state"] in t.source)
        item = _step(client, world, rt, item, tdef.trigger)
    return item


def _months_of_items(client, world, rt, clock) -> None:
    """Items registered on both sides of two month ends (local time), closed, cancelled, reopened, left open."""
    for day in ("2026-01-30 23:30", "2026-01-31 23:50", "2026-02-01 00:10", "2026-02-15 12:00", "2026-03-01 08:00"):
        clock.set(dt.datetime.fromisoformat(day).replace(tzinfo=rt.settings.tz))
        closed = drive(client, world, rt, new_item(client, world, campaign="R1"), "closed")
        drive(client, world, rt, new_item(client, world, unit="DEPT-B", source="audit"), "cancelled")
        drive(client, world, rt, new_item(client, world, unit="SUB-A1"), "rectifying")
        if day.startswith("2026-01-31"):
            _step(client, world, rt, _reopen_and_close(client, world, rt, closed), "reopen")  # reopened, open again
        elif day.startswith("2026-02-15"):
            _reopen_and_close(client, world, rt, closed)  # reopened, closed again
    clock.set(dt.datetime(2026, 3, 20, 9, 0, tzinfo=rt.settings.tz))


def _expected(rt: Runtime, group_by: str, first: dt.date | None, last: dt.date | None) -> dict:
    tz = rt.settings.tz
    rows = [r for r in raw_items(rt)
            if (first is None or _local(r["created_at"], tz) >= first) and (last is None or _local(r["created_at"], tz) <= last)]
    return expected_groups(rows, group_by, rt.today(), tz)


def _local(created, tz) -> dt.date:
    when = created if isinstance(created, dt.datetime) else dt.datetime.fromisoformat(str(created))
    return when.replace(tzinfo=dt.timezone.utc).astimezone(tz).date()


def _assert_report_agrees(rt: Runtime, group_by: str, first: dt.date | None, last: dt.date | None) -> None:
    with rt.store.read() as conn:
        report = summary(conn, AUDITOR, rt.registry, SummaryQuery(group_by, first, last, rt.today()), rt.settings.tz)
    want = _expected(rt, group_by, first, last)
    got = {g["key"]: g for g in report["groups"]}
    assert set(got) == set(want), (group_by, first, last)
    for key, figures in want.items():
        assert_figures_agree(got[key], figures, f"{group_by}={key} {first}..{last}")


def test_the_triggers_keep_what_a_count_from_scratch_finds(client, world, rt, clock):
    _months_of_items(client, world, rt, clock)
    with rt.store.read() as conn:
        assert kept.usable(conn, rt.settings.tz)
    held = _kept_rows(rt)
    assert {r[3] for r in held} == {"2026-01", "2026-02", "2026-03"} and any(r[8] for r in held)  # reopened counted
    with rt.store.write() as conn:
        kept.refill(conn, rt.settings.tz)
    assert _kept_rows(rt) == held


@pytest.mark.parametrize("first, last", [
    (None, None), ("2026-01-31", "2026-02-01"), ("2026-01-01", "2026-02-28"), ("2026-01-31", None),
    (None, "2026-02-14"), ("2026-02-01", "2026-02-28"), ("2026-01-15", "2026-03-01"),
])
def test_a_period_cut_inside_months_agrees_with_the_raw_rows(client, world, rt, clock, first, last):
    _months_of_items(client, world, rt, clock)
    day = lambda text: None if text is None else dt.date.fromisoformat(text)  # noqa: E731
    for group_by in ("unit", "campaign", "source"):
        _assert_report_agrees(rt, group_by, day(first), day(last))


def test_a_runtime_in_another_zone_counts_again_in_its_own(client, world, rt, clock, db_url):
    _months_of_items(client, world, rt, clock)
    tokyo = Runtime.open(Settings(database_url=db_url, timezone="Asia/Tokyo"), clock=clock)
    try:
        with tokyo.store.read() as conn:
            assert kept.usable(conn, tokyo.settings.tz) and not kept.usable(conn, rt.settings.tz)
        # 2026-01-31 23:30 in Shanghai is 2026-02-01 00:30 in Tokyo: the month and the period move with the zone.
        _assert_report_agrees(tokyo, "unit", dt.date(2026, 2, 1), None)
        _assert_report_agrees(rt, "unit", dt.date(2026, 2, 1), None)  # counted live, the zone not being its own
    finally:
        tokyo.store.dispose()


@pytest.mark.parametrize("first, last, months, edges", [
    (None, None, (None, None), []),
    ("2026-01-01", "2026-03-31", ("2026-01", "2026-03"), []),
    ("2026-01-15", "2026-03-10", ("2026-02", "2026-02"), [("2026-01-15", "2026-01-31"), ("2026-03-01", "2026-03-10")]),
    ("2026-01-15", "2026-01-20", None, [("2026-01-15", "2026-01-20")]),
    ("2026-01-15", "2026-02-10", None, [("2026-01-15", "2026-02-10")]),
    ("2024-02-02", None, ("2024-03", None), [("2024-02-02", "2024-02-29")]),
    (None, "2026-12-30", (None, "2026-11"), [("2026-12-01", "2026-12-30")]),
])
def test_a_period_splits_into_whole_months_and_the_days_outside_them(first, last, months, edges):
    day = lambda text: None if text is None else dt.date.fromisoformat(text)  # noqa: E731
    got_months, got_edges = split_by_months(Period(day(first), day(last)))
    assert got_months == months
    assert [(e.first.isoformat(), e.last.isoformat()) for e in got_edges] == edges


def _closed_ledger(*closed_on: dt.date | None) -> bytes:
    """A ledger of items of DEPT-A already closed (已销号) on these days (None: no 销号日期 given)."""
    from tests.ledger.support import ledger_file

    return ledger_file([{"外部编号": f"X-{n}", "问题来源": "审计", "问题描述": f"旧问题{n}", "责任单位": "DEPT-A",
                         "责任人": "asg_a", "整改时限": dt.date(2025, 11, 20), "当前状态": "已销号", "销号日期": day}
                        for n, day in enumerate(closed_on)], kind="csv")


def _import_and_close_one_here(client, world, rt, clock, ledger: bytes) -> float:
    """Import ``ledger``, then register an item and close it here 20 days later; return its days to close."""
    from tests.ledger.support import upload

    assert upload(client, world.h("sup"), ledger, name="台账.csv").status_code == 200
    registered = new_item(client, world)
    clock.advance(days=20, hours=3)
    return _days_to_close(drive(client, world, rt, registered, "closed"))


def _days_to_close(item: dict) -> float:
    instant = lambda text: dt.datetime.fromisoformat(text.replace("Z", "+00:00"))  # noqa: E731
    return (instant(item["closed_at"]) - instant(item["created_at"])).total_seconds() / 86400


def _summary(client, world, **params) -> tuple[dict, dict]:
    """GET /api/v1/reports/summary by unit as the auditor: DEPT-A's figures and the totals."""
    response = client.get("/api/v1/reports/summary", params={"group_by": "unit", **params}, headers=world.h("aud"))
    assert response.status_code == 200, response.text
    [dept_a] = [g for g in response.json()["groups"] if g["key"] == "DEPT-A"]
    return dept_a, response.json()["totals"]


def test_items_imported_already_closed_are_left_out_of_the_average_days_to_close(client, world, rt, clock):
    # A ledger's items closed before their import here (closed_at before created_at) took a time to close that is
    # not known here: counted as 0 days each, four of them made one item closed here in 20 days average 4 (and
    # before migration 0017, two of them -257.88). One with no 销号日期 is closed at the import itself: its time is
    # not known either. Closed they still are, in every other figure.
    closed_on = (None, dt.date(2025, 12, 1), dt.date(2025, 1, 1), dt.date(2026, 2, 27), dt.date(2026, 3, 1))
    days_here = _import_and_close_one_here(client, world, rt, clock, _closed_ledger(*closed_on))
    assert days_here > 20
    # Kept counts for whole months; live for a period's days outside whole months; all live for a zone the kept
    # counts are not in.
    for counted, period in (("kept", {}), ("live, a period's edge", {"from": "2026-03-02"}), ("live", {})):
        if counted == "live":
            with rt.store.write() as conn:
                conn.execute(sa.text("UPDATE report_counts_zone SET tz = NULL"))
        with rt.store.read() as conn:
            assert kept.usable(conn, rt.settings.tz) == (counted != "live")
        dept_a, totals = _summary(client, world, **period)
        for figures in (dept_a, totals):
            assert (figures["closed"], figures["closure_rate"]) == (6, 1.0), (counted, figures)
            assert figures["avg_days_to_close"] == round(days_here, 2), (counted, figures)
        _assert_report_agrees(rt, "unit", dt.date(2026, 3, 2) if period else None, None)


def test_an_imported_closed_item_reopened_and_closed_here_counts_its_days_from_its_import(client, world, rt, clock):
    # Closed here, its time from registration here to closing is known: the triggers take it away from the kept
    # counts without a known time and add it back with one, as a count from scratch finds it.
    days_here = _import_and_close_one_here(client, world, rt, clock, _closed_ledger(dt.date(2025, 12, 1),
                                                                                    dt.date(2025, 1, 1)))
    with rt.store.read() as conn:
        imported = conn.execute(sa.text("SELECT id FROM items WHERE external_ref = 'X-0'")).scalar_one()
    days_again = _days_to_close(_reopen_and_close(client, world, rt, client.get(
        f"/api/v1/items/{imported}", headers=world.h("sup")).json()))
    assert days_again > 20
    held = _kept_rows(rt)
    assert sum(r[10] for r in held if r[0] == "unit" and r[4] == "closed") == 2
    with rt.store.write() as conn:
        kept.refill(conn, rt.settings.tz)
    assert _kept_rows(rt) == held
    dept_a, _totals = _summary(client, world)
    assert (dept_a["closed"], dept_a["avg_days_to_close"]) == (3, round((days_here + days_again) / 2, 2)), dept_a


def test_the_migration_remakes_the_triggers_both_ways_and_the_counts_are_made_again(client, world, rt, clock,
                                                                                     db_owner_url):
    # Migration 0017: down to 0016 the triggers count an imported closed item's days as they come (negative), up
    # again they are clamped; each way the zone's row is emptied, so the runtime counts again when it opens.

    from engine.store import Store
    from engine.store.migrate import migrate
    from tests.ledger.support import ledger_file, upload

    row = {"外部编号": "X-1", "问题来源": "审计", "问题描述": "旧问题", "责任单位": "DEPT-A", "责任人": "asg_a",
           "整改时限": dt.date(2025, 11, 20), "当前状态": "已销号", "销号日期": dt.date(2025, 12, 1)}
    owner = Store(db_owner_url)
    try:
        _downgrade(owner, "0016")
        with owner.read() as conn:
            assert conn.execute(sa.text("SELECT tz FROM report_counts_zone")).scalar() is None
        _zone_as_an_older_runtime_leaves_it(owner, rt.settings.tz)  # then the import's item by the old trigger
        assert upload(client, world.h("sup"), ledger_file([row], kind="csv"), name="台账.csv").status_code == 200
        assert min(r[9] for r in _kept_rows(rt, timed=False)) < -90  # 2025-12-01 noon, registered 2026-03-02
        migrate(owner, app_role=None if owner.is_sqlite else rt.store.writer.url.username)
    finally:
        owner.dispose()
    again = Runtime.open(Settings(database_url=rt.settings.database_url), clock=clock)
    try:
        assert min(r[9] for r in _kept_rows(again)) == 0.0
        with again.store.read() as conn:
            assert kept.usable(conn, again.settings.tz)
    finally:
        again.store.dispose()


def test_upgrading_to_0018_counts_again_and_the_average_is_over_the_items_closed_here(client, world, rt, clock,
                                                                                         db_owner_url):
    # Migration 0018: counts kept by 0017's triggers hold no count of the items whose time to close is known. The
    # upgrade adds it and empties the zone's row: counted live meanwhile, and again when the runtime next opens.
    # Down to 0017 the column goes and 0017's triggers count without it.
    from fastapi.testclient import TestClient

    from api.app import create_app
    from engine.store import Store
    from engine.store.migrate import migrate

    owner = Store(db_owner_url)
    try:
        _downgrade(owner, "0017")
        with owner.read() as conn:
            assert "timed" not in {c["name"] for c in sa.inspect(conn).get_columns("report_counts")}
            assert conn.execute(sa.text("SELECT tz FROM report_counts_zone")).scalar() is None
        _zone_as_an_older_runtime_leaves_it(owner, rt.settings.tz)
        days_here = _import_and_close_one_here(client, world, rt, clock,
                                               _closed_ledger(dt.date(2025, 12, 1), dt.date(2026, 3, 1)))
        closed_by_unit = [r for r in _kept_rows(rt, timed=False) if r[0] == "unit" and r[4] == "closed"]
        assert sum(r[5] for r in closed_by_unit) == 3 and abs(sum(r[9] for r in closed_by_unit) - days_here) < 1e-4
        migrate(owner, app_role=None if owner.is_sqlite else rt.store.writer.url.username)
        with owner.read() as conn:
            assert conn.execute(sa.text("SELECT tz FROM report_counts_zone")).scalar() is None
    finally:
        owner.dispose()
    assert _summary(client, world)[0]["avg_days_to_close"] == round(days_here, 2)  # live until counted again
    again = Runtime.open(Settings(database_url=rt.settings.database_url), clock=clock)
    try:
        with again.store.read() as conn:
            assert kept.usable(conn, again.settings.tz)
        assert sum(r[10] for r in _kept_rows(again) if r[0] == "unit" and r[4] == "closed") == 1
        with TestClient(create_app(again), raise_server_exceptions=False) as again_client:
            dept_a, totals = _summary(again_client, world)
        for figures in (dept_a, totals):
            assert (figures["closed"], figures["avg_days_to_close"]) == (3, round(days_here, 2)), figures
    finally:
        again.store.dispose()

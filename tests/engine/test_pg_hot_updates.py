"""On PostgreSQL a progress report rewrites the item row without touching any of its indexes (a HOT update).

An item row carries 19 indexes, four of them trigram GIN indexes over its texts. An UPDATE that changes no
indexed column can put the row's new version on the same page (heap-only tuple) and leave every index alone,
but only if that page has room: with the default fillfactor of 100 the pages are packed full at insert, so
each progress report wrote a new entry into all 19 indexes (in a copy of the benchmark's 1,000,000-item
cluster: 0 HOT updates of 5,447). Migration 0015 leaves a fifth of each page free for the next versions.
"""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from engine import accounts, service
from engine.inputs import TransitionRequest
from tests.helpers import drive, new_item

pytestmark = pytest.mark.parametrize("db_url", ["postgres"], indirect=True)  # SQLite has no fillfactor

# Long enough that a page holds only a handful of items: the first one's page is full well before the last.
DESCRIPTION = "区属公办幼儿园学位缺口较大，部分街道适龄儿童入园难，" * 12
ITEMS = 24


def test_a_progress_report_updates_the_item_row_in_place_on_a_page_filled_by_later_items(client, world, rt):
    first = drive(client, world, rt, new_item(client, world, description=DESCRIPTION), "rectifying")
    for _ in range(ITEMS):
        new_item(client, world, description=DESCRIPTION)
    with rt.store.write() as conn:
        before = _updates(conn)
        service.fire(conn, rt, item_ref=first["id"], actor=accounts.authenticate(conn, world.tokens["asg_a"]),
                     request=TransitionRequest(trigger="report_progress", comment="本周完成 3 所幼儿园扩班"))
        updated, hot = (after - earlier for after, earlier in zip(_updates(conn), before))
    assert (updated, hot) == (1, 1), f"{hot} of {updated} updates of the item row were HOT"


def _updates(conn: sa.Connection) -> tuple[int, int]:
    """Rows of items this transaction updated so far, and how many of those in place (HOT)."""
    return conn.execute(sa.text("SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables "
                                "WHERE relname = 'items'")).one()

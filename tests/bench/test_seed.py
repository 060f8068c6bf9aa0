"""bench/seed.py makes what the engine makes: every creation record names its item's number (编号), numbers are
handed out by year in the order the items were made, after those already handed out, and the database check
holds every row to its chain, numbers included. Both stores; the items made by two worker processes."""
from __future__ import annotations

from collections import defaultdict

import orjson
import sqlalchemy as sa

from bench.seed import seed
from engine.audit.verify import verify_database
from engine.store import Store
from tests.conftest import START
from tests.db_roles import owner_url

FIRST, SECOND = 240, 60


def _numbered(url: str) -> tuple[list[tuple[str, str, str]], dict[int, int]]:
    """(number, created_at, number the creation record names) of every item, and number_sequences, once the
    database check has found nothing wrong."""
    store = Store(url)
    try:
        with store.read() as conn:
            rows = conn.execute(sa.text(
                "SELECT i.number, i.created_at, h.fields FROM items i JOIN history h ON h.item_id = i.id AND h.seq = 1"
            )).all()
            sequences = dict(conn.execute(sa.text("SELECT year, last FROM number_sequences")).all())
            findings = verify_database(conn).findings
    finally:
        store.dispose()
    assert findings == [], findings[:3]
    return [(r[0], str(r[1]), orjson.loads(r[2]).get("number")) for r in rows], sequences


def test_seeded_items_name_their_numbers_in_order_by_year(db_url):
    seed(owner_url(db_url), FIRST, now=START, batch=100, jobs=2)
    items, sequences = _numbered(db_url)
    assert len(items) == FIRST and all(number == named for number, _, named in items)
    by_year = defaultdict(list)
    for number, _created, _ in sorted(items, key=lambda i: i[1]):
        by_year[int(number.split("-")[1])].append(int(number.split("-")[2]))
    assert len(by_year) >= 2  # the two years before START cross a new year
    assert dict(by_year) == {year: list(range(1, len(seqs) + 1)) for year, seqs in by_year.items()}
    assert sequences == {year: len(seqs) for year, seqs in by_year.items()}

    seed(owner_url(db_url), SECOND, now=START, rng_seed=2, batch=100, jobs=1)  # more, after those numbers
    more, after = _numbered(db_url)
    assert len(more) == FIRST + SECOND == len({number for number, _, _ in more})
    added = defaultdict(int)
    for number, _, _ in more:
        added[int(number.split("-")[1])] += 1
    assert after == dict(added)
